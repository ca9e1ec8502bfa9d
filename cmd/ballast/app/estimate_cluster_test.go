package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/test/controlplane"
)

// TestEstimateFromCluster runs ballast estimate --kubeconfig --context against a real
// API server holding the nodes and pods of examples/estimate/prod-eu-snapshot.yaml:
// read page by page, the cluster gives exactly the estimate its snapshot gives, as
// kubectl would print it in YAML and in JSON, as it runs and under the policy.
func TestEstimateFromCluster(t *testing.T) {
	env, err := controlplane.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	ctx := context.Background()
	c := env.Client
	createSnapshotObjects(ctx, t, c, examples(t, "estimate/prod-eu-snapshot.yaml"))
	kubeconfig := writeKubeconfig(t, env)

	// The snapshot kubectl get nodes,pods,replicasets -A would print now.
	var nodes corev1.NodeList
	var pods corev1.PodList
	var sets appsv1.ReplicaSetList
	for _, l := range []client.ObjectList{&nodes, &pods, &sets} {
		if err := c.List(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if len(nodes.Items) != 6 || len(pods.Items) != 37 {
		t.Fatalf("%d nodes, %d pods in the cluster", len(nodes.Items), len(pods.Items))
	}
	var items []any
	for i := range nodes.Items {
		nodes.Items[i].APIVersion, nodes.Items[i].Kind = "v1", "Node"
		items = append(items, nodes.Items[i])
	}
	for i := range pods.Items {
		pods.Items[i].APIVersion, pods.Items[i].Kind = "v1", "Pod"
		items = append(items, pods.Items[i])
	}
	list := map[string]any{"apiVersion": "v1", "kind": "List", "metadata": map[string]any{"resourceVersion": ""}, "items": items}
	dir := t.TempDir()
	snapshots := map[string]string{"yaml": filepath.Join(dir, "snapshot.yaml"), "json": filepath.Join(dir, "snapshot.json")}
	asJSON, err := json.MarshalIndent(list, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	asYAML, err := yaml.JSONToYAML(asJSON)
	if err != nil {
		t.Fatal(err)
	}
	for format, data := range map[string][]byte{"yaml": asYAML, "json": asJSON} {
		if err := os.WriteFile(snapshots[format], data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	defer func(n int64) { clusterPageSize = n }(clusterPageSize)
	clusterPageSize = 5 // 37 pods in 8 pages
	policies := examples(t, "policies")
	for _, mode := range [][]string{{"--as-is"}, nil} {
		fromCluster := estimateJSON(t, append([]string{policies, "--cluster", "prod-eu", "--date", "2026-07-01",
			"--kubeconfig", kubeconfig, "--context", "env"}, mode...)...)
		if fromCluster.Nodes == 0 || fromCluster.Replicas == 0 || fromCluster.MonthlyCost == 0 {
			t.Fatalf("%v: an empty estimate: %+v", mode, fromCluster)
		}
		sums(t, fromCluster)
		for format, file := range snapshots {
			fromSnapshot := estimateJSON(t, append([]string{policies, "--cluster", "prod-eu", "--date", "2026-07-01",
				"--snapshot", file}, mode...)...)
			if !reflect.DeepEqual(fromCluster, fromSnapshot) {
				t.Errorf("%v: the cluster gives\n%+v\nits %s snapshot\n%+v", mode, fromCluster, format, fromSnapshot)
			}
		}
	}

	t.Run("KUBECONFIG and --context", func(t *testing.T) {
		t.Setenv("KUBECONFIG", kubeconfig)
		r := estimateJSON(t, policies, "--cluster", "prod-eu", "--date", "2026-07-01", "--context", "env", "--as-is")
		if r.Nodes != 6 {
			t.Errorf("%d nodes", r.Nodes)
		}
	})
	t.Run("unknown context", func(t *testing.T) {
		code, _, errOut := run("estimate", policies, "--cluster", "prod-eu", "--kubeconfig", kubeconfig, "--context", "elsewhere")
		if code == ExitOK || !containsAll(errOut, "failed to load the kubeconfig", `"elsewhere"`) {
			t.Errorf("exit %d: %s", code, errOut)
		}
	})
	t.Run("two descriptions", func(t *testing.T) {
		code, _, errOut := run("estimate", policies, "--cluster", "prod-eu", "--kubeconfig", kubeconfig, "--snapshot", snapshots["yaml"])
		if code != ExitError || !containsAll(errOut, "describe the cluster with one of") {
			t.Errorf("exit %d: %s", code, errOut)
		}
	})
	t.Run("pages", func(t *testing.T) {
		rec := &pageRecorder{Reader: c}
		var got []string
		var page corev1.PodList
		if err := listPages(ctx, rec, &page, "pods", "test", estimateNeeds, func() {
			for _, p := range page.Items {
				got = append(got, p.Namespace+"/"+p.Name)
			}
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 37 || len(rec.limits) != 8 {
			t.Errorf("%d pods in %d requests", len(got), len(rec.limits))
		}
		for i, l := range rec.limits {
			if l != 5 || (i == 0) != (rec.continues[i] == "") {
				t.Errorf("request %d: limit %d, continue %q", i, l, rec.continues[i])
			}
		}
		want := make([]string, len(pods.Items))
		for i, p := range pods.Items {
			want[i] = p.Namespace + "/" + p.Name
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("pages gave %v, want %v", got, want)
		}
	})
}

// pageRecorder records the limit and continue token of each List.
type pageRecorder struct {
	client.Reader
	limits    []int64
	continues []string
}

func (r *pageRecorder) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := (&client.ListOptions{}).ApplyOptions(opts)
	r.limits, r.continues = append(r.limits, o.Limit), append(r.continues, o.Continue)
	return r.Reader.List(ctx, list, opts...)
}

// createSnapshotObjects creates the objects of a snapshot file in the API server, the
// status of each too, and the namespaces and default ServiceAccounts pods need.
func createSnapshotObjects(ctx context.Context, t *testing.T, c client.Client, file string) {
	t.Helper()
	data, err := os.ReadFile(file) //nolint:gosec // a test file
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := utilyaml.Unmarshal(data, &list); err != nil {
		t.Fatal(err)
	}
	namespaces := map[string]bool{}
	for _, item := range list.Items {
		u := &unstructured.Unstructured{Object: item}
		if ns := u.GetNamespace(); ns != "" && !namespaces[ns] {
			namespaces[ns] = true
			if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			if err := c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
		status := item["status"]
		if err := c.Create(ctx, u); err != nil {
			t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
		}
		if status != nil {
			u.Object["status"] = status
			if err := c.Status().Update(ctx, u); err != nil {
				t.Fatalf("status of %s %s: %v", u.GetKind(), u.GetName(), err)
			}
		}
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
