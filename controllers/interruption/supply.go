package interruption

import (
	"slices"

	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/controllers/internal/offering"
	"github.com/ballast-dev/ballast/cost"
)

// Supply lists the instance types a Spot NodePool with requirements reqs offers: the
// types of the catalogue (shapes) it allows, and those of seen (types running or
// reclaimed, which a catalogue may not know) that its requirements allow as far as
// their names tell. Sorted.
func Supply(reqs []karpv1.NodeSelectorRequirementWithMinValues, shapes cost.ShapeBook, seen ...string) []string {
	var out []string
	for _, t := range shapes.InstanceTypes() {
		s, ok := shapes.Shape(t)
		if offering.Allowed(reqs, offering.Labels(t, karpv1.CapacityTypeSpot, s, ok)) {
			out = append(out, t)
		}
	}
	for _, t := range seen {
		if _, known := shapes.Shape(t); known || t == "" {
			continue
		}
		if offering.Allowed(reqs, offering.Labels(t, karpv1.CapacityTypeSpot, cost.Shape{}, false)) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
