package rendering_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/render"
	"github.com/ballast-dev/ballast/test/controlplane"
)

var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunTests(m, &env)) }

// policyTrees lists every policy tree the project ships: the examples and each golden
// case of the render package.
func policyTrees(t *testing.T) []string {
	t.Helper()
	root := controlplane.RepoRoot()
	trees := []string{filepath.Join(root, "examples", "policies")}
	cases, err := filepath.Glob(filepath.Join(root, "render", "testdata", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			trees = append(trees, c)
		}
	}
	if len(trees) < 2 {
		t.Fatalf("expected the examples and render golden cases, found %v", trees)
	}
	return trees
}

// TestRenderedObjectsAreAccepted creates (as a server-side dry run) every object
// rendered from every shipped policy tree, at a winter and a summer reference time, and
// checks the API server neither rejects nor silently prunes any field.
func TestRenderedObjectsAreAccepted(t *testing.T) {
	ctx := context.Background()
	for _, tree := range policyTrees(t) {
		repo, err := policies.Load(os.DirFS(tree), ".", tree)
		if err != nil {
			t.Fatal(err)
		}
		if findings := repo.Validate(); findings.HasErrors() {
			t.Fatalf("%s does not validate: %v", tree, findings)
		}
		for _, cluster := range repo.Clusters() {
			for _, now := range []time.Time{
				time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC),
				time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC),
			} {
				name := fmt.Sprintf("%s/%s/%s", filepath.Base(tree), cluster, now.Format("Jan"))
				t.Run(name, func(t *testing.T) {
					policy, rules, err := repo.ForCluster(cluster)
					if err != nil {
						t.Fatal(err)
					}
					objs, err := render.Render(render.Input{Policy: policy, Rules: rules, Source: "test", Now: now})
					if err != nil {
						t.Fatalf("render: %v", err)
					}
					if len(objs) < 3 {
						t.Fatalf("rendered only %d objects", len(objs))
					}
					for _, obj := range objs {
						checkAccepted(ctx, t, obj)
					}
				})
			}
		}
	}
}

func checkAccepted(ctx context.Context, t *testing.T, obj client.Object) {
	t.Helper()
	// Through the bytes `ballast render` prints and the controller applies (Karpenter's
	// durations marshal themselves; the unstructured converter would not honour that).
	data, err := render.Marshal([]client.Object{obj})
	if err != nil {
		t.Fatal(err)
	}
	var sent map[string]any
	if err := yaml.Unmarshal(data, &sent); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: sent}
	id := fmt.Sprintf("%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
	if ns := u.GetNamespace(); ns != "" {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	answer := u.DeepCopy()
	if err := env.Client.Create(ctx, answer, client.DryRunAll); err != nil {
		t.Errorf("the API server rejected %s: %v", id, err)
		return
	}
	for _, path := range missing(sent, answer.Object, "") {
		t.Errorf("the API server dropped or changed %s of %s: the CRD schema does not know it", path, id)
	}
}

// missing lists the paths of values in sent that got lost or changed in got; fields the
// server added (defaults, metadata) are fine.
func missing(sent, got any, path string) []string {
	switch s := sent.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path}
		}
		var out []string
		keys := make([]string, 0, len(s))
		for k := range s {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if path == "" && (k == "status" || k == "metadata") {
				continue
			}
			out = append(out, missing(s[k], g[k], strings.TrimPrefix(path+"."+k, "."))...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(s) {
			return []string{path}
		}
		var out []string
		for i := range s {
			out = append(out, missing(s[i], g[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	default:
		if !reflect.DeepEqual(normalize(sent), normalize(got)) {
			return []string{path}
		}
		return nil
	}
}

// normalize makes JSON numbers comparable whatever their Go type.
func normalize(v any) any {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case int:
		return float64(n)
	case int32:
		return float64(n)
	}
	return v
}
