package savings

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	resourcehelper "k8s.io/component-helpers/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/controllers/binpacking"
	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// podWatch records, from a watch of one namespace, when each light and tiny pod
// started terminating (every such termination is an eviction: nothing else deletes
// them) and every pod the scheduler could not place.
type podWatch struct {
	mu            sync.Mutex
	evictions     map[string]time.Time
	unschedulable []string
	stop          func()
}

func watchPods(t *testing.T, ns string) *podWatch {
	t.Helper()
	wc, err := client.NewWithWatch(env.Kube.Config, client.Options{Scheme: localcluster.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := wc.Watch(ctx, &corev1.PodList{}, client.InNamespace(ns))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	pw := &podWatch{evictions: map[string]time.Time{}, stop: func() { w.Stop(); cancel() }}
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			pw.mu.Lock()
			app := p.Labels["app"]
			if _, seen := pw.evictions[p.Name]; !seen && (app == "light" || app == "tiny") && (p.DeletionTimestamp != nil || ev.Type == watch.Deleted) {
				pw.evictions[p.Name] = time.Now()
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
					pw.unschedulable = append(pw.unschedulable, p.Name+": "+c.Message+"; nodes then: "+nodeSnapshot(ctx))
				}
			}
			pw.mu.Unlock()
		}
	}()
	return pw
}

// nodeSnapshot describes every node (taints, CPU requested of allocatable), to explain
// a pod the scheduler could not place.
func nodeSnapshot(ctx context.Context) string {
	var nodes corev1.NodeList
	var pods corev1.PodList
	if err := env.Kube.Client.List(ctx, &nodes); err != nil {
		return err.Error()
	}
	if err := env.Kube.Client.List(ctx, &pods); err != nil {
		return err.Error()
	}
	used := map[string]int64{}
	for _, p := range pods.Items {
		if p.Spec.NodeName != "" && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			requests := resourcehelper.PodRequests(&p, resourcehelper.PodResourcesOptions{})
			used[p.Spec.NodeName] += requests.Cpu().MilliValue()
		}
	}
	var out []string
	for _, n := range nodes.Items {
		var taints []string
		for _, t := range n.Spec.Taints {
			taints = append(taints, t.Key)
		}
		out = append(out, fmt.Sprintf("%s %dm/%dm taints %v deleting %t", n.Name, used[n.Name], n.Status.Allocatable.Cpu().MilliValue(), taints, n.DeletionTimestamp != nil))
	}
	return strings.Join(out, ", ")
}

// passes groups the evictions into passes: evictions less than a second apart.
func (pw *podWatch) passes() [][]string {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	type ev struct {
		pod string
		at  time.Time
	}
	var evs []ev
	for p, at := range pw.evictions {
		evs = append(evs, ev{p, at})
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	var out [][]string
	for i, e := range evs {
		if i == 0 || e.at.Sub(evs[i-1].at) >= time.Second {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], e.pod)
	}
	return out
}

func (pw *podWatch) evicted() int {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return len(pw.evictions)
}

// binPackingStatus waits until status.binPacking satisfies cond, and returns it.
func binPackingStatus(t *testing.T, what string, cond func(*v1alpha1.BinPackingStatus) bool) *v1alpha1.BinPackingStatus {
	t.Helper()
	var st *v1alpha1.BinPackingStatus
	err := env.Kube.Eventually(context.Background(), what, 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		p, err := clusterPolicy(ctx)
		if err != nil {
			return false, "", err
		}
		st = p.Status.BinPacking
		if st == nil {
			return false, "no status.binPacking", nil
		}
		return cond(st), fmt.Sprintf("%+v", *st), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestBinPacking: six Spot nodes each running one light pod (700m of 1.9 vCPU, and a
// tiny one) end as three after bin-packing passes: none evicted more than its cap of
// one pod, no pod went Pending, a PodDisruptionBudget with maxUnavailable 0 blocked
// it (and the status said so), and nothing was evicted outside the policy's
// maintenance window.
func TestBinPacking(t *testing.T) {
	ctx := context.Background()
	c := env.Kube.Client
	const ns = "light" // the rule puts its workloads on Spot
	spotPool := render.NodePoolName(cluster, v1alpha1.CapacitySpot)

	// Six nodes: one spacer per node (required anti-affinity) holds 1.1 vCPU, so that
	// the light pods created next land one per node.
	spacer := deployment(ns, "spacer", 6, "1100m", "64Mi")
	spacer.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spacer"}}, TopologyKey: corev1.LabelHostname,
		}},
	}}
	if err := c.Create(ctx, spacer); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Kube.WaitPodsRunning(ctx, ns, labels.SelectorFromSet(labels.Set{"app": "spacer"}), 6, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	nodes, err := poolNodes(ctx, spotPool)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 6 {
		t.Fatalf("%d Spot nodes for 6 spacers, want 6", len(nodes))
	}
	for _, n := range nodes {
		if got := n.Status.Allocatable.Cpu().MilliValue(); got != 1900 {
			t.Fatalf("node %s has %dm CPU allocatable; the test's pod sizes assume 1900m", n.Name, got)
		}
	}
	// The tiny pods prefer nodes without another tiny pod (the scheduler mostly puts
	// one on each node), so that emptying a node usually takes more than one pass.
	tiny := deployment(ns, "tiny", 6, "10m", "16Mi")
	tiny.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "tiny"}}, TopologyKey: corev1.LabelHostname,
		}}},
	}}
	for _, d := range []*appsv1.Deployment{deployment(ns, "light", 6, "700m", "256Mi"), tiny} {
		if err := c.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Kube.WaitPodsRunning(ctx, ns, labels.SelectorFromSet(labels.Set{"app": d.Name}), 6, 3*time.Minute); err != nil {
			t.Fatal(err)
		}
		if d.Name != "light" {
			continue
		}
		byNode, err := podsByNode(ctx, ns, d.Name)
		if err != nil {
			t.Fatal(err)
		}
		for name := range nodes {
			if len(byNode[name]) != 1 {
				t.Fatalf("%s pods by node %v, want one on each of the 6 Spot nodes", d.Name, byNode)
			}
		}
	}

	pw := watchPods(t, ns)
	defer pw.stop()
	scale(t, ns, "spacer", 0)
	if _, err := env.Kube.WaitPodsRunning(ctx, ns, labels.SelectorFromSet(labels.Set{"app": "spacer"}), 0, time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Log("6 Spot nodes, each with one light pod (700m + 10m of 1900m)")

	// Outside the maintenance window: the six nodes are candidates, nothing is evicted.
	st := binPackingStatus(t, "six candidates waiting for the window", func(st *v1alpha1.BinPackingStatus) bool {
		return len(st.Candidates) == 6 && strings.Contains(st.Message, "maintenance window")
	})
	first := st.LastPass.Time
	binPackingStatus(t, "three more passes", func(st *v1alpha1.BinPackingStatus) bool {
		return st.LastPass.Sub(first) >= 3*passInterval
	})
	if n := pw.evicted(); n != 0 {
		t.Fatalf("%d pods evicted outside the maintenance window", n)
	}

	// A PodDisruptionBudget that allows no disruption blocks, and the status says so.
	for _, app := range []string{"light", "tiny"} {
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: app},
			Spec: policyv1.PodDisruptionBudgetSpec{
				MaxUnavailable: ptrIntOrString(intstr.FromInt32(0)),
				Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			},
		}
		if err := c.Create(ctx, pdb); err != nil {
			t.Fatal(err)
		}
	}
	push(t, "bin-packing: any time", policyYAML(discoveredCommitments, ""), func(p *v1alpha1.ClusterPolicy) bool {
		return len(p.Spec.MaintenanceWindows) == 0
	})
	st = binPackingStatus(t, "bin-packing blocked by the PodDisruptionBudget", func(st *v1alpha1.BinPackingStatus) bool {
		return strings.Contains(st.Message, "PodDisruptionBudget")
	})
	t.Logf("blocked: %s", st.Message)
	if n := pw.evicted(); n != 0 {
		t.Fatalf("%d pods evicted despite PodDisruptionBudgets with maxUnavailable 0", n)
	}

	// Without the budgets, the passes pack the light pods two to a node.
	for _, app := range []string{"light", "tiny"} {
		if err := c.Delete(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: app}}); err != nil {
			t.Fatal(err)
		}
	}
	err = env.Kube.Eventually(ctx, "three Spot nodes with two light pods each", 5*time.Minute, func(ctx context.Context) (bool, string, error) {
		nodes, err := poolNodes(ctx, spotPool)
		if err != nil {
			return false, "", err
		}
		byNode, err := podsByNode(ctx, ns, "light")
		if err != nil {
			return false, "", err
		}
		running := 0
		for _, pods := range byNode {
			running += len(pods)
		}
		return len(nodes) == 3 && len(byNode) == 3 && running == 6, fmt.Sprintf("%d Spot nodes, light pods by node %v", len(nodes), byNode), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Kube.WaitPodsRunning(ctx, ns, labels.SelectorFromSet(labels.Set{"app": "tiny"}), 6, time.Minute); err != nil {
		t.Fatal(err)
	}
	pw.stop()
	passes := pw.passes()
	t.Logf("%d evictions in %d passes: %v", pw.evicted(), len(passes), passes)
	for _, p := range passes {
		if len(p) > 1 {
			t.Errorf("a pass evicted %d pods (%v), more than maxEvictionsPerPass 1", len(p), p)
		}
	}
	// Three nodes emptied of their light pod (and the tiny ones beside them), one pod
	// per pass.
	if len(passes) < 3 {
		t.Errorf("%d passes evicted pods, want at least 3 (three light pods, one per pass)", len(passes))
	}
	pw.mu.Lock()
	if len(pw.unschedulable) > 0 {
		t.Errorf("pods went Pending: %v", pw.unschedulable)
		for _, l := range strings.Split(env.Ballast.Log(5000), "\n") {
			if strings.Contains(l, `"controller":"binpacking"`) {
				t.Log(l)
			}
		}
	}
	pw.mu.Unlock()

	// The ClusterPolicy's events name the drained nodes.
	var events corev1.EventList
	if err := c.List(ctx, &events, client.MatchingFields{"involvedObject.name": cluster}); err != nil {
		t.Fatal(err)
	}
	drained := 0
	for _, e := range events.Items {
		if e.Reason == binpacking.DrainingReason {
			drained++
		}
	}
	if drained == 0 {
		t.Errorf("no %s event on the ClusterPolicy", binpacking.DrainingReason)
	}
}

func ptrIntOrString(v intstr.IntOrString) *intstr.IntOrString { return &v }
