package localcluster

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
)

// NodePool returns a NodePool on the default KWOKNodeClass offering the capacity types
// (both when none are given), linux/amd64, consolidating empty or underused nodes after
// consolidateAfter.
func NodePool(name string, consolidateAfter string, capacityTypes ...string) *karpv1.NodePool {
	if len(capacityTypes) == 0 {
		capacityTypes = []string{karpv1.CapacityTypeSpot, karpv1.CapacityTypeOnDemand}
	}
	after := karpv1.MustParseNillableDuration(consolidateAfter)
	return &karpv1.NodePool{
		TypeMeta:   metav1.TypeMeta{APIVersion: "karpenter.sh/v1", Kind: "NodePool"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: karpv1.NodePoolSpec{
			Template: karpv1.NodeClaimTemplate{
				Spec: karpv1.NodeClaimTemplateSpec{
					NodeClassRef: &karpv1.NodeClassReference{Group: "karpenter.kwok.sh", Kind: "KWOKNodeClass", Name: DefaultNodeClass},
					Requirements: []karpv1.NodeSelectorRequirementWithMinValues{
						{Key: karpv1.CapacityTypeLabelKey, Operator: corev1.NodeSelectorOpIn, Values: capacityTypes},
						{Key: corev1.LabelOSStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"linux"}},
						{Key: corev1.LabelArchStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64"}},
					},
					ExpireAfter: karpv1.MustParseNillableDuration("Never"),
				},
			},
			Disruption: karpv1.Disruption{
				ConsolidationPolicy: karpv1.ConsolidationPolicyWhenEmptyOrUnderutilized,
				ConsolidateAfter:    after,
				Budgets:             []karpv1.Budget{{Nodes: "100%"}},
			},
		},
	}
}

// WithTaint adds a taint to the NodePool's nodes.
func WithTaint(np *karpv1.NodePool, taint corev1.Taint) *karpv1.NodePool {
	np.Spec.Template.Spec.Taints = append(np.Spec.Template.Spec.Taints, taint)
	return np
}

// WithSpotTaint taints the NodePool's nodes ballast.dev/capacity=spot:NoSchedule, as
// Ballast's rendered Spot NodePool does, and gives it a weight.
func WithSpotTaint(np *karpv1.NodePool, weight int32) *karpv1.NodePool {
	np.Spec.Weight = &weight
	return WithTaint(np, corev1.Taint{Key: "ballast.dev/capacity", Value: "spot", Effect: corev1.TaintEffectNoSchedule})
}
