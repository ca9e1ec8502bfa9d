package controllers

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/controllers/fallback"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
)

// TestCacheOptions: trimmed, every kind has its transform and everything else loses
// its managedFields, with the Events still restricted to Karpenter's
// insufficient-capacity ones; untrimmed, nothing is transformed; either way only the
// pods that have not finished are cached.
func TestCacheOptions(t *testing.T) {
	byType := func(m map[client.Object]cache.ByObject) map[string]cache.ByObject {
		out := map[string]cache.ByObject{}
		for k, v := range m {
			out[reflect.TypeOf(k).Elem().Name()] = v
		}
		return out
	}
	trimmed := CacheOptions(true)
	if trimmed.DefaultTransform == nil {
		t.Fatal("no default transform")
	}
	got := byType(trimmed.ByObject)
	for _, kind := range []string{"Pod", "Node", "ReplicaSet", "Deployment", "StatefulSet", "Job", "Namespace", "NodeClaim", "NodePool"} {
		if got[kind].Transform == nil {
			t.Errorf("no transform for %s", kind)
		}
	}
	events := got["Event"]
	if want := fallback.CacheOptions()[&corev1.Event{}]; events.Field == nil || events.Field.String() != "reason="+fallback.InsufficientCapacityReason {
		t.Errorf("the Events' field selector is %v, want %v", events.Field, want.Field)
	}
	unfinished := "status.phase!=" + string(corev1.PodSucceeded) + ",status.phase!=" + string(corev1.PodFailed)
	if pods := got["Pod"]; pods.Field == nil || pods.Field.String() != unfinished {
		t.Errorf("the Pods' field selector is %v, want %s", pods.Field, unfinished)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
	out, err := got["Pod"].Transform(pod.DeepCopy())
	if rec, ok := out.(*podstore.Pod); err != nil || !ok || rec.Spec.Containers[0].Image != "" || rec.ManagedFields != nil {
		t.Errorf("the pod transform does not make the trimmed record: %v, %v", out, err)
	}

	whole := CacheOptions(false)
	if whole.DefaultTransform != nil {
		t.Error("untrimmed, a default transform")
	}
	for k, o := range byType(whole.ByObject) {
		if o.Transform != nil {
			t.Errorf("untrimmed, a transform for %s", k)
		}
	}
	if pods := byType(whole.ByObject)["Pod"]; pods.Field == nil || pods.Field.String() != unfinished {
		t.Errorf("untrimmed, the Pods' field selector is %v, want %s", pods.Field, unfinished)
	}
}

// updates are the Update calls the code may make, by file and receiver: none writes an
// object read from the manager's (trimmed) cache. Every runtime controller writes
// through trim.Guard, which refuses such an update anyway; this list makes a new
// Update call a reviewed decision.
var updates = []string{
	// The placement ledger: a Lease read and written through the uncached API client.
	"controllers/distribution/ledger.go: l.api",
	// The decider record: a Lease in Ballast's namespace, read and written through the
	// uncached API client.
	"controllers/distribution/decider.go: d.API",
	// The webhook certificate's Secret and the webhook configuration: the direct client.
	"controllers/certs/certs.go: m.Client",
	// The guard itself, forwarding the updates it lets through.
	"controllers/internal/trim/guard.go: g.Client",
	"controllers/internal/trim/guard.go: g.SubResourceClient",
}

// TestNoUpdateOfCachedObjects reads every Go file of the controllers and the CLI
// (tests aside) and fails on an Update call that is not in updates.
func TestNoUpdateOfCachedObjects(t *testing.T) {
	var found []string
	root := mustAbs(t, "..")
	for _, dir := range []string{".", "../cmd"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			fset := token.NewFileSet()
			file, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, mustAbs(t, path))
			if err != nil {
				return err
			}
			ast.Inspect(file, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "Update" || len(call.Args) < 2 {
					return true
				}
				var recv bytes.Buffer
				_ = printer.Fprint(&recv, fset, sel.X)
				found = append(found, filepath.ToSlash(rel)+": "+recv.String())
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range found {
		if !slices.Contains(updates, f) {
			t.Errorf("%s calls Update: an object read from the trimmed cache must be written with a patch of the fields that change (trim.Guard refuses the update); if the object is not from the cache, add the call to updates", f)
		}
	}
	for _, u := range updates {
		if !slices.Contains(found, u) {
			t.Errorf("updates lists %s, which the code no longer has", u)
		}
	}
}

func mustAbs(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
