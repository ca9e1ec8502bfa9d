package distribution

import (
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// capacityTypeKey is Karpenter's node label for the capacity type.
const capacityTypeKey = "karpenter.sh/capacity-type"

// capacityKeys are the node labels that say a node's capacity type: Karpenter's and
// the one Ballast's NodePools add.
var capacityKeys = []string{capacityTypeKey, v1alpha1.CapacityLabel}

// neutralKeyPrefixes and neutralKeys are node labels every Ballast NodePool can
// satisfy (Karpenter and well-known labels that vary per instance type or zone): a
// pod that selects nodes by them alone can still be placed on either capacity type.
var (
	neutralKeyPrefixes = []string{"karpenter.k8s.aws/", "karpenter.kwok.sh/"}
	neutralKeys        = []string{
		corev1.LabelArchStable, corev1.LabelOSStable, corev1.LabelTopologyZone, corev1.LabelTopologyRegion,
		corev1.LabelInstanceTypeStable, corev1.LabelFailureDomainBetaZone, corev1.LabelFailureDomainBetaRegion,
		corev1.LabelInstanceType, "kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/os",
	}
)

// choice is what a pod's own scheduling constraints say about where it may run.
type choice struct {
	// pinned: the pod chooses its capacity type itself (a node selector or a required
	// node affinity on the capacity-type label). Ballast counts it as what it is and
	// never moves it.
	pinned bool
	// allowsSpot: a pinned pod may run on Spot, so it needs Ballast's Spot toleration.
	allowsSpot bool
	// foreign names a node label the pod requires that Ballast's NodePools may not
	// have (e.g. karpenter.sh/nodepool, a node group, a hostname, a team label), or ""
	// when none: drift correction leaves such a workload alone and never moves such a
	// pod unplaced. (The webhook judges pods by the NodePools they can land on: Fit.)
	foreign string
}

// chooses reads a pod spec's node selector and required node affinity.
func chooses(spec *corev1.PodSpec) choice {
	var c choice
	spot := true // whether the constraints let the pod onto a Spot node
	for _, k := range slices.Sorted(maps.Keys(spec.NodeSelector)) {
		switch {
		case slices.Contains(capacityKeys, k):
			c.pinned = true
			spot = spot && spec.NodeSelector[k] == v1alpha1.CapacitySpot
		case !neutral(k) && c.foreign == "":
			c.foreign = k
		}
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		anyTermSpot := false
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			termSpot := true
			for _, e := range term.MatchExpressions {
				switch {
				case slices.Contains(capacityKeys, e.Key):
					c.pinned = true
					termSpot = termSpot && requirementAllows(e, v1alpha1.CapacitySpot)
				case !neutral(e.Key) && c.foreign == "":
					c.foreign = e.Key
				}
			}
			for _, f := range term.MatchFields {
				if c.foreign == "" {
					c.foreign = f.Key // metadata.name: a pod bound to named nodes
				}
			}
			// The terms are ORed: Spot is allowed when any term allows it.
			anyTermSpot = anyTermSpot || termSpot
		}
		spot = spot && anyTermSpot
	}
	c.allowsSpot = c.pinned && spot
	return c
}

// requirementAllows reports whether a node with label value v satisfies e.
func requirementAllows(e corev1.NodeSelectorRequirement, v string) bool {
	switch e.Operator {
	case corev1.NodeSelectorOpIn:
		return slices.Contains(e.Values, v)
	case corev1.NodeSelectorOpNotIn:
		return !slices.Contains(e.Values, v)
	case corev1.NodeSelectorOpExists:
		return true
	}
	return false // DoesNotExist, Gt, Lt never hold for a capacity type
}

func neutral(key string) bool {
	if slices.Contains(neutralKeys, key) {
		return true
	}
	for _, p := range neutralKeyPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// spotToleration lets a pod onto the tainted Spot nodes Ballast renders.
var spotToleration = corev1.Toleration{
	Key: v1alpha1.CapacityTaintKey, Operator: corev1.TolerationOpEqual,
	Value: v1alpha1.CapacitySpot, Effect: corev1.TaintEffectNoSchedule,
}

// spotTaint is the taint of Ballast's Spot nodes.
var spotTaint = corev1.Taint{Key: v1alpha1.CapacityTaintKey, Value: v1alpha1.CapacitySpot, Effect: corev1.TaintEffectNoSchedule}

// toleratesSpot reports whether the tolerations already let a pod onto Spot nodes
// (including a toleration of every taint).
func toleratesSpot(tolerations []corev1.Toleration) bool {
	for _, t := range tolerations {
		if t.Effect != "" && t.Effect != spotTaint.Effect {
			continue
		}
		switch {
		case t.Key == "" && t.Operator == corev1.TolerationOpExists:
			return true
		case t.Key != spotTaint.Key:
		case t.Operator == corev1.TolerationOpExists, t.Value == spotTaint.Value:
			return true
		}
	}
	return false
}

// addSpotToleration adds the Spot toleration unless the pod tolerates the taint
// already; it reports whether it changed anything.
func addSpotToleration(spec *corev1.PodSpec) bool {
	if toleratesSpot(spec.Tolerations) {
		return false
	}
	spec.Tolerations = append(spec.Tolerations, spotToleration)
	return true
}
