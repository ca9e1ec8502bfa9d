package render

import (
	"encoding/json"
	"slices"

	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// SteeringAnnotation on a Spot NodePool records what Steer wrote into it (the JSON of
// steering), so that the next Steer removes exactly that before writing the new state,
// whoever rendered the rest of the NodePool.
const SteeringAnnotation = "ballast.dev/spot-steering"

// steering is what Steer adds to a Spot NodePool.
type steering struct {
	// Excluded is the instance-type NotIn requirement Steer added.
	Excluded []string `json:"excluded,omitempty"`
	// Preferred is the instance-type In requirement Steer added.
	Preferred []string `json:"preferred,omitempty"`
	// DriftHold says Steer added the budget that holds drift.
	DriftHold bool `json:"driftHold,omitempty"`
}

// driftHold is the budget that keeps Karpenter from replacing drifted nodes: while an
// instance type is excluded, every running node of that type (in any zone, not only the
// reclaimed pool) no longer matches the requirements and would be replaced as drifted,
// a second disruption Ballast must not cause. Drift resumes when the exclusions end;
// the nodes of the excluded types match again by then.
func driftHold() karpv1.Budget {
	return karpv1.Budget{Nodes: "0", Reasons: []karpv1.DisruptionReason{karpv1.DisruptionReasonDrifted}}
}

// Steer writes the runtime steering state st (the ClusterPolicy's
// status.interruptions; nil means none) into np, a cluster's Spot NodePool, in place:
// an instance-type NotIn requirement for st.ExcludedInstanceTypes with a budget that
// holds drift while it is there, and an instance-type In requirement for
// st.PreferredInstanceTypes. What an earlier Steer wrote (see SteeringAnnotation) is
// removed first, so that Steer applied to a NodePool rendered from the policy and to
// the live NodePool gives the same requirements: the PolicySource's apply and the
// interruption controller write equal values and never undo each other.
func Steer(np *karpv1.NodePool, st *v1alpha1.InterruptionsStatus) {
	if old, ok := np.Annotations[SteeringAnnotation]; ok {
		var prev steering
		if json.Unmarshal([]byte(old), &prev) == nil {
			unsteer(np, prev)
		}
		delete(np.Annotations, SteeringAnnotation)
		if len(np.Annotations) == 0 {
			np.Annotations = nil
		}
	}
	var next steering
	if st != nil {
		next.Excluded = sortedSet(st.ExcludedInstanceTypes)
		// The order of the preferred types is the ranking; the requirement is a set.
		next.Preferred = sortedSet(st.PreferredInstanceTypes)
	}
	reqs := &np.Spec.Template.Spec.Requirements
	if len(next.Preferred) > 0 {
		*reqs = append(*reqs, typeRequirement(corev1.NodeSelectorOpIn, next.Preferred))
	}
	if len(next.Excluded) > 0 {
		*reqs = append(*reqs, typeRequirement(corev1.NodeSelectorOpNotIn, next.Excluded))
		np.Spec.Disruption.Budgets = append(np.Spec.Disruption.Budgets, driftHold())
		next.DriftHold = true
	}
	if len(next.Preferred) == 0 && len(next.Excluded) == 0 {
		return
	}
	data, err := json.Marshal(next)
	if err != nil {
		// Lists of strings always marshal.
		panic(err)
	}
	if np.Annotations == nil {
		np.Annotations = map[string]string{}
	}
	np.Annotations[SteeringAnnotation] = string(data)
}

// Steered returns the instance types Steer excluded from and preferred in np, read
// from its SteeringAnnotation.
func Steered(np *karpv1.NodePool) (excluded, preferred []string) {
	var s steering
	if json.Unmarshal([]byte(np.Annotations[SteeringAnnotation]), &s) != nil {
		return nil, nil
	}
	return s.Excluded, s.Preferred
}

// Unsteered returns the requirements of np without what Steer added: the supply the
// policy (or whoever wrote the NodePool) allows.
func Unsteered(np *karpv1.NodePool) []karpv1.NodeSelectorRequirementWithMinValues {
	c := np.DeepCopy()
	Steer(c, nil)
	return c.Spec.Template.Spec.Requirements
}

// unsteer removes one requirement equal to each that prev added, and the drift hold.
func unsteer(np *karpv1.NodePool, prev steering) {
	reqs := &np.Spec.Template.Spec.Requirements
	drop := func(want karpv1.NodeSelectorRequirementWithMinValues) {
		for i := len(*reqs) - 1; i >= 0; i-- {
			r := (*reqs)[i]
			if r.Key == want.Key && r.Operator == want.Operator && r.MinValues == nil && slices.Equal(r.Values, want.Values) {
				*reqs = slices.Delete(*reqs, i, i+1)
				return
			}
		}
	}
	if len(prev.Preferred) > 0 {
		drop(typeRequirement(corev1.NodeSelectorOpIn, prev.Preferred))
	}
	if len(prev.Excluded) > 0 {
		drop(typeRequirement(corev1.NodeSelectorOpNotIn, prev.Excluded))
	}
	if prev.DriftHold {
		b := &np.Spec.Disruption.Budgets
		hold := driftHold()
		for i := len(*b) - 1; i >= 0; i-- {
			x := (*b)[i]
			if x.Nodes == hold.Nodes && x.Schedule == nil && x.Duration == nil && slices.Equal(x.Reasons, hold.Reasons) {
				*b = slices.Delete(*b, i, i+1)
				break
			}
		}
	}
}

func typeRequirement(op corev1.NodeSelectorOperator, values []string) karpv1.NodeSelectorRequirementWithMinValues {
	return karpv1.NodeSelectorRequirementWithMinValues{Key: corev1.LabelInstanceTypeStable, Operator: op, Values: slices.Clone(values)}
}
