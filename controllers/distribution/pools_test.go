package distribution

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// testPool is a NodePool of the tables below.
func testPool(name string, labels map[string]string, taints []corev1.Taint, reqs ...karpv1.NodeSelectorRequirementWithMinValues) *karpv1.NodePool {
	return &karpv1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: k8stypes.UID("uid-" + name), Generation: 1},
		Spec: karpv1.NodePoolSpec{Template: karpv1.NodeClaimTemplate{
			ObjectMeta: karpv1.ObjectMeta{Labels: labels},
			Spec: karpv1.NodeClaimTemplateSpec{
				Requirements: reqs, Taints: taints,
				NodeClassRef: &karpv1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "default"},
			},
		}},
	}
}

func req(key string, op corev1.NodeSelectorOperator, values ...string) karpv1.NodeSelectorRequirementWithMinValues {
	return karpv1.NodeSelectorRequirementWithMinValues{Key: key, Operator: op, Values: values}
}

func expr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

// requiring is a required node affinity of ORed terms.
func requiring(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
}

func term(e ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: e}
}

var (
	gpuTaint  = corev1.Taint{Key: "nvidia.com/gpu", Effect: corev1.TaintEffectNoSchedule}
	teamTaint = corev1.Taint{Key: "team", Value: "ml", Effect: corev1.TaintEffectNoSchedule}
	// testPools: Ballast's two pools of cluster "c" (as render makes them: amd64 only,
	// the Spot one tainted), and pools kept by hand beside them: an On-Demand-only GPU
	// pool with a taint, a team pool with a taint offering both, an untainted Spot-only
	// batch pool, an untainted On-Demand arm64 pool, and Ballast's pools of another
	// cluster.
	testPools = []*karpv1.NodePool{
		testPool("ballast-c-spot", map[string]string{v1alpha1.CapacityLabel: "spot"}, []corev1.Taint{spotTaint},
			req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "spot"), req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "amd64")),
		testPool("ballast-c-on-demand", map[string]string{v1alpha1.CapacityLabel: "on-demand"}, nil,
			req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand"), req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "amd64")),
		testPool("gpu", map[string]string{"ballast.dev/e2e-gpu": "true"}, []corev1.Taint{gpuTaint},
			req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand")),
		testPool("team-ml", map[string]string{"team": "ml"}, []corev1.Taint{teamTaint},
			req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "spot", "on-demand")),
		testPool("batch", map[string]string{"workload": "batch"}, nil,
			req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "spot")),
		testPool("arm", nil, nil,
			req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpNotIn, "spot"), req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "arm64")),
		testPool("ballast-other-spot", map[string]string{v1alpha1.CapacityLabel: "spot", "cluster": "other"}, []corev1.Taint{spotTaint},
			req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "spot")),
	}
)

// fitAmong judges a pod spec against NodePools as the webhook does.
func fitAmong(cluster string, pools []*karpv1.NodePool, spec *corev1.PodSpec) Fit {
	var f Fit
	terms := podTerms(spec)
	for _, np := range pools {
		f.add(compile(cluster, np), spec, terms)
	}
	return f
}

func TestFit(t *testing.T) {
	tolerate := func(key string) []corev1.Toleration {
		return []corev1.Toleration{{Key: key, Operator: corev1.TolerationOpExists}}
	}
	for _, tc := range []struct {
		name string
		spec corev1.PodSpec
		want Fit
	}{
		// Untainted pools take any pod that selects nothing (Karpenter may put it there).
		// Ballast's own Spot taint counts as tolerated, so ballast-other-spot takes it too.
		{"nothing special", corev1.PodSpec{}, Fit{Pools: 5, Ballast: true, Spot: true, OnDemand: true}},
		{"GPU selector without the toleration", corev1.PodSpec{NodeSelector: map[string]string{"ballast.dev/e2e-gpu": "true"}}, Fit{}},
		{"GPU selector and toleration", corev1.PodSpec{NodeSelector: map[string]string{"ballast.dev/e2e-gpu": "true"}, Tolerations: tolerate("nvidia.com/gpu")},
			Fit{Pools: 1, OnDemand: true}},
		{"GPU affinity In and toleration", corev1.PodSpec{Affinity: requiring(term(expr("ballast.dev/e2e-gpu", corev1.NodeSelectorOpIn, "true"))), Tolerations: tolerate("nvidia.com/gpu")},
			Fit{Pools: 1, OnDemand: true}},
		{"GPU affinity NotIn", corev1.PodSpec{Affinity: requiring(term(expr("ballast.dev/e2e-gpu", corev1.NodeSelectorOpNotIn, "true"))), Tolerations: tolerate("nvidia.com/gpu")},
			Fit{Pools: 5, Ballast: true, Spot: true, OnDemand: true}},
		{"team affinity Exists and toleration", corev1.PodSpec{Affinity: requiring(term(expr("team", corev1.NodeSelectorOpExists))), Tolerations: tolerate("team")},
			Fit{Pools: 1, Spot: true, OnDemand: true}},
		{"team toleration of the wrong value", corev1.PodSpec{NodeSelector: map[string]string{"team": "ml"},
			Tolerations: []corev1.Toleration{{Key: "team", Operator: corev1.TolerationOpEqual, Value: "web", Effect: corev1.TaintEffectNoSchedule}}}, Fit{}},
		{"team selector without the toleration", corev1.PodSpec{NodeSelector: map[string]string{"team": "ml"}}, Fit{}},
		// Tolerating a taint does not keep a pod off the other pools.
		{"tolerates every taint", corev1.PodSpec{Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}}, Fit{Pools: 7, Ballast: true, Spot: true, OnDemand: true}},
		{"a Spot-only pool by name", corev1.PodSpec{NodeSelector: map[string]string{karpv1.NodePoolLabelKey: "batch"}}, Fit{Pools: 1, Spot: true}},
		{"a Spot-only pool by label", corev1.PodSpec{NodeSelector: map[string]string{"workload": "batch"}}, Fit{Pools: 1, Spot: true}},
		// A well-known label a pool does not restrict may take any value there.
		{"arm64", corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelArchStable: "arm64"}}, Fit{Pools: 3, Spot: true, OnDemand: true}},
		{"arm64 On-Demand pool by name", corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelArchStable: "arm64", karpv1.NodePoolLabelKey: "arm"}}, Fit{Pools: 1, OnDemand: true}},
		{"amd64", corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelArchStable: "amd64"}}, Fit{Pools: 4, Ballast: true, Spot: true, OnDemand: true}},
		{"Ballast's Spot pool or the GPU pool", corev1.PodSpec{Affinity: requiring(term(expr(karpv1.NodePoolLabelKey, corev1.NodeSelectorOpIn, "ballast-c-spot", "gpu"))), Tolerations: tolerate("nvidia.com/gpu")},
			Fit{Pools: 2, Ballast: true, Spot: true, OnDemand: true}},
		{"Ballast's Spot pool alone", corev1.PodSpec{NodeSelector: map[string]string{karpv1.NodePoolLabelKey: "ballast-c-spot"}}, Fit{Pools: 1, Ballast: true, Spot: true}},
		{"Ballast's pools of another cluster", corev1.PodSpec{NodeSelector: map[string]string{"cluster": "other"}}, Fit{Pools: 1, Spot: true}},
		// Karpenter's own chart keeps its pods off every NodePool's nodes.
		{"nodepool DoesNotExist", corev1.PodSpec{Affinity: requiring(term(expr(karpv1.NodePoolLabelKey, corev1.NodeSelectorOpDoesNotExist)))}, Fit{}},
		{"a hostname", corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelHostname: "ip-10-0-0-1"}}, Fit{}},
		{"a node group", corev1.PodSpec{NodeSelector: map[string]string{"eks.amazonaws.com/nodegroup": "system"}}, Fit{}},
		{"named nodes (matchFields)", corev1.PodSpec{Affinity: requiring(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{expr("metadata.name", corev1.NodeSelectorOpIn, "n1")}})}, Fit{}},
		{"named nodes or anything", corev1.PodSpec{Affinity: requiring(
			corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{expr("metadata.name", corev1.NodeSelectorOpIn, "n1")}}, term())},
			Fit{Pools: 5, Ballast: true, Spot: true, OnDemand: true}},
		// The terms are ORed, each with the node selector.
		{"GPU (untolerated) or batch", corev1.PodSpec{Affinity: requiring(
			term(expr("ballast.dev/e2e-gpu", corev1.NodeSelectorOpIn, "true")), term(expr(karpv1.NodePoolLabelKey, corev1.NodeSelectorOpIn, "batch")))},
			Fit{Pools: 1, Spot: true}},
		{"a selector ANDed with every term", corev1.PodSpec{NodeSelector: map[string]string{"workload": "batch"}, Affinity: requiring(
			term(expr(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "arm64")), term(expr(karpv1.NodePoolLabelKey, corev1.NodeSelectorOpExists)))},
			Fit{Pools: 1, Spot: true}},
		// The capacity type is what Ballast decides: the pod's own is not matched.
		{"capacity type left out", corev1.PodSpec{NodeSelector: map[string]string{karpv1.CapacityTypeLabelKey: "on-demand", "workload": "batch"}}, Fit{Pools: 1, Spot: true}},
		{"capacity type left out of affinity", corev1.PodSpec{Affinity: requiring(term(expr(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand"),
			expr(v1alpha1.CapacityLabel, corev1.NodeSelectorOpIn, "on-demand")))}, Fit{Pools: 5, Ballast: true, Spot: true, OnDemand: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fitAmong("c", testPools, &tc.spec); got != tc.want {
				t.Fatalf("fit %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("Ballast's pools of this cluster only", func(t *testing.T) {
		if got := fitAmong("other", testPools[:2], &corev1.PodSpec{}); got.Ballast {
			t.Fatalf("cluster other counts ballast-c-* as its own: %+v", got)
		}
		if got := fitAmong("c", testPools[:2], &corev1.PodSpec{}); got != (Fit{Pools: 2, Ballast: true, Spot: true, OnDemand: true}) {
			t.Fatalf("cluster c: %+v", got)
		}
	})
}

// TestFitSpotTaintedOnDemand: a pool with Ballast's Spot taint that offers On-Demand
// counts for On-Demand only when the pod tolerates the taint itself (Ballast adds the
// toleration only with Spot).
func TestFitSpotTaintedOnDemand(t *testing.T) {
	pools := []*karpv1.NodePool{testPool("legacy", nil, []corev1.Taint{spotTaint})}
	if got := fitAmong("c", pools, &corev1.PodSpec{}); got != (Fit{Pools: 1, Spot: true}) {
		t.Fatalf("without the toleration: %+v", got)
	}
	spec := corev1.PodSpec{Tolerations: []corev1.Toleration{spotToleration}}
	if got := fitAmong("c", pools, &spec); got != (Fit{Pools: 1, Spot: true, OnDemand: true}) {
		t.Fatalf("with the toleration: %+v", got)
	}
}

func TestConstrain(t *testing.T) {
	spot := split.Decision{Capacity: v1alpha1.CapacitySpot, Reason: split.ReasonSplit}
	od := split.Decision{Capacity: v1alpha1.CapacityOnDemand, Reason: split.ReasonBase}
	for _, tc := range []struct {
		name   string
		fit    Fit
		in     split.Decision
		want   split.Decision
		wantOK bool
	}{
		{"both offered: Spot kept", Fit{Spot: true, OnDemand: true}, spot, spot, true},
		{"both offered: On-Demand kept", Fit{Spot: true, OnDemand: true}, od, od, true},
		{"On-Demand only", Fit{OnDemand: true}, spot, split.Decision{Capacity: v1alpha1.CapacityOnDemand, Reason: split.ReasonOverride}, true},
		{"Spot only", Fit{Spot: true}, od, split.Decision{Capacity: v1alpha1.CapacitySpot, Reason: split.ReasonOverride}, true},
		{"neither", Fit{}, spot, spot, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.fit.Constrain(tc.in)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("Constrain(%+v) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestCompiledPoolsFollowChanges: a NodePool is compiled again when its spec changes
// (a new generation) or it is replaced under the same name (a new UID).
func TestCompiledPoolsFollowChanges(t *testing.T) {
	var n nodePools
	np := testPool("batch", nil, nil, req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "spot"))
	if p := n.get("c", np); !p.spot || p.onDemand {
		t.Fatalf("first compile: spot %v, on-demand %v", p.spot, p.onDemand)
	}
	changed := np.DeepCopy()
	changed.Generation = 2
	changed.Spec.Template.Spec.Requirements = []karpv1.NodeSelectorRequirementWithMinValues{req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand")}
	if p := n.get("c", changed); p.spot || !p.onDemand {
		t.Fatalf("after a spec change: spot %v, on-demand %v", p.spot, p.onDemand)
	}
	replaced := np.DeepCopy()
	replaced.UID = "uid-batch-2"
	replaced.Generation = 2
	if p := n.get("c", replaced); !p.spot || p.onDemand {
		t.Fatalf("after a replacement: spot %v, on-demand %v", p.spot, p.onDemand)
	}
}

// BenchmarkFit is the per-admission work of judging a pod against the NodePools once
// they are compiled (the list itself is a read of the informer cache, without copies).
func BenchmarkFit(b *testing.B) {
	var n nodePools
	for _, np := range testPools {
		n.get("c", np)
	}
	specs := map[string]*corev1.PodSpec{
		"plain": {},
		"gpu": {NodeSelector: map[string]string{"ballast.dev/e2e-gpu": "true"},
			Tolerations: []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists}}},
		"affinity": {Affinity: requiring(term(expr(karpv1.NodePoolLabelKey, corev1.NodeSelectorOpIn, "batch", "ballast-c-spot")))},
	}
	for name, spec := range specs {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var f Fit
				terms := podTerms(spec)
				for _, np := range testPools {
					f.add(n.get("c", np), spec, terms)
				}
			}
		})
	}
}
