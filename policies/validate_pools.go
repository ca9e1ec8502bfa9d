package policies

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/scheduling"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// EC2NodeClass references: the group and kind a NodePool's nodeClassRef names an
// EC2NodeClass with.
const (
	ec2NodeClassGroup = "karpenter.k8s.aws"
	ec2NodeClassKind  = "EC2NodeClass"
)

// nodePools checks spec.nodeClasses and spec.nodePools: what Karpenter's CRDs cannot
// say (object names, references between them, Ballast's layer). Karpenter's own schema
// and rules are checked on the rendered objects (karpenter-rejects).
func (v *validator) nodePools(d *Document, s *v1alpha1.ClusterPolicySpec) {
	cluster := s.Cluster.Name
	classes := map[string]int{}
	for i := range s.NodeClasses {
		f := fmt.Sprintf("spec.nodeClasses[%d].name", i)
		name := s.NodeClasses[i].Name
		if !v.objectName(d, f, cluster, name, "an EC2NodeClass") {
			continue
		}
		if first, dup := classes[name]; dup {
			v.errorf(d, f, RuleDuplicateName, "EC2NodeClass %q is already defined by spec.nodeClasses[%d]: give each its own name", name, first)
			continue
		}
		classes[name] = i
	}
	pools := map[string]int{}
	for i := range s.NodePools {
		np := &s.NodePools[i]
		prefix := fmt.Sprintf("spec.nodePools[%d]", i)
		if v.objectName(d, prefix+".name", cluster, np.Name, "a NodePool") {
			if first, dup := pools[np.Name]; dup {
				v.errorf(d, prefix+".name", RuleDuplicateName, "NodePool %q is already defined by spec.nodePools[%d]: give each its own name", np.Name, first)
			} else {
				pools[np.Name] = i
			}
		}
		v.windowList(d, prefix+".maintenanceWindows", np.MaintenanceWindows, s, true)
		if ref := np.Spec.Template.Spec.NodeClassRef; ref != nil && ref.Group == ec2NodeClassGroup && ref.Kind == ec2NodeClassKind && ref.Name != "" {
			if _, ok := classes[ref.Name]; !ok && ref.Name != v1alpha1.SupplyNodeClassName(cluster) {
				v.warnf(d, prefix+".spec.template.spec.nodeClassRef.name", RuleExternalNodeClass,
					"EC2NodeClass %q is neither in spec.nodeClasses nor the default node class %s: it must exist in the cluster, or Karpenter launches nothing for this pool", ref.Name, v1alpha1.SupplyNodeClassName(cluster))
			}
		}
		if np.Split {
			v.splitPool(d, prefix, np)
		}
		if np.Commitments && (s.Commitments == nil || !s.Commitments.Enabled) {
			v.warnf(d, prefix+".commitments", RuleIgnoredField,
				"the pool fills the cluster's commitments, but spec.commitments is not enabled, so there are none to fill: enable spec.commitments, or remove commitments here")
		}
	}
	// A pool that fills commitments has a committed NodePool <name>-committed beside it.
	for i := range s.NodePools {
		np := &s.NodePools[i]
		if !np.Commitments {
			continue
		}
		sibling := np.Name + "-committed"
		if j, taken := pools[sibling]; taken {
			v.errorf(d, fmt.Sprintf("spec.nodePools[%d].name", j), RuleDuplicateName,
				"%s is the name of the committed NodePool of spec.nodePools[%d] (commitments: true): give this pool another name", sibling, i)
		}
	}
}

// objectName checks the name of a NodePool or EC2NodeClass of the policy: an object
// name that is not one of the default supply's.
func (v *validator) objectName(d *Document, field, cluster, name, what string) bool {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		v.errorf(d, field, RuleInvalidValue, "%q is not a valid name for %s: %s", name, what, strings.Join(errs, "; "))
		return false
	}
	if why := v1alpha1.ReservedName(cluster, name); why != "" {
		v.errorf(d, field, RuleDuplicateName, "%s: give this one another name", why)
		return false
	}
	return true
}

// splitPool warns when split is on for a pool whose requirements offer a single
// capacity type (a pool without a karpenter.sh/capacity-type requirement offers every
// type): each pod gets that type.
func (v *validator) splitPool(d *Document, prefix string, np *v1alpha1.NodePool) {
	capacity := scheduling.NewNodeSelectorRequirementsWithMinValues(np.Spec.Template.Spec.Requirements...).Get(karpv1.CapacityTypeLabelKey)
	spot, onDemand := capacity.Has(karpv1.CapacityTypeSpot), capacity.Has(karpv1.CapacityTypeOnDemand)
	if spot == onDemand {
		// Both: the split divides the pods. Neither: Karpenter refuses the pool or it
		// launches only reserved capacity; nothing to split either way, said elsewhere.
		return
	}
	offered := v1alpha1.CapacityOnDemand
	if spot {
		offered = v1alpha1.CapacitySpot
	}
	v.warnf(d, prefix+".split", RuleIgnoredField,
		"the pool offers only %s (its karpenter.sh/capacity-type requirement), so the split cannot divide its pods: each gets %s; offer both to split them", offered, offered)
}
