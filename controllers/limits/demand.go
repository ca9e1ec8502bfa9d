package limits

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// UnschedulableIndex is the field index of pods by whether the scheduler reported
// them unschedulable ("true"), so that demand is found without listing every pod.
const UnschedulableIndex = "ballast.dev/unschedulable"

// Unschedulable reports whether a pod waits for capacity: not bound, not finished or
// terminating, and marked unschedulable by the scheduler.
func Unschedulable(pod *podstore.Pod) bool {
	if pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
		}
	}
	return false
}

// IndexUnschedulable is the indexer function of UnschedulableIndex.
func IndexUnschedulable(pod *podstore.Pod) []string {
	if Unschedulable(pod) {
		return []string{"true"}
	}
	return nil
}

// unschedulable reports whether an event's object is an unschedulable pod.
func unschedulable(o client.Object) bool {
	pod, ok := podstore.Of(o)
	return ok && Unschedulable(pod)
}

// poolOf returns the name of the pool a pending pod is headed for: the pool whose
// capacity type the pod selects (Ballast's placement, or the pod's own node
// selector); for a pod that selects none, the Spot pool when it tolerates Spot nodes
// (Karpenter tries the higher weight first), else the On-Demand pool. "" when the
// cluster has no such pool.
func poolOf(pod *podstore.Pod, pools []*karpv1.NodePool) string {
	want := pod.Spec.NodeSelector[karpv1.CapacityTypeLabelKey]
	if want == "" {
		want = pod.Spec.NodeSelector[v1alpha1.CapacityLabel]
	}
	if want == "" {
		want = v1alpha1.CapacityOnDemand
		if slices.ContainsFunc(pod.Spec.Tolerations, func(t corev1.Toleration) bool {
			return t.Key == v1alpha1.CapacityTaintKey && (t.Operator == corev1.TolerationOpExists || t.Value == v1alpha1.CapacitySpot) ||
				t.Key == "" && t.Operator == corev1.TolerationOpExists
		}) {
			want = v1alpha1.CapacitySpot
		}
	}
	for _, np := range pools {
		if np.Spec.Template.Labels[v1alpha1.CapacityLabel] == want {
			return np.Name
		}
	}
	return ""
}

// requestedMilliCPU is what the pod's containers request (the larger of the sum of
// its containers and its largest init container, as the scheduler counts it).
func requestedMilliCPU(pod *podstore.Pod) int64 {
	var sum, initMax int64
	for _, c := range pod.Spec.Containers {
		sum += c.Resources.Requests.Cpu().MilliValue()
	}
	for _, c := range pod.Spec.InitContainers {
		initMax = max(initMax, c.Resources.Requests.Cpu().MilliValue())
	}
	return max(sum, initMax, 1)
}
