package e2e

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/localcluster"
	splitmodel "github.com/ballast-dev/ballast/split"
)

// TestPoolsBallastDoesNotManage: beside split workloads, in one opted-in namespace, a
// GPU-like pool kept by hand that offers On-Demand only and a team pool with a taint
// run their workloads' pods; nothing is Pending because of Ballast (before the webhook
// was pool-aware, the GPU pods were told Spot and could never schedule).
func TestPoolsBallastDoesNotManage(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	optIn(t, ns)
	gpuTaint := corev1.Taint{Key: "nvidia.com/gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	teamTaint := corev1.Taint{Key: "team", Value: ns, Effect: corev1.TaintEffectNoSchedule}
	gpu := localcluster.WithTaint(localcluster.NodePool("gpu-"+ns, "10s", karpv1.CapacityTypeOnDemand), gpuTaint)
	gpu.Spec.Template.Labels = map[string]string{"ballast.dev/e2e-gpu": ns}
	team := localcluster.WithTaint(localcluster.NodePool("team-"+ns, "10s"), teamTaint)
	team.Spec.Template.Labels = map[string]string{"team": ns}
	for _, np := range []*karpv1.NodePool{gpu, team} {
		if err := kube.Client.Create(ctx, np); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = kube.Client.Delete(context.Background(), np) })
	}
	tolerate := func(taint corev1.Taint) corev1.Toleration {
		return corev1.Toleration{Key: taint.Key, Operator: corev1.TolerationOpEqual, Value: taint.Value, Effect: taint.Effect}
	}
	g := deployment(ns, "gpu", 2, "500m", map[string]string{"ballast.dev/e2e-gpu": ns})
	g.Spec.Template.Spec.Tolerations = []corev1.Toleration{tolerate(gpuTaint)}
	tm := deployment(ns, "team", 2, "500m", map[string]string{"team": ns})
	tm.Spec.Template.Spec.Tolerations = []corev1.Toleration{tolerate(teamTaint)}
	web := deployment(ns, "web", 4, "250m", nil)
	for _, d := range []*appsv1.Deployment{g, tm, web} {
		if err := kube.Client.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
	}

	for app, pool := range map[string]string{"gpu": gpu.Name, "team": team.Name} {
		pods, err := kube.WaitPodsRunning(ctx, ns, appSelector(app), 2, 3*time.Minute)
		if err != nil {
			t.Fatalf("%s: %v", app, err)
		}
		for i := range pods {
			node, err := kube.NodeOf(ctx, &pods[i])
			if err != nil {
				t.Fatal(err)
			}
			if got := node.Labels[karpv1.NodePoolLabelKey]; got != pool {
				t.Errorf("%s pod %s runs on pool %q, want %s", app, pods[i].Name, got, pool)
			}
			if app == "gpu" && node.Labels[karpv1.CapacityTypeLabelKey] != karpv1.CapacityTypeOnDemand {
				t.Errorf("gpu pod %s runs on %s capacity", pods[i].Name, node.Labels[karpv1.CapacityTypeLabelKey])
			}
			if _, placed := pods[i].Spec.NodeSelector[karpv1.CapacityTypeLabelKey]; placed {
				t.Errorf("%s pod %s was given a capacity type by Ballast: %v", app, pods[i].Name, pods[i].Spec.NodeSelector)
			}
		}
	}
	// The split workload beside them: base 1 On-Demand, the rest Spot.
	waitSplit(t, ns, "web", splitmodel.Counts{OnDemand: 1, Spot: 3}, 3*time.Minute)
}
