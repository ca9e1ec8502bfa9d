package distribution

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// TestPodIndexFollowsEvents: the index counts what a list of the owner's pods would,
// through every kind of event: placed pods by their label, unplaced ones by their
// node's capacity type, terminating and finished pods not at all, deletions (also
// as tombstones) uncounted, reservations observed exactly while their pod is counted.
func TestPodIndexFollowsEvents(t *testing.T) {
	nodes := map[string]string{"spot-node": v1alpha1.CapacitySpot}
	x := newPodIndex(func(n string) string { return nodes[n] })
	pod := func(uid, owner, capacity, reservation string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), Labels: map[string]string{},
			Annotations:     map[string]string{},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs", UID: types.UID(owner), Controller: ptr.To(true)}}}}
		if capacity != "" {
			p.Labels[v1alpha1.CapacityLabel] = capacity
		}
		if reservation != "" {
			p.Annotations[ReservationAnnotation] = reservation
		}
		return p
	}
	w := &Workload{owners: map[types.UID]bool{"rs1": true, "rs2": true}}
	check := func(step string, want split.Counts) {
		t.Helper()
		if got := x.view(w).counts(); got != want {
			t.Fatalf("%s: counted %s, want %s", step, got, want)
		}
	}
	a, b, c := pod("a", "rs1", "spot", "r-a"), pod("b", "rs2", "on-demand", "r-b"), pod("c", "rs1", "", "")
	x.OnAdd(a, true)
	x.OnAdd(b, true)
	x.OnAdd(c, false)
	x.OnAdd(pod("other", "rs3", "spot", "r-o"), false)
	check("three pods of two ReplicaSets", split.Counts{OnDemand: 2, Spot: 1})
	if !x.view(w).seen("r-a") || x.view(w).seen("r-x") {
		t.Fatal("reservations observed wrongly")
	}
	if got, ok := x.view(w).class("other"); ok {
		t.Fatalf("another workload's pod was given a class %q", got)
	}

	bound := c.DeepCopy()
	bound.Spec.NodeName = "spot-node"
	x.OnUpdate(c, bound)
	check("the unplaced pod bound to a Spot node", split.Counts{OnDemand: 1, Spot: 2})
	x.OnUpdate(c, bound) // a resync changes nothing
	check("a resync", split.Counts{OnDemand: 1, Spot: 2})

	terminating := a.DeepCopy()
	terminating.DeletionTimestamp = &metav1.Time{}
	x.OnUpdate(a, terminating)
	check("a terminating pod", split.Counts{OnDemand: 1, Spot: 1})
	if x.view(w).seen("r-a") {
		t.Fatal("the reservation of a terminating pod is still observed")
	}
	done := b.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	x.OnUpdate(b, done)
	check("a finished pod", split.Counts{Spot: 1})
	x.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "ns/c", Obj: bound})
	x.OnDelete(terminating)
	x.OnDelete(done)
	check("all deleted", split.Counts{})
	if len(x.pods) != 1 || len(x.owners) != 1 || len(x.reservations) != 1 {
		t.Fatalf("the index keeps what was deleted: %d pods, %d owners, %d reservations", len(x.pods), len(x.owners), len(x.reservations))
	}
}
