package source

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// TestSteeringIsRenderedFromTheLiveStatus: the Spot NodePool a PolicySource applies
// carries the interruption controller's steering (the live ClusterPolicy's
// status.interruptions), so that neither writer undoes the other: a sync over a
// steered pool writes nothing, and a new revision keeps the steering.
func TestSteeringIsRenderedFromTheLiveStatus(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	git.set(f.url, "main@sha1:1111", policyFiles(f.cluster, f.ns, 20, true))
	f.create(nil)
	f.waitApplied("main@sha1:1111")

	// What the interruption controller writes (it owns status.interruptions).
	data, err := json.Marshal(map[string]any{"status": map[string]any{"interruptions": map[string]any{
		"excludedInstanceTypes": []string{"m5.large"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := kube.Status().Patch(ctx, &v1alpha1.ClusterPolicy{ObjectMeta: metav1.ObjectMeta{Name: f.cluster}}, client.RawPatch(types.MergePatchType, data)); err != nil {
		t.Fatal(err)
	}
	excluded := func(u *unstructured.Unstructured) []string {
		v := u.GetAnnotations()[render.SteeringAnnotation]
		var s struct {
			Excluded []string `json:"excluded"`
		}
		_ = json.Unmarshal([]byte(v), &s)
		return s.Excluded
	}

	git.set(f.url, "main@sha1:2222", policyFiles(f.cluster, f.ns, 30, true))
	f.requestReconcile()
	f.waitApplied("main@sha1:2222")
	pool := f.spotPool()
	if got := excluded(pool); !slices.Equal(got, []string{"m5.large"}) {
		t.Fatalf("the applied Spot NodePool is steered by %v, want the live status's m5.large", got)
	}
	reqs, _, _ := unstructured.NestedSlice(pool.Object, "spec", "template", "spec", "requirements")
	last, _ := reqs[len(reqs)-1].(map[string]any)
	if last["operator"] != "NotIn" || last["key"] != "node.kubernetes.io/instance-type" {
		t.Errorf("the last requirement is %v, want the exclusion", last)
	}

	// The next sync of the same revision writes nothing.
	rv := pool.GetResourceVersion()
	token := f.requestReconcile()
	f.eventually("sync again", func() (bool, string) {
		return f.get().Status.LastHandledReconcileAt == token, "not yet"
	})
	if got := f.spotPool().GetResourceVersion(); got != rv {
		t.Errorf("a sync over the steered pool rewrote it (resourceVersion %s -> %s)", rv, got)
	}
}
