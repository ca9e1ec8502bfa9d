// Package offering judges EC2 instance types against NodePool requirements from what
// their names and shapes tell, for the runtime controllers that choose among the types
// a NodePool offers (interruption steering, the committed pools).
package offering

import (
	"slices"
	"strconv"
	"strings"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/cost"
)

// Labels are the labels Karpenter's AWS provider gives a node of instance type t and
// the capacity type, as far as its name and shape (when ok) tell.
func Labels(t, capacityType string, s cost.Shape, ok bool) map[string]string {
	family, size, _ := strings.Cut(t, ".")
	l := map[string]string{
		corev1.LabelInstanceTypeStable: t,
		karpv1.CapacityTypeLabelKey:    capacityType,
		awsv1.LabelInstanceFamily:      family,
		awsv1.LabelInstanceSize:        size,
	}
	if category, generation, ok := cost.FamilyParts(family); ok {
		l[awsv1.LabelInstanceCategory] = category
		l[awsv1.LabelInstanceGeneration] = generation
	}
	if ok {
		l[corev1.LabelArchStable] = s.Arch
		l[awsv1.LabelInstanceCPU] = strconv.Itoa(s.VCPU)
		l[awsv1.LabelInstanceMemory] = strconv.FormatInt(int64(s.MemoryGiB*1024), 10)
		l[awsv1.LabelInstanceGPUCount] = strconv.Itoa(s.GPU)
	}
	return l
}

// Allowed reports whether every requirement that names a label of the type (labels)
// admits it. Requirements on labels the type does not define here (zones, operating
// systems, custom labels) say nothing about the type and are passed.
func Allowed(reqs []karpv1.NodeSelectorRequirementWithMinValues, labels map[string]string) bool {
	for _, r := range reqs {
		v, ok := labels[r.Key]
		if !ok {
			continue
		}
		switch r.Operator {
		case corev1.NodeSelectorOpIn:
			if !slices.Contains(r.Values, v) {
				return false
			}
		case corev1.NodeSelectorOpNotIn:
			if slices.Contains(r.Values, v) {
				return false
			}
		case corev1.NodeSelectorOpDoesNotExist:
			return false
		case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
			n, err1 := strconv.ParseInt(v, 10, 64)
			if len(r.Values) != 1 {
				return false
			}
			bound, err2 := strconv.ParseInt(r.Values[0], 10, 64)
			if err1 != nil || err2 != nil {
				return false
			}
			if (r.Operator == corev1.NodeSelectorOpGt && n <= bound) || (r.Operator == corev1.NodeSelectorOpLt && n >= bound) {
				return false
			}
		}
	}
	return true
}
