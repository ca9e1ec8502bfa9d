package fallback

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/controllers/internal/podstore"
)

func fbPod(name, node string, age time.Duration) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), CreationTimestamp: metav1.NewTime(t0.Add(-age))},
		Spec: corev1.PodSpec{NodeName: node}}
}

func names(pods []*podstore.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

// TestReturnOrder: replicas on nodes that cover no commitment return first, oldest
// first; a covering node that nothing else keeps busy keeps its newest fallback
// replica.
func TestReturnOrder(t *testing.T) {
	fallback := []corev1.Pod{fbPod("a1", "a", 4*time.Hour), fbPod("a2", "a", 3*time.Hour), fbPod("b1", "b", 2*time.Hour),
		fbPod("b2", "b", time.Hour), fbPod("pending", "", 5*time.Hour), fbPod("c1", "c", 6*time.Hour)}
	for _, tc := range []struct {
		name     string
		others   map[string]int
		covering map[string]bool
		order    []string
		kept     []string
	}{
		{name: "no commitment: oldest first", order: []string{"c1", "pending", "a1", "a2", "b1", "b2"}},
		{name: "a covers and nothing else keeps it busy: its newest replica stays, its others go last",
			covering: map[string]bool{"a": true}, order: []string{"c1", "pending", "b1", "b2", "a1"}, kept: []string{"a2"}},
		{name: "a covers and another pod keeps it busy: all its replicas go, last",
			covering: map[string]bool{"a": true}, others: map[string]int{"a": 1}, order: []string{"c1", "pending", "b1", "b2", "a1", "a2"}},
		{name: "two covering nodes keep one replica each",
			covering: map[string]bool{"a": true, "c": true}, order: []string{"pending", "b1", "b2", "a1"}, kept: []string{"c1", "a2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			order, kept := returnOrder(podstore.RecordsOf(fallback), tc.others, tc.covering)
			if !slices.Equal(names(order), tc.order) || !slices.Equal(names(kept), tc.kept) {
				t.Errorf("order %v kept %v, want %v and %v", names(order), names(kept), tc.order, tc.kept)
			}
		})
	}
}

// TestCoverPreference: the nodes that stay busy anyway cover first, then those with the
// most fallback replicas; empty nodes last.
func TestCoverPreference(t *testing.T) {
	node := func(name string) corev1.Node { return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}} }
	got := coverPreference([]corev1.Node{node("empty"), node("fb1"), node("fb2"), node("busy")},
		map[string]int{"busy": 2}, map[string]int{"fb1": 1, "fb2": 2, "busy": 1})
	if n := []string{got[0].Name, got[1].Name, got[2].Name, got[3].Name}; !slices.Equal(n, []string{"busy", "fb2", "fb1", "empty"}) {
		t.Errorf("order %v", n)
	}
}

// TestBusies: what keeps a node from being empty.
func TestBusies(t *testing.T) {
	p := fbPod("p", "n", 0)
	ds := p
	ds.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "d", Controller: ptr.To(true)}}
	mirror := p
	mirror.Annotations = map[string]string{mirrorAnnotation: "x"}
	done := p
	done.Status.Phase = corev1.PodSucceeded
	going := p
	going.DeletionTimestamp = &metav1.Time{Time: t0}
	unbound := fbPod("u", "", 0)
	if !busies(podstore.FromPod(&p)) {
		t.Error("a running pod keeps its node busy")
	}
	for _, q := range []corev1.Pod{ds, mirror, done, going, unbound} {
		if busies(podstore.FromPod(&q)) {
			t.Errorf("%+v keeps a node busy", q.ObjectMeta)
		}
	}
}
