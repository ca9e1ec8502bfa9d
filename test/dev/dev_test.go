package dev

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/devenv"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// TestDevEngine drives `ballast dev`'s engine as the command does, on a cluster of its
// own: the example policy repository served from a real Gitea, synced by the real
// controller under its shipped RBAC, rendered for Karpenter's kwok provider; then the
// policy-change scenario (the split converges, the status file and the commit status
// appear) and the spot-outage scenario. After each, the figures the live view shows
// equal what the cluster runs.
func TestDevEngine(t *testing.T) {
	ctx := context.Background()
	env, err := devenv.Start(ctx, devenv.Options{Dir: t.TempDir(), Forge: devenv.ForgeGitea, DemoTimings: true, Progress: func(l string) { t.Log(l) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Stop)
	if err := env.WaitSettled(ctx, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	checkView(t, env)
	for _, scenario := range []string{devenv.ScenarioPolicyChange, devenv.ScenarioSpotOutage} {
		if err := env.Run(ctx, scenario, func(l string) { t.Log(scenario + " " + l) }); err != nil {
			t.Fatalf("%s: %v", scenario, err)
		}
		if err := env.WaitSettled(ctx, 5*time.Minute); err != nil {
			t.Fatal(err)
		}
		checkView(t, env)
	}
}

// checkView compares a snapshot with the cluster: each workload's running replicas by
// node capacity type, the fallback state, and the cost of the nodes at their prices.
func checkView(t *testing.T, env *devenv.Env) {
	t.Helper()
	ctx := context.Background()
	v, err := env.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := env.Kube.Client
	var nodes corev1.NodeList
	if err := c.List(ctx, &nodes, client.HasLabels{karpv1.NodePoolLabelKey}); err != nil {
		t.Fatal(err)
	}
	capacity := map[string]string{}
	actual := 0.0
	for _, n := range nodes.Items {
		capacity[n.Name] = n.Labels[karpv1.CapacityTypeLabelKey]
		price, err := strconv.ParseFloat(n.Labels["eks-node-viewer/instance-price"], 64)
		if err != nil {
			t.Fatalf("node %s has no price: %v", n.Name, err)
		}
		actual += price * 730
	}
	if math.Abs(v.Cost.ActualMonthly-actual) > 0.01 || v.Cost.PotentialMonthly < v.Cost.ActualMonthly {
		t.Errorf("the view says $%.2f actual, $%.2f potential; the nodes cost $%.2f", v.Cost.ActualMonthly, v.Cost.PotentialMonthly, actual)
	}
	if len(v.Work) != len(env.Workloads) {
		t.Fatalf("the view shows %d workloads, the environment deployed %d", len(v.Work), len(env.Workloads))
	}
	for _, w := range v.Work {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(w.Namespace), client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(labels.Set{"app": w.Name})}); err != nil {
			t.Fatal(err)
		}
		var od, spot int32
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
				continue
			}
			if capacity[p.Spec.NodeName] == karpv1.CapacityTypeSpot {
				spot++
			} else {
				od++
			}
		}
		if w.Observed.OnDemand != od || w.Observed.Spot != spot {
			t.Errorf("%s/%s: the view shows %s, the cluster runs %d on-demand / %d spot", w.Namespace, w.Name, w.Observed, od, spot)
		}
		if w.Observed != w.Desired {
			t.Errorf("%s/%s: not settled: desired %s, observed %s", w.Namespace, w.Name, w.Desired, w.Observed)
		}
	}
	var policy v1alpha1.ClusterPolicy
	if err := c.Get(ctx, client.ObjectKey{Name: env.Cluster}, &policy); err != nil {
		t.Fatal(err)
	}
	state := string(v1alpha1.FallbackAvailable)
	if policy.Status.Fallback != nil {
		state = string(policy.Status.Fallback.State)
	}
	if v.Fallback.State != state {
		t.Errorf("the view shows Spot %s, the ClusterPolicy %s", v.Fallback.State, state)
	}
	var b strings.Builder
	v.Write(&b)
	t.Log("\n" + b.String())
}
