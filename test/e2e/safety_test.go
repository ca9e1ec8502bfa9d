package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	splitmodel "github.com/ballast-dev/ballast/split"
)

// TestPinnedSpotRunsOnBallastSpotPool: a workload that pins Spot itself (Karpenter's
// published Spot example) gets the toleration of Ballast's tainted Spot pool and runs
// there; Ballast does not place it otherwise.
func TestPinnedSpotRunsOnBallastSpotPool(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	optIn(t, ns)
	if err := kube.Client.Create(ctx, deployment(ns, "pinned-spot", 2, "250m", map[string]string{karpv1.CapacityTypeLabelKey: karpv1.CapacityTypeSpot})); err != nil {
		t.Fatal(err)
	}
	pods, err := kube.WaitPodsRunning(ctx, ns, appSelector("pinned-spot"), 2, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods {
		node, err := kube.NodeOf(ctx, &pods[i])
		if err != nil {
			t.Fatal(err)
		}
		if pool := node.Labels[karpv1.NodePoolLabelKey]; pool != "ballast-e2e-spot" {
			t.Errorf("pod %s runs on pool %q, want ballast-e2e-spot", pods[i].Name, pool)
		}
		if _, placed := pods[i].Labels[v1alpha1.CapacityLabel]; placed {
			t.Errorf("pod %s was placed by Ballast although it chose Spot itself", pods[i].Name)
		}
	}
}

// TestDaemonSetRunsOnEverySpotNode: a DaemonSet with no tolerations, in an opted-in
// namespace, has a Running pod on every node of Ballast's tainted Spot pool.
func TestDaemonSetRunsOnEverySpotNode(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	optIn(t, ns)
	createRule(t, ns, 0, 0, v1alpha1.LeastInterrupted) // every replica Spot, one per node
	labels := map[string]string{"app": "agent"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					Containers:                    []corev1.Container{{Name: "agent", Image: "registry.example/agent:1"}},
				},
			},
		},
	}
	if err := kube.Client.Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if err := kube.Client.Create(ctx, deployment(ns, "spot-app", 3, "250m", nil)); err != nil {
		t.Fatal(err)
	}
	waitSplit(t, ns, "spot-app", splitmodel.Counts{Spot: 3}, 3*time.Minute)
	err := kube.Eventually(ctx, "an agent pod Running on every Spot node", 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		var nodes corev1.NodeList
		if err := kube.Client.List(context.Background(), &nodes, client.MatchingLabels{karpv1.NodePoolLabelKey: "ballast-e2e-spot"}); err != nil {
			return false, "", err
		}
		agents, err := kube.RunningPods(context.Background(), ns, appSelector("agent"))
		if err != nil {
			return false, "", err
		}
		on := nodesOf(agents)
		var missing []string
		for _, n := range nodes.Items {
			// A node Karpenter is taking away (disrupted, cordoned) gets no new daemon pods.
			leaving := !n.DeletionTimestamp.IsZero() || n.Spec.Unschedulable || slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool {
				return t.Key == karpv1.DisruptedTaintKey
			})
			if !leaving && !on[n.Name] {
				missing = append(missing, n.Name)
			}
		}
		// The template's tolerations tell a DaemonSet the webhook left alone from one
		// whose pods do not run.
		var got appsv1.DaemonSet
		if err := kube.Client.Get(ctx, client.ObjectKeyFromObject(ds), &got); err != nil {
			return false, "", err
		}
		return len(nodes.Items) >= 3 && len(missing) == 0, fmt.Sprintf("%d Spot nodes, no agent on %v; template tolerations %v",
			len(nodes.Items), missing, got.Spec.Template.Spec.Tolerations), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// poolsCPU sums the CPU capacity of the NodeClaims of Ballast's NodePools.
func poolsCPU(ctx context.Context) (resource.Quantity, error) {
	var claims karpv1.NodeClaimList
	var sum resource.Quantity
	if err := kube.Client.List(ctx, &claims); err != nil {
		return sum, err
	}
	for _, nc := range claims.Items {
		if slices.Contains([]string{"ballast-e2e-spot", "ballast-e2e-on-demand"}, nc.Labels[karpv1.NodePoolLabelKey]) {
			sum.Add(nc.Status.Capacity[corev1.ResourceCPU])
		}
	}
	return sum, nil
}

// setLimits sets the ClusterPolicy's CPU limit (nil removes the limits).
func setLimits(t *testing.T, cpu *resource.Quantity) {
	t.Helper()
	value := "null"
	if cpu != nil {
		value = fmt.Sprintf(`{"cpu":%q}`, cpu.String())
	}
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"limits":%s}}`, value))
	if err := kube.Client.Patch(context.Background(), &v1alpha1.ClusterPolicy{ObjectMeta: metav1.ObjectMeta{Name: e2eCluster}}, patch); err != nil {
		t.Fatal(err)
	}
}

// TestLimitsHoldAcrossPools: the ClusterPolicy's CPU limit is a total over Ballast's
// NodePools. A Deployment split between Spot and On-Demand that asks for more stops at
// the limit: its remaining replicas stay Pending, and the capacity of both pools
// together never passes the limit while they grow.
func TestLimitsHoldAcrossPools(t *testing.T) {
	ctx := context.Background()
	used, err := poolsCPU(ctx)
	if err != nil {
		t.Fatal(err)
	}
	limit := used.DeepCopy()
	limit.Add(resource.MustParse("6"))
	setLimits(t, &limit)
	t.Cleanup(func() { setLimits(t, nil) })
	// The limits controller owns the pools' limits; they add up to the total.
	err = kube.Eventually(ctx, "the pools' limits to add up to the total", time.Minute, func(ctx context.Context) (bool, string, error) {
		var sum resource.Quantity
		for _, name := range []string{"ballast-e2e-spot", "ballast-e2e-on-demand"} {
			var np karpv1.NodePool
			if err := kube.Client.Get(ctx, client.ObjectKey{Name: name}, &np); err != nil {
				return false, "", err
			}
			q, ok := np.Spec.Limits[corev1.ResourceCPU]
			if !ok {
				return false, name + " has no limit yet", nil
			}
			sum.Add(q)
		}
		return sum.Cmp(limit) <= 0 && sum.Cmp(used) > 0, "limits add up to " + sum.String(), nil
	})
	if err != nil {
		t.Fatal(err)
	}

	ns := newNamespace(t)
	optIn(t, ns)
	createRule(t, ns, 0, 50, v1alpha1.CostOptimized)
	if err := kube.Client.Create(ctx, deployment(ns, "big", 20, "1", nil)); err != nil {
		t.Fatal(err)
	}
	// Sample the pools' capacity while they grow: it must never pass the limit, and it
	// must stop growing with replicas still Pending once most of the headroom is used.
	var peak, last resource.Quantity
	lastChange := time.Now()
	err = kube.Eventually(ctx, "the Deployment to stop growing at the limit", 3*time.Minute, func(ctx context.Context) (bool, string, error) {
		cpu, err := poolsCPU(ctx)
		if err != nil {
			return false, "", err
		}
		if cpu.Cmp(peak) > 0 {
			peak = cpu.DeepCopy()
		}
		if cpu.Cmp(limit) > 0 {
			return false, "", fmt.Errorf("ballast's pools hold %s CPU, more than the limit %s", cpu.String(), limit.String())
		}
		if cpu.Cmp(last) != 0 {
			last, lastChange = cpu.DeepCopy(), time.Now()
		}
		running, err := kube.RunningPods(ctx, ns, appSelector("big"))
		if err != nil {
			return false, "", err
		}
		// Longer than the limits controller's stall breaker (--limits-stall-after 3s), which
		// gives a pool whose share is too small for a node the whole headroom.
		stable := time.Since(lastChange) > 20*time.Second
		return stable && len(running) > 0 && len(running) < 20, fmt.Sprintf("%d of 20 running on %s CPU (limit %s)", len(running), cpu.String(), limit.String()), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// It grew into the headroom, not merely started: at most the smallest node a
	// 1-CPU replica fits on (2 CPU in kwok's catalogue) is left.
	left := limit.DeepCopy()
	left.Sub(peak)
	if left.Cmp(resource.MustParse("2")) > 0 {
		t.Errorf("the pools stopped at %s CPU with %s of the limit %s unused", peak.String(), left.String(), limit.String())
	}
	t.Logf("peak %s CPU in Ballast's pools against a limit of %s", peak.String(), limit.String())
}

// TestControllerEventsVisible: the controller's events reach the API server under its
// own RBAC, where `kubectl get events` lists them: a PolicySource that cannot fetch
// its repository gets a warning event (Flux's recorder, core/v1 Events).
func TestControllerEventsVisible(t *testing.T) {
	ctx := context.Background()
	ps := &v1alpha1.PolicySource{
		ObjectMeta: metav1.ObjectMeta{Namespace: localcluster.BallastNamespace, Name: "unreachable"},
		Spec: v1alpha1.PolicySourceSpec{
			Cluster: e2eCluster, Interval: metav1.Duration{Duration: time.Minute},
			Git: &v1alpha1.GitSource{URL: "https://127.0.0.1:1/nowhere.git"},
		},
	}
	if err := kube.Client.Create(ctx, ps); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.Client.Delete(context.Background(), ps) })
	err := kube.Eventually(ctx, "a warning event on the PolicySource", time.Minute, func(ctx context.Context) (bool, string, error) {
		var events corev1.EventList
		if err := kube.Client.List(ctx, &events, client.InNamespace(localcluster.BallastNamespace)); err != nil {
			return false, "", err
		}
		for _, e := range events.Items {
			if e.InvolvedObject.Kind == "PolicySource" && e.InvolvedObject.Name == ps.Name && e.Type == corev1.EventTypeWarning {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("%d events in %s", len(events.Items), localcluster.BallastNamespace), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
