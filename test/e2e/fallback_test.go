package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/controllers/distribution"
	"github.com/ballast-dev/ballast/controllers/fallback"
	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	splitmodel "github.com/ballast-dev/ballast/split"
)

// evictionCap is the e2e ClusterPolicy's binPacking.podEviction.maxEvictionsPerPass.
const evictionCap = 3

// fallbackStatus reads the ClusterPolicy's fallback status.
func fallbackStatus(ctx context.Context) (*v1alpha1.FallbackStatus, error) {
	var p v1alpha1.ClusterPolicy
	if err := kube.Client.Get(ctx, client.ObjectKey{Name: e2eCluster}, &p); err != nil {
		return nil, err
	}
	if p.Status.Fallback == nil {
		return &v1alpha1.FallbackStatus{State: v1alpha1.FallbackAvailable}, nil
	}
	return p.Status.Fallback, nil
}

// spotOutage makes Spot unavailable in the pools given (everywhere when none) until the
// returned function (also run at cleanup) makes it available again.
func spotOutage(t testing.TB, pools ...localcluster.Pool) (restore func()) {
	t.Helper()
	if len(pools) == 0 {
		pools = []localcluster.Pool{{CapacityType: karpv1.CapacityTypeSpot}}
	}
	if err := kube.SetUnavailable(pools...); err != nil {
		t.Fatal(err)
	}
	restore = func() {
		if err := kube.SetUnavailable(); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(restore)
	return restore
}

// setFallbackAfter sets the policy's spec.spot.fallback.after for the test, and puts
// the suite's back when it ends.
func setFallbackAfter(t testing.TB, after v1alpha1.Duration) {
	t.Helper()
	set := func(d v1alpha1.Duration) error {
		policy := &v1alpha1.ClusterPolicy{ObjectMeta: metav1.ObjectMeta{Name: e2eCluster}}
		return kube.Client.Patch(context.Background(), policy, client.RawPatch(types.MergePatchType,
			fmt.Appendf(nil, `{"spec":{"spot":{"fallback":{"after":%q}}}}`, d)))
	}
	if err := set(after); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := set(fallbackAfter); err != nil {
			t.Error(err)
		}
	})
}

// leaveSpotAvailable makes sure, when the test ends however it ends, that Spot is
// available, the namespace is gone and nothing is on fallback, so that the next test
// starts from a cluster with Spot.
func leaveSpotAvailable(t testing.TB, ns string) {
	t.Helper()
	t.Cleanup(func() {
		_ = kube.SetUnavailable()
		_ = kube.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		waitAvailable(t)
	})
}

// waitAvailable waits until nothing is on fallback (at the end of a test, so that the
// next test starts from a cluster with Spot).
func waitAvailable(t testing.TB) {
	t.Helper()
	err := kube.Eventually(context.Background(), "Spot to be available again", 3*time.Minute, func(ctx context.Context) (bool, string, error) {
		st, err := fallbackStatus(ctx)
		if err != nil {
			return false, "", err
		}
		return st.State == v1alpha1.FallbackAvailable, fmt.Sprintf("%s: %s", st.State, st.Message), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// reasons counts the pods of an app by placement reason and the capacity type of their
// node ("pending" when they have none); errors are counted under "error".
func reasons(_ context.Context, _ testing.TB, ns, app string) map[string]int {
	// Not the polling context: its deadline would hide the last observation.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[string]int{}
	var pods corev1.PodList
	if err := kube.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
		out["error"]++
		return out
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		where := "pending"
		if p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning {
			var node corev1.Node
			if err := kube.Client.Get(ctx, client.ObjectKey{Name: p.Spec.NodeName}, &node); err != nil {
				out["error"]++
				continue
			}
			where = node.Labels[karpv1.CapacityTypeLabelKey]
		}
		out[p.Annotations[distribution.ReasonAnnotation]+"@"+where]++
	}
	return out
}

// policyEvents returns the ClusterPolicy's events with the reason.
func policyEvents(ctx context.Context, t testing.TB, reason string) []corev1.Event {
	t.Helper()
	var list corev1.EventList
	if err := kube.Client.List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	var out []corev1.Event
	for _, e := range list.Items {
		if e.Reason == reason && e.InvolvedObject.Kind == "ClusterPolicy" {
			out = append(out, e)
		}
	}
	return out
}

// TestFallbackAndReturn: a Deployment at base 2 / 30% runs 5/5; Spot becomes
// unavailable and it scales to 20: every replica runs, the Spot-meant ones On-Demand
// with reason fallback, the ones that waited on Spot replaced; a StatefulSet's Spot
// ordinals fall back under their own names. Spot comes back: after the reverse interval
// the splits are exact on Spot nodes again, a few replicas per pass through the
// Eviction API (a PodDisruptionBudget refuses some), and Karpenter removes the emptied
// On-Demand nodes.
func TestFallbackAndReturn(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	leaveSpotAvailable(t, ns)
	optIn(t, ns)
	// LeastInterrupted: one Spot replica per node, so every new Spot replica needs a
	// new Spot node (none fits into spare room left by other tests).
	createRule(t, ns, 2, 30, v1alpha1.LeastInterrupted)
	if err := kube.Client.Create(ctx, deployment(ns, "web", 10, "250m", nil)); err != nil {
		t.Fatal(err)
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
	if err := kube.Client.Create(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	waitSplit(t, ns, "web", splitmodel.Counts{OnDemand: 5, Spot: 5}, 3*time.Minute)
	// base 2, 30%: ordinals 0 and 1 base, then 2 (OD), 3, 4 (Spot), 5 (OD), 6 (Spot)...
	db := statefulSet(ns, "db", 3)
	// Too big for the room the web replicas leave on their Spot nodes: a new Spot
	// replica of db needs a new node.
	db.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1")
	if err := kube.Client.Create(ctx, db); err != nil {
		t.Fatal(err)
	}
	waitSplit(t, ns, "db", splitmodel.Counts{OnDemand: 3}, 3*time.Minute)

	waitSpotNodesOnlyFor(t, ns)
	restore := spotOutage(t)
	scale(t, ns, "web", 20)
	scaleStatefulSet(t, ns, "db", 5) // db-3 and db-4 are Spot ordinals
	// 20 replicas: 2 + ceil(18 * 0.3) = 8 On-Demand, 12 meant for Spot: 5 already on
	// Spot, 7 new ones that need new Spot nodes (one Spot replica per node), so they
	// fall back.
	var fellBack int
	err := kube.Eventually(ctx, "every replica Running, the Spot-meant ones on fallback", 3*time.Minute, func(ctx context.Context) (bool, string, error) {
		got := reasons(ctx, t, ns, "web")
		db := reasons(ctx, t, ns, "db")
		fellBack = got["fallback@on-demand"] + db["fallback@on-demand"]
		ok := got["fallback@on-demand"]+got["split@spot"] == 12 && got["fallback@on-demand"] >= 7 &&
			got["base@on-demand"]+got["split@on-demand"] == 8 &&
			db["fallback@on-demand"]+db["split@spot"] == 2 && db["split@on-demand"]+db["base@on-demand"] == 3
		return ok, fmt.Sprintf("web %v, db %v", got, db), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := fallbackStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != v1alpha1.FallbackFallenBack || int(st.Replicas) != fellBack {
		t.Fatalf("status %s with %d replicas on fallback, want FallenBack with %d: %s", st.State, st.Replicas, fellBack, st.Message)
	}
	var events corev1.EventList
	if err := kube.Client.List(ctx, &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	replaced := 0
	for _, e := range events.Items {
		if e.Reason == fallback.ReplacedReason {
			replaced++
		}
	}
	if replaced == 0 {
		t.Error("no Pending Spot replica was replaced")
	}
	// The StatefulSet's Spot ordinals run under their own names, on Spot where a Spot
	// node had room, else on fallback.
	for _, ord := range []string{"db-3", "db-4"} {
		var p corev1.Pod
		if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ord}, &p); err != nil {
			t.Fatal(err)
		}
		if r := p.Annotations[distribution.ReasonAnnotation]; r != "fallback" && p.Labels[v1alpha1.CapacityLabel] != v1alpha1.CapacitySpot {
			t.Errorf("%s is neither on Spot nor on fallback: %v", ord, p.Annotations)
		}
	}

	restore()
	waitSplit(t, ns, "web", splitmodel.Counts{OnDemand: 8, Spot: 12}, 4*time.Minute)
	waitSplit(t, ns, "db", splitmodel.Counts{OnDemand: 3, Spot: 2}, 2*time.Minute)
	waitAvailable(t)
	if got := reasons(ctx, t, ns, "web"); got["fallback@on-demand"] != 0 {
		t.Errorf("replicas still on fallback: %v", got)
	}
	for _, e := range policyEvents(ctx, t, fallback.ReturnBatchReason) {
		var moved, cap int
		if _, err := fmt.Sscanf(e.Message, "moved %d of", &moved); err != nil {
			t.Fatalf("unreadable return event %q", e.Message)
		}
		if i := strings.Index(e.Message, "at most "); i >= 0 {
			_, _ = fmt.Sscanf(e.Message[i:], "at most %d", &cap)
		}
		if moved > evictionCap || cap != evictionCap {
			t.Errorf("a return pass moved %d replicas (cap %d): %s", moved, cap, e.Message)
		}
	}
	blocked := 0
	if err := kube.Client.List(ctx, &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		if e.Reason == fallback.ReturnBlockedReason {
			blocked++
		}
	}
	if blocked == 0 {
		t.Error("the PodDisruptionBudget (maxUnavailable 1) never held a fallback replica back, so the return did not go through it")
	}
	// Karpenter removes the On-Demand nodes the fallback replicas left.
	err = kube.Eventually(ctx, "no empty On-Demand node left", 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		empty, err := emptyNodes(ctx, "ballast-e2e-on-demand")
		return len(empty) == 0, fmt.Sprintf("empty: %v", empty), err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitSpotNodesOnlyFor waits until every Spot node runs pods of namespace ns: the
// nodes earlier tests used are drained (their namespaces deleted) and removed by
// Karpenter, so that a new Spot replica of this test finds no spare room on them and
// needs a new Spot node.
func waitSpotNodesOnlyFor(t testing.TB, ns string) {
	t.Helper()
	err := kube.Eventually(context.Background(), "no Spot node without a pod of "+ns, 4*time.Minute, func(ctx context.Context) (bool, string, error) {
		var nodes corev1.NodeList
		if err := kube.Client.List(ctx, &nodes, client.MatchingLabels{karpv1.NodePoolLabelKey: "ballast-e2e-spot"}); err != nil {
			return false, "", err
		}
		var pods corev1.PodList
		if err := kube.Client.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			return false, "", err
		}
		ours := map[string]bool{}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Spec.NodeName != "" {
				ours[p.Spec.NodeName] = true
			}
		}
		var others []string
		for _, n := range nodes.Items {
			if !ours[n.Name] && n.DeletionTimestamp.IsZero() {
				others = append(others, n.Name)
			}
		}
		return len(others) == 0, fmt.Sprintf("Spot nodes without a pod of %s: %v", ns, others), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// emptyNodes returns the nodes of the pool that run no pod but DaemonSet pods.
func emptyNodes(ctx context.Context, pool string) ([]string, error) {
	var nodes corev1.NodeList
	if err := kube.Client.List(ctx, &nodes, client.MatchingLabels{karpv1.NodePoolLabelKey: pool}); err != nil {
		return nil, err
	}
	var pods corev1.PodList
	if err := kube.Client.List(ctx, &pods); err != nil {
		return nil, err
	}
	busy := map[string]bool{}
	for _, p := range pods.Items {
		if owner := metav1.GetControllerOf(&p); owner != nil && owner.Kind == "DaemonSet" {
			continue
		}
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			busy[p.Spec.NodeName] = true
		}
	}
	var out []string
	for _, n := range nodes.Items {
		if !busy[n.Name] && n.DeletionTimestamp.IsZero() {
			out = append(out, n.Name)
		}
	}
	return out, nil
}

// TestFallbackIgnoresOneZoneShortage: Spot short in one zone only is Karpenter's to
// route around; nothing falls back, and every replica runs on Spot elsewhere.
func TestFallbackIgnoresOneZoneShortage(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	leaveSpotAvailable(t, ns)
	optIn(t, ns)
	createRule(t, ns, 0, 0, v1alpha1.LeastInterrupted)
	// Karpenter routes around the short zone by itself, but only after failing there
	// once per offering it tries; on a busy machine that took longer than the suite's
	// 10 s fallback.after, and the cluster rightly fell back. Give it the time a real
	// policy gives it (3m by default) in proportion: 30 s.
	setFallbackAfter(t, "30s")
	spotOutage(t, localcluster.Pool{CapacityType: karpv1.CapacityTypeSpot, Zone: "test-zone-a"})
	// Larger than the nodes earlier tests may have left, so that they need new nodes.
	d := deployment(ns, "zonal", 6, "1500m", nil)
	// Prefer the short zone: Karpenter tries it first (a preference is a requirement
	// until it cannot be met), its launch fails there, and it relaxes the preference.
	d.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 100, Preference: corev1.NodeSelectorTerm{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"test-zone-a"}}},
		}}},
	}}
	if err := kube.Client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	waitSplit(t, ns, "zonal", splitmodel.Counts{Spot: 6}, 3*time.Minute)
	// Karpenter did try the short zone (its launch failed there) and went elsewhere.
	var events corev1.EventList
	if err := kube.Client.List(ctx, &events); err != nil {
		t.Fatal(err)
	}
	tried := false
	for _, e := range events.Items {
		if e.Reason == fallback.InsufficientCapacityReason && strings.HasPrefix(e.InvolvedObject.Name, "ballast-e2e-spot-") && !e.LastTimestamp.Time.Before(started.Truncate(time.Second)) {
			tried = true
		}
	}
	if !tried {
		t.Error("no Spot launch failed in the short zone, so the test shows nothing")
	}
	// Stay a while past fallback.after: still nothing on fallback.
	time.Sleep(35 * time.Second)
	st, err := fallbackStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State == v1alpha1.FallbackFallenBack || st.State == v1alpha1.FallbackReturning || st.Replicas != 0 {
		t.Fatalf("a one-zone shortage made the cluster fall back: %s, %d replicas: %s", st.State, st.Replicas, st.Message)
	}
	if got := reasons(ctx, t, ns, "zonal"); got["fallback@on-demand"] != 0 {
		t.Fatalf("replicas on fallback: %v", got)
	}
}

// TestFallbackFlappingBacksOff: Spot comes back and goes away again during the return:
// the cluster falls back at once, the next attempt waits twice the interval (visible in
// status), and no more replicas are moved meanwhile.
func TestFallbackFlappingBacksOff(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	leaveSpotAvailable(t, ns)
	optIn(t, ns)
	createRule(t, ns, 0, 0, v1alpha1.LeastInterrupted) // a new Spot node per Spot replica
	if err := kube.Client.Create(ctx, deployment(ns, "flap", 1, "250m", nil)); err != nil {
		t.Fatal(err)
	}
	waitSplit(t, ns, "flap", splitmodel.Counts{Spot: 1}, 3*time.Minute)
	waitSpotNodesOnlyFor(t, ns)
	restore := spotOutage(t)
	scale(t, ns, "flap", 7)
	err := kube.Eventually(ctx, "six replicas on fallback", 3*time.Minute, func(ctx context.Context) (bool, string, error) {
		got := reasons(ctx, t, ns, "flap")
		st, _ := fallbackStatus(ctx)
		return got["fallback@on-demand"] == 6 && got["split@spot"] == 1, fmt.Sprintf("%v, %+v", got, st), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	restore()
	err = kube.Eventually(ctx, "the return to start", 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		st, err := fallbackStatus(ctx)
		if err != nil {
			return false, "", err
		}
		return st.State == v1alpha1.FallbackReturning, string(st.State), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	spotOutage(t) // Spot goes away again while the first replicas return
	err = kube.Eventually(ctx, "the return to fail and back off", 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		st, err := fallbackStatus(ctx)
		if err != nil {
			return false, "", err
		}
		return st.State == v1alpha1.FallbackFallenBack && st.FailedReturns >= 1, fmt.Sprintf("%s, %d failed: %s", st.State, st.FailedReturns, st.Message), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := fallbackStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	interval, _ := reverseInterval.Parse()
	if wait := st.NextReturnAttempt.Sub(st.FallenBackSince.Time); wait < 2*interval-time.Second {
		t.Errorf("the next return waits %s, want twice the interval (%s)", wait, 2*interval)
	}
	moved := len(policyEvents(ctx, t, fallback.ReturnBatchReason))
	// While backing off (twice the interval), nothing else moves, and every replica runs.
	time.Sleep(interval / 2)
	if again := len(policyEvents(ctx, t, fallback.ReturnBatchReason)); again != moved {
		t.Errorf("%d more return passes while backing off", again-moved)
	}
	err = kube.Eventually(ctx, "every replica Running On-Demand", 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		got := reasons(ctx, t, ns, "flap")
		return got["fallback@on-demand"]+got["split@spot"] == 7 && got["split@spot"] <= 1, fmt.Sprint(got), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Leave a cluster with Spot: the namespace goes, nothing is on fallback any more.
	_ = kube.SetUnavailable()
	if err := kube.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t)
}
