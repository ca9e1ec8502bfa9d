package limits_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	ssautils "github.com/fluxcd/pkg/ssa/utils"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/controllers/limits"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
	"github.com/ballast-dev/ballast/test/controlplane"
)

var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunTests(m, &env)) }

// applyRendered applies what the PolicySource applies for the policy: the rendered
// objects, with server-side apply under the PolicySource's field manager.
func applyRendered(t *testing.T, policy *v1alpha1.ClusterPolicy) {
	t.Helper()
	objs, err := render.Render(render.Input{Policy: policy, Source: "src", Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	data, err := render.Marshal(objs)
	if err != nil {
		t.Fatal(err)
	}
	us, err := ssautils.ReadObjects(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if err := env.Client.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("ballast"), client.ForceOwnership); err != nil {
			t.Fatalf("apply %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

func poolLimits(t *testing.T, name string) (corev1.ResourceList, string) {
	t.Helper()
	var np karpv1.NodePool
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, &np); err != nil {
		t.Fatal(err)
	}
	return corev1.ResourceList(np.Spec.Limits), np.ResourceVersion
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLimitsTrackUsageWithoutFighting: the controller splits the ClusterPolicy's total
// between the rendered NodePools, moves the headroom as NodeClaims launch, and never
// fights the PolicySource's apply of the same NodePools: re-applying the render and
// a steady state leave every resourceVersion unchanged.
func TestLimitsTrackUsageWithoutFighting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "lim"},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:   v1alpha1.ClusterIdentity{Name: "lim", Region: "eu-west-1"},
			NodeClass: v1alpha1.NodeClassSpec{Role: "r"},
			Limits:    &v1alpha1.LimitsSpec{CPU: ptr.To(resource.MustParse("100")), Nodes: ptr.To[int32](10)},
			// A pool of spec.nodePools keeps its own limits: not part of the total.
			NodePools: []v1alpha1.NodePool{{Name: "lim-gpu", Spec: karpv1.NodePoolSpec{
				Limits: karpv1.Limits{corev1.ResourceCPU: resource.MustParse("8")},
				Template: karpv1.NodeClaimTemplate{Spec: karpv1.NodeClaimTemplateSpec{
					NodeClassRef: &karpv1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "ballast-lim"},
					Requirements: []karpv1.NodeSelectorRequirementWithMinValues{{Key: karpv1.CapacityTypeLabelKey, Operator: corev1.NodeSelectorOpIn, Values: []string{"on-demand"}}},
					ExpireAfter:  karpv1.MustParseNillableDuration("720h"),
				}},
				Disruption: karpv1.Disruption{ConsolidateAfter: karpv1.MustParseNillableDuration("0s")},
			}}},
		},
	}
	applyRendered(t, policy)
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: controlplane.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := (&limits.Reconciler{Client: mgr.GetClient(), Cluster: "lim"}).SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()

	cpuOf := func(name string) int64 {
		l, _ := poolLimits(t, name)
		q := l[corev1.ResourceCPU]
		return q.Value()
	}
	od, spot := render.NodePoolName("lim", "on-demand"), render.NodePoolName("lim", "spot")
	eventually(t, "an even split of 100 CPU", func() bool { return cpuOf(od) == 50 && cpuOf(spot) == 50 })
	_, rvGPU := poolLimits(t, "lim-gpu")

	// A launched On-Demand node of 16 CPU: 84 CPU of headroom, 42 each.
	nc := &karpv1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "od-1", Labels: map[string]string{karpv1.NodePoolLabelKey: od}},
		Spec: karpv1.NodeClaimSpec{NodeClassRef: &karpv1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "ballast-lim"},
			Requirements: []karpv1.NodeSelectorRequirementWithMinValues{{Key: karpv1.CapacityTypeLabelKey, Operator: corev1.NodeSelectorOpIn, Values: []string{"on-demand"}}}},
	}
	if err := env.Client.Create(ctx, nc); err != nil {
		t.Fatal(err)
	}
	nc.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi")}
	if err := env.Client.Status().Update(ctx, nc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "16 + 42 and 42", func() bool { return cpuOf(od) == 58 && cpuOf(spot) == 42 })
	if l, _ := poolLimits(t, od); l.Name(limits.ResourceNodes, resource.DecimalSI).Value() != 1+4 {
		t.Errorf("On-Demand node limit %v, want 5 (1 used + half of 9)", l)
	}

	// Steady: the PolicySource applies the same render again, time passes; nothing is
	// written.
	_, rvOD := poolLimits(t, od)
	_, rvSpot := poolLimits(t, spot)
	applyRendered(t, policy)
	time.Sleep(2 * time.Second)
	if _, rv := poolLimits(t, od); rv != rvOD {
		t.Errorf("the On-Demand NodePool changed in a steady state (resourceVersion %s -> %s)", rvOD, rv)
	}
	if _, rv := poolLimits(t, spot); rv != rvSpot {
		t.Errorf("the Spot NodePool changed in a steady state (resourceVersion %s -> %s)", rvSpot, rv)
	}

	if l, rv := poolLimits(t, "lim-gpu"); rv != rvGPU || len(l) != 1 || l.Cpu().Value() != 8 {
		t.Errorf("the node pool's own limits were touched: %v (resourceVersion %s -> %s)", l, rvGPU, rv)
	}

	// Limits removed from the policy: the controller gives the field up.
	policy.Spec.Limits = nil
	applyRendered(t, policy)
	eventually(t, "no limits", func() bool {
		l1, _ := poolLimits(t, od)
		l2, _ := poolLimits(t, spot)
		return len(l1) == 0 && len(l2) == 0
	})
}
