package render

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kwokv1alpha1 "sigs.k8s.io/karpenter/kwok/apis/v1alpha1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Target is the cloud the NodePools are rendered for.
type Target string

const (
	// TargetAWS renders an EC2NodeClass and AWS instance requirements (the default).
	TargetAWS Target = "aws"
	// TargetKwok renders for Karpenter's kwok provider, which launches fake nodes from
	// a built-in catalogue (`ballast dev` and the end-to-end tests): a KWOKNodeClass
	// instead of the EC2NodeClass, and the instance supply translated to what kwok's
	// instance types carry. Everything else (NodePools, taints, weights, budgets,
	// policy objects) is identical.
	TargetKwok Target = "kwok"
)

const (
	kwokNodeClassAPIVersion = "karpenter.kwok.sh/v1alpha1"
	kwokNodeClassKind       = "KWOKNodeClass"
	kwokNodeClassGroup      = "karpenter.kwok.sh"
)

// kwokFamilies are the instance families of kwok's catalogue; AWS categories with the
// same letter map onto them.
var kwokFamilies = []string{"c", "m", "s"}

// kwokNodeClass renders the KWOKNodeClass ballast-<cluster>.
func kwokNodeClass(p *v1alpha1.ClusterPolicy, labels map[string]string) *kwokv1alpha1.KWOKNodeClass {
	return &kwokv1alpha1.KWOKNodeClass{
		TypeMeta:   metav1.TypeMeta{APIVersion: kwokNodeClassAPIVersion, Kind: kwokNodeClassKind},
		ObjectMeta: metav1.ObjectMeta{Name: NodeClassName(p.Spec.Cluster.Name), Labels: labels},
	}
}

// kwokRequirements translates AWS requirements to kwok's catalogue: capacity type,
// architecture and operating system stay; categories become kwok's families (c, m, s);
// vCPU ranges become karpenter.kwok.sh/instance-cpu; zones become kwok's zones by their
// letter (eu-west-1a is test-zone-a). What kwok's types do not carry (AWS families,
// generations, memory in MiB, AWS instance type names) is left out.
func kwokRequirements(reqs []karpv1.NodeSelectorRequirementWithMinValues, region string) []karpv1.NodeSelectorRequirementWithMinValues {
	var out []karpv1.NodeSelectorRequirementWithMinValues
	for _, r := range reqs {
		r = *r.DeepCopy()
		switch r.Key {
		case karpv1.CapacityTypeLabelKey, corev1.LabelArchStable, corev1.LabelOSStable:
			out = append(out, r)
		case "karpenter.k8s.aws/instance-category":
			var fams []string
			for _, v := range r.Values {
				if slices.Contains(kwokFamilies, v) {
					fams = append(fams, v)
				}
			}
			if len(fams) > 0 {
				r.Key, r.Values = kwokv1alpha1.InstanceFamilyLabelKey, fams
				out = append(out, r)
			}
		case "karpenter.k8s.aws/instance-cpu":
			r.Key = kwokv1alpha1.InstanceCPULabelKey
			out = append(out, r)
		case corev1.LabelTopologyZone:
			var zones []string
			for _, v := range r.Values {
				if letter, ok := strings.CutPrefix(v, region); ok && len(letter) == 1 && letter >= "a" && letter <= "d" {
					zones = append(zones, "test-zone-"+letter)
				}
			}
			if len(zones) > 0 && r.Operator == corev1.NodeSelectorOpIn {
				r.Values = zones
				out = append(out, r)
			}
		}
	}
	return out
}
