package distribution

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// apply writes a decision into the pod: the capacity-type node selector, the Spot
// toleration, the ballast.dev/capacity label, the reason and reservation annotations,
// and the strategy's placement of Spot replicas.
func apply(pod *corev1.Pod, w *Workload, rule split.Rule, d split.Decision, admissionID string) {
	if pod.Spec.NodeSelector == nil {
		pod.Spec.NodeSelector = map[string]string{}
	}
	pod.Spec.NodeSelector[capacityTypeKey] = d.Capacity
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[v1alpha1.CapacityLabel] = d.Capacity
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[ReasonAnnotation] = string(d.Reason)
	pod.Annotations[ReservationAnnotation] = admissionID
	if d.Capacity != v1alpha1.CapacitySpot {
		return
	}
	addSpotToleration(&pod.Spec)
	spotPods := map[string]string{v1alpha1.CapacityLabel: v1alpha1.CapacitySpot}
	for k, v := range w.MatchLabels {
		spotPods[k] = v
	}
	term := metav1.LabelSelector{MatchLabels: spotPods}
	switch rule.Strategy {
	case v1alpha1.LeastInterrupted:
		// One Spot replica per node: an interruption takes at most one.
		pod.Spec.TopologySpreadConstraints = append(pod.Spec.TopologySpreadConstraints, corev1.TopologySpreadConstraint{
			MaxSkew: 1, TopologyKey: corev1.LabelHostname,
			WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &term,
		})
		if pod.Spec.Affinity == nil {
			pod.Spec.Affinity = &corev1.Affinity{}
		}
		if pod.Spec.Affinity.PodAntiAffinity == nil {
			pod.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{}
		}
		anti := pod.Spec.Affinity.PodAntiAffinity
		anti.RequiredDuringSchedulingIgnoredDuringExecution = append(anti.RequiredDuringSchedulingIgnoredDuringExecution,
			corev1.PodAffinityTerm{LabelSelector: &term, TopologyKey: corev1.LabelHostname})
	default:
		// CostOptimized packs the Spot replicas onto as few nodes as possible.
		if pod.Spec.Affinity == nil {
			pod.Spec.Affinity = &corev1.Affinity{}
		}
		if pod.Spec.Affinity.PodAffinity == nil {
			pod.Spec.Affinity.PodAffinity = &corev1.PodAffinity{}
		}
		aff := pod.Spec.Affinity.PodAffinity
		aff.PreferredDuringSchedulingIgnoredDuringExecution = append(aff.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.WeightedPodAffinityTerm{Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{LabelSelector: &term, TopologyKey: corev1.LabelHostname}})
	}
}
