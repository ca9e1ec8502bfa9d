package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/controllers/distribution"
	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	splitmodel "github.com/ballast-dev/ballast/split"
)

// optIn labels a test namespace so that Ballast distributes its workloads.
func optIn(t testing.TB, ns string) {
	t.Helper()
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"metadata":{"labels":{%q:%q}}}`, v1alpha1.DistributionLabel, v1alpha1.DistributionEnabled))
	if err := kube.Client.Patch(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, patch); err != nil {
		t.Fatal(err)
	}
}

// restartBallast stops the controller (an outage: the API server calls a webhook that
// is not there and admits pods unplaced) until the returned function starts it again.
func stopBallast(t testing.TB) (restart func()) {
	t.Helper()
	ballast.Stop()
	restarted := false
	restart = func() {
		if restarted {
			return
		}
		restarted = true
		if err := ballast.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(restart)
	return restart
}

// split counts a workload's running pods by the capacity type of the node each runs
// on, and fails the test when a pod's ballast.dev/capacity label disagrees with its node.
func split(ctx context.Context, t testing.TB, ns, app string) (splitmodel.Counts, []corev1.Pod) {
	t.Helper()
	pods, err := kube.RunningPods(ctx, ns, appSelector(app))
	if err != nil {
		t.Fatal(err)
	}
	var c splitmodel.Counts
	for i := range pods {
		node, err := kube.NodeOf(ctx, &pods[i])
		if err != nil {
			t.Fatal(err)
		}
		ct := node.Labels[karpv1.CapacityTypeLabelKey]
		if label := pods[i].Labels[v1alpha1.CapacityLabel]; label != "" && label != ct {
			t.Fatalf("pod %s is labelled %s but runs on a %s node", pods[i].Name, label, ct)
		}
		if ct == karpv1.CapacityTypeSpot {
			c.Spot++
		} else {
			c.OnDemand++
		}
	}
	return c, pods
}

// waitSplit waits until the workload has exactly want running replicas per class and
// no other pods.
func waitSplit(t testing.TB, ns, app string, want splitmodel.Counts, timeout time.Duration) []corev1.Pod {
	t.Helper()
	ctx := context.Background()
	var pods []corev1.Pod
	err := kube.Eventually(ctx, fmt.Sprintf("%s to run %s", app, want), timeout, func(ctx context.Context) (bool, string, error) {
		var all corev1.PodList
		if err := kube.Client.List(ctx, &all, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
			return false, "", err
		}
		var got splitmodel.Counts
		got, pods = split(ctx, t, ns, app)
		if got == want && int32(len(all.Items)) == want.Total() {
			return true, "", nil
		}
		// Why each pod is where it is (reason@capacity type), for a failure's message.
		return false, fmt.Sprintf("%s, %d pods in all: %v", got, len(all.Items), reasons(ctx, t, ns, app)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pods
}

func createRule(t testing.TB, ns string, base, percent int32, strategy v1alpha1.Strategy) {
	t.Helper()
	rule := &v1alpha1.WorkloadDistributionRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "split"},
		Spec: v1alpha1.WorkloadDistributionRuleSpec{
			Strategy: strategy,
			DistributionSpec: v1alpha1.DistributionSpec{
				BaseOnDemand: ptr.To(base), OnDemandPercent: ptr.To(percent), Selector: v1alpha1.All,
			},
		},
	}
	if err := kube.Client.Create(context.Background(), rule); err != nil {
		t.Fatal(err)
	}
}

func scale(t testing.TB, ns, name string, replicas int32) {
	t.Helper()
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas))
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := kube.Client.Patch(context.Background(), d, patch); err != nil {
		t.Fatal(err)
	}
}

// TestDistributionExactSplit: base 2, 30% -> 10 replicas run 5 On-Demand / 5 Spot on
// nodes of those capacity types; scaled to 4 -> 3/1; to 20 -> 8/12.
func TestDistributionExactSplit(t *testing.T) {
	ns := newNamespace(t)
	optIn(t, ns)
	createRule(t, ns, 2, 30, v1alpha1.CostOptimized)
	if err := kube.Client.Create(context.Background(), deployment(ns, "web", 10, "250m", nil)); err != nil {
		t.Fatal(err)
	}
	waitSplit(t, ns, "web", splitmodel.Counts{OnDemand: 5, Spot: 5}, 3*time.Minute)
	scale(t, ns, "web", 4)
	waitSplit(t, ns, "web", splitmodel.Counts{OnDemand: 3, Spot: 1}, 3*time.Minute)
	scale(t, ns, "web", 20)
	waitSplit(t, ns, "web", splitmodel.Counts{OnDemand: 8, Spot: 12}, 3*time.Minute)
}

func statefulSet(ns, name string, replicas int32) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					Containers: []corev1.Container{{
						Name: "db", Image: "registry.example/db:1",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}},
					}},
				},
			},
		},
	}
}

// TestDistributionStatefulSetOrdinals: a StatefulSet's ordinals keep their classes
// across restarts; web-0 is On-Demand with baseOnDemand 1.
func TestDistributionStatefulSetOrdinals(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	optIn(t, ns)
	createRule(t, ns, 1, 50, v1alpha1.CostOptimized)
	if err := kube.Client.Create(ctx, statefulSet(ns, "db", 5)); err != nil {
		t.Fatal(err)
	}
	// base 1 + ceil(4 * 0.5) = 3 On-Demand; ordinals 0 (base), 1, 3 On-Demand; 2, 4 Spot.
	want := map[string]string{"db-0": "on-demand", "db-1": "on-demand", "db-2": "spot", "db-3": "on-demand", "db-4": "spot"}
	check := func() {
		pods := waitSplit(t, ns, "db", splitmodel.Counts{OnDemand: 3, Spot: 2}, 3*time.Minute)
		for _, p := range pods {
			node, err := kube.NodeOf(ctx, &p)
			if err != nil {
				t.Fatal(err)
			}
			if got := node.Labels[karpv1.CapacityTypeLabelKey]; got != want[p.Name] {
				t.Errorf("%s runs on %s, want %s", p.Name, got, want[p.Name])
			}
		}
	}
	check()
	// Restart every pod: each comes back in its ordinal's class.
	if err := kube.Client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), client.MatchingLabels{"app": "db"}); err != nil {
		t.Fatal(err)
	}
	check()
}

// TestDistributionConvergesAfterOutage: while the controller is down a Deployment
// scales up and its new pods land wherever (On-Demand, since Spot nodes are tainted);
// once it is back, it evicts the surplus and the split is exact again, and every
// eviction is an event `kubectl get events` shows.
func TestDistributionConvergesAfterOutage(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	optIn(t, ns)
	createRule(t, ns, 1, 0, v1alpha1.CostOptimized)
	if err := kube.Client.Create(ctx, deployment(ns, "api", 2, "250m", nil)); err != nil {
		t.Fatal(err)
	}
	waitSplit(t, ns, "api", splitmodel.Counts{OnDemand: 1, Spot: 1}, 3*time.Minute)
	restart := stopBallast(t)
	scale(t, ns, "api", 6)
	// Unplaced pods cannot tolerate the Spot taint: they all run On-Demand.
	waitSplit(t, ns, "api", splitmodel.Counts{OnDemand: 5, Spot: 1}, 3*time.Minute)
	restart()
	waitSplit(t, ns, "api", splitmodel.Counts{OnDemand: 1, Spot: 5}, 4*time.Minute)
	// Every eviction is recorded as an event on the Deployment (related to the pod).
	err := kube.Eventually(ctx, "an event for each of the 4 evictions", time.Minute, func(ctx context.Context) (bool, string, error) {
		var events corev1.EventList
		if err := kube.Client.List(ctx, &events, client.InNamespace(ns)); err != nil {
			return false, "", err
		}
		evictions := 0
		for _, e := range events.Items {
			if e.Reason == distribution.EvictedReason && e.InvolvedObject.Kind == "Deployment" {
				evictions += int(max(e.Count, 1))
			}
		}
		return evictions >= 4, fmt.Sprintf("%d eviction events", evictions), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDistributionStrategies: LeastInterrupted runs one Spot replica per node;
// CostOptimized packs Spot replicas onto fewer nodes than replicas.
func TestDistributionStrategies(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		strategy v1alpha1.Strategy
		check    func(t *testing.T, spotNodes map[string]int)
	}{
		{v1alpha1.LeastInterrupted, func(t *testing.T, spotNodes map[string]int) {
			for node, n := range spotNodes {
				if n != 1 {
					t.Errorf("LeastInterrupted put %d Spot replicas on %s", n, node)
				}
			}
		}},
		{v1alpha1.CostOptimized, func(t *testing.T, spotNodes map[string]int) {
			if len(spotNodes) >= 4 {
				t.Errorf("CostOptimized spread 4 Spot replicas over %d nodes", len(spotNodes))
			}
		}},
	} {
		t.Run(string(tc.strategy), func(t *testing.T) {
			ns := newNamespace(t)
			optIn(t, ns)
			createRule(t, ns, 0, 0, tc.strategy)
			if err := kube.Client.Create(ctx, deployment(ns, "spread", 4, "250m", nil)); err != nil {
				t.Fatal(err)
			}
			pods := waitSplit(t, ns, "spread", splitmodel.Counts{Spot: 4}, 3*time.Minute)
			spotNodes := map[string]int{}
			for _, p := range pods {
				spotNodes[p.Spec.NodeName]++
			}
			tc.check(t, spotNodes)
		})
	}
}

// TestDistributionRespectsPodDisruptionBudget: with a PDB that allows no disruption,
// the surplus cannot be evicted, and the rule's status says so.
func TestDistributionRespectsPodDisruptionBudget(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t) // not opted in yet: every replica is admitted unplaced, On-Demand
	createRule(t, ns, 0, 0, v1alpha1.CostOptimized)
	if err := kube.Client.Create(ctx, deployment(ns, "guarded", 3, "250m", nil)); err != nil {
		t.Fatal(err)
	}
	waitSplit(t, ns, "guarded", splitmodel.Counts{OnDemand: 3}, 3*time.Minute)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "guarded"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(0)),
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}},
		},
	}
	if err := kube.Client.Create(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	optIn(t, ns) // the drift reconciler now wants 3 Spot replicas, and may not evict
	err := kube.Eventually(ctx, "the rule status to report the blocked eviction", 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		var rule v1alpha1.WorkloadDistributionRule
		if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "split"}, &rule); err != nil {
			return false, "", err
		}
		for _, w := range rule.Status.Workloads {
			if w.Name == "guarded" {
				ok := w.Desired == (v1alpha1.PlacementCounts{Spot: 3}) && w.Observed == (v1alpha1.PlacementCounts{OnDemand: 3}) &&
					strings.Contains(w.Message, "PodDisruptionBudget")
				return ok, fmt.Sprintf("%+v", w), nil
			}
		}
		return false, fmt.Sprintf("%+v", rule.Status.Workloads), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := split(ctx, t, ns, "guarded"); c != (splitmodel.Counts{OnDemand: 3}) {
		t.Fatalf("pods moved despite the PodDisruptionBudget: %s", c)
	}
}

func scaleStatefulSet(t testing.TB, ns, name string, replicas int32) {
	t.Helper()
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas))
	s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := kube.Client.Patch(context.Background(), s, patch); err != nil {
		t.Fatal(err)
	}
}

// TestDriftPausesWhileTheWebhookIsUnreachable: with the API server unable to reach
// Ballast's webhook (its configuration points at a closed port, so every pod is
// admitted unplaced), drift correction evicts one bounded pass, sees the replacements
// arrive unplaced and stops: no further eviction while it stays unreachable, WebhookPlacing=False on
// the ClusterPolicy (and Ready False), a WebhookNotPlacing event. Once the webhook is
// reachable again, the first placed pod ends the pause and the split converges.
func TestDriftPausesWhileTheWebhookIsUnreachable(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	optIn(t, ns)
	createRule(t, ns, 1, 0, v1alpha1.CostOptimized)
	if err := kube.Client.Create(ctx, deployment(ns, "api", 2, "100m", nil)); err != nil {
		t.Fatal(err)
	}
	waitSplit(t, ns, "api", splitmodel.Counts{OnDemand: 1, Spot: 1}, 3*time.Minute)

	restore := breakWebhook(t)
	scale(t, ns, "api", 6)
	// Unplaced pods cannot tolerate the Spot taint: the new ones run On-Demand.
	waitSplit(t, ns, "api", splitmodel.Counts{OnDemand: 5, Spot: 1}, 3*time.Minute)
	err := kube.Eventually(ctx, "WebhookPlacing=False on the ClusterPolicy", 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		c, err := clusterPolicyCondition(ctx, "WebhookPlacing")
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == distribution.WebhookNotPlacingReason, fmt.Sprintf("%+v", c), err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Ready is derived from WebhookPlacing by the readiness controller, moments later.
	err = kube.Eventually(ctx, "Ready=False while the webhook does not place pods", 30*time.Second, func(ctx context.Context) (bool, string, error) {
		c, err := clusterPolicyCondition(ctx, "Ready")
		return c != nil && c.Status == metav1.ConditionFalse, fmt.Sprintf("%+v", c), err
	})
	if err != nil {
		t.Error(err)
	}
	first := evictionEvents(ctx, t, ns)
	// maxEvictionsPerPass is 3 in this suite's policy: one pass at most.
	if first < 1 || first > 3 {
		t.Fatalf("%d evictions before the pause, want one pass (1 to 3)", first)
	}
	if n := eventCount(ctx, t, ns, distribution.WebhookNotPlacingReason); n == 0 {
		t.Error("no WebhookNotPlacing event")
	}
	// Half a minute with the webhook unreachable (drift correction passes every 5
	// seconds, and the first trial pass comes after 5 minutes): no more evictions.
	time.Sleep(30 * time.Second)
	if n := evictionEvents(ctx, t, ns); n != first {
		t.Fatalf("%d evictions after 30 paused seconds, want still %d", n, first)
	}

	restore()
	scale(t, ns, "api", 7) // a new pod, placed by the webhook: the pause ends
	waitSplit(t, ns, "api", splitmodel.Counts{OnDemand: 1, Spot: 6}, 4*time.Minute)
	if c, err := clusterPolicyCondition(ctx, "WebhookPlacing"); err != nil || c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("WebhookPlacing %+v (%v) after the webhook came back, want True", c, err)
	}
}

// breakWebhook points Ballast's webhook configuration at a closed port, as a
// NetworkPolicy or a broken Service would: the API server cannot reach it and, with
// failurePolicy Ignore, admits pods unplaced. The returned function (also run at
// cleanup) puts the configuration back.
func breakWebhook(t *testing.T) (restore func()) {
	t.Helper()
	ctx := context.Background()
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := kube.Client.Get(ctx, client.ObjectKey{Name: "ballast-mutating-webhook-configuration"}, &mwc); err != nil {
		t.Fatal(err)
	}
	original := mwc.DeepCopy()
	for i := range mwc.Webhooks {
		mwc.Webhooks[i].ClientConfig.URL = ptr.To("https://127.0.0.1:1/unreachable")
		mwc.Webhooks[i].ClientConfig.Service = nil
	}
	if err := kube.Client.Update(ctx, &mwc); err != nil {
		t.Fatal(err)
	}
	done := false
	restore = func() {
		if done {
			return
		}
		done = true
		var cur admissionregistrationv1.MutatingWebhookConfiguration
		if err := kube.Client.Get(ctx, client.ObjectKey{Name: original.Name}, &cur); err != nil {
			t.Error(err)
			return
		}
		cur.Webhooks = original.Webhooks
		if err := kube.Client.Update(ctx, &cur); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(restore)
	return restore
}

func clusterPolicyCondition(ctx context.Context, typ string) (*metav1.Condition, error) {
	var p v1alpha1.ClusterPolicy
	if err := kube.Client.Get(ctx, client.ObjectKey{Name: e2eCluster}, &p); err != nil {
		return nil, err
	}
	return apimeta.FindStatusCondition(p.Status.Conditions, typ), nil
}

// evictionEvents counts drift correction's evictions in ns.
func evictionEvents(ctx context.Context, t *testing.T, ns string) int {
	t.Helper()
	return eventCount(ctx, t, ns, distribution.EvictedReason)
}

func eventCount(ctx context.Context, t *testing.T, ns, reason string) int {
	t.Helper()
	var events corev1.EventList
	if err := kube.Client.List(ctx, &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events.Items {
		if e.Reason == reason {
			n += int(max(e.Count, 1))
		}
	}
	return n
}

// TestAdmissionsDecidedFromMemory: the controller, once elected and warmed up, decides
// admissions from memory: it publishes itself in the decider record (its identity and
// the address other replicas forward to), and a Deployment it splits leaves no
// reservation in a ledger Lease — no admission wrote to the API server.
func TestAdmissionsDecidedFromMemory(t *testing.T) {
	ctx := context.Background()
	var record coordinationv1.Lease
	key := client.ObjectKey{Namespace: localcluster.BallastNamespace, Name: distribution.RecordName(ballast.Cluster)}
	err := kube.Eventually(ctx, "the decider record, warmed up", 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		if err := kube.Client.Get(ctx, key, &record); err != nil {
			return false, err.Error(), client.IgnoreNotFound(err)
		}
		// The warm-up: 5 s of record, the 2 s decision budget and 3 s, after publishing.
		acquired := record.Spec.AcquireTime
		return acquired != nil && time.Since(acquired.Time) > 15*time.Second, fmt.Sprintf("acquired %v", acquired), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(record.Spec.HolderIdentity, "") == "" || !strings.HasPrefix(record.Annotations["ballast.dev/address"], "https://") {
		t.Fatalf("decider record without holder or address: %v %v", record.Spec.HolderIdentity, record.Annotations)
	}
	ns := newNamespace(t)
	optIn(t, ns)
	createRule(t, ns, 2, 0, v1alpha1.CostOptimized)
	dep := deployment(ns, "mem", 6, "100m", nil)
	if err := kube.Client.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	waitSplit(t, ns, "mem", splitmodel.Counts{OnDemand: 2, Spot: 4}, 3*time.Minute)
	var ledger coordinationv1.Lease
	err = kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ballast-placement-" + string(dep.UID)}, &ledger)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		t.Fatal(err)
	case ledger.Annotations["ballast.dev/reservations"] != "" && ledger.Annotations["ballast.dev/reservations"] != "[]":
		t.Fatalf("admissions went through the ledger: %s", ledger.Annotations["ballast.dev/reservations"])
	}
}
