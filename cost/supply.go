package cost

import (
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// familyScheme splits an instance family the way Karpenter's AWS provider labels it:
// category, an optional memory part (u-6tb1), generation, then attributes.
var familyScheme = regexp.MustCompile(`^([a-z]+)(-[0-9]+tb)?([0-9]+)(.*)$`)

// FamilyParts returns the category (m, c, r, u...) and generation of an instance family
// (m6i, u-6tb1), as Karpenter's AWS provider labels them; ok is false for a name that
// is not an EC2 family.
func FamilyParts(family string) (category, generation string, ok bool) {
	m := familyScheme.FindStringSubmatch(family)
	if m == nil {
		return "", "", false
	}
	return m[1], m[3], true
}

// allowedBy reports whether the policy's instance supply allows the instance type,
// judged from its name and shape the way the rendered NodePool requirements would.
func allowedBy(in *v1alpha1.InstancesSpec, instanceType string, s Shape) bool {
	family, _, _ := strings.Cut(instanceType, ".")
	switch {
	case slices.Contains(in.Exclude, instanceType):
		return false
	case len(in.Include) > 0 && !slices.Contains(in.Include, instanceType):
		return false
	case len(in.Families) > 0 && !slices.Contains(in.Families, family):
		return false
	}
	archs := in.Architectures
	if len(archs) == 0 {
		archs = []string{v1alpha1.DefaultArchitecture}
	}
	if !slices.Contains(archs, s.Arch) {
		return false
	}
	if category, generation, ok := FamilyParts(family); ok {
		if len(in.Categories) > 0 && !slices.Contains(in.Categories, category) {
			return false
		}
		if gen, err := strconv.Atoi(generation); err == nil && in.MinGeneration != nil && gen < int(*in.MinGeneration) {
			return false
		}
	}
	if r := in.CPU; r != nil {
		if (r.Min != nil && s.VCPU < int(*r.Min)) || (r.Max != nil && s.VCPU > int(*r.Max)) {
			return false
		}
	}
	if r := in.Memory; r != nil {
		mem := int64(s.MemoryGiB * (1 << 30))
		if (r.Min != nil && mem < r.Min.Value()) || (r.Max != nil && mem > r.Max.Value()) {
			return false
		}
	}
	return true
}

// Karpenter's AWS provider defaults for what pods may request on a node, which
// EstimateForPolicy plans with:
//   - kube-reserved CPU: 6% of the first core, 1% of the second, 0.5% of the third
//     and fourth, 0.25% of every further core (rounded up to a millicore);
//   - memory: the nominal memory less the 7.5% VM overhead Karpenter assumes
//     (vmMemoryOverheadPercent), less kube-reserved 255Mi + 11Mi per pod the node
//     can run (maxPods), less the 100Mi eviction threshold.
const (
	vmMemoryOverhead  = 0.075
	kubeReservedBase  = 255 << 20
	kubeReservedPod   = 11 << 20
	evictionThreshold = 100 << 20
)

// Allocatable returns what pods may request on a node of the shape (all of its
// GPUs), and how many pods it runs.
func Allocatable(s Shape) (Resources, int) {
	cores := float64(s.VCPU)
	reserved := 60*min(cores, 1) + 10*min(max(cores-1, 0), 1) + 5*min(max(cores-2, 0), 2) + 2.5*max(cores-4, 0)
	cpu := int64(s.VCPU)*1000 - int64(math.Ceil(reserved))
	memory := int64(math.Floor(s.MemoryGiB*(1<<30)*(1-vmMemoryOverhead))) -
		kubeReservedBase - kubeReservedPod*int64(s.MaxPods) - evictionThreshold
	return Resources{MilliCPU: cpu, Memory: memory, GPU: int64(s.GPU)}, s.MaxPods
}

// normalizationFactor is the size of an instance in the units that make regional
// Reserved Instances size-flexible within a family (large = 4, xlarge = 8, 2xlarge =
// 16, ...); 0 when the size has none (metal), and the reservation fits its type only.
func normalizationFactor(instanceType string) float64 {
	_, size, _ := strings.Cut(instanceType, ".")
	switch size {
	case "nano":
		return 0.25
	case "micro":
		return 0.5
	case "small":
		return 1
	case "medium":
		return 2
	case "large":
		return 4
	case "xlarge":
		return 8
	}
	if n, err := strconv.Atoi(strings.TrimSuffix(size, "xlarge")); err == nil && strings.HasSuffix(size, "xlarge") && n > 0 {
		return 8 * float64(n)
	}
	return 0
}

func familyOf(instanceType string) string {
	f, _, _ := strings.Cut(instanceType, ".")
	return f
}

// InstanceTypesFor lists, sorted, the instance types an estimate of w under the
// policy may need prices for: the types of its nodes and, when it has workloads to
// place, every type the book has a shape for that the policy's supply (and
// w.InstanceTypes) allows (GPU types only when a workload requests GPUs), and the
// types of the policy's Reserved Instances. A caller fetching live prices asks for
// these.
func InstanceTypesFor(policy *v1alpha1.ClusterPolicy, w *Workload, prices PriceBook) []string {
	shapes, ok := prices.(ShapeBook)
	if !ok {
		shapes = DefaultCatalogue()
	}
	var out []string
	for _, n := range w.Nodes {
		out = append(out, n.InstanceType)
	}
	if len(w.Apps) > 0 {
		gpus := slices.ContainsFunc(w.Apps, func(a App) bool { return a.Requests.GPU > 0 && a.Accelerator == "" })
		for _, t := range shapes.InstanceTypes() {
			s, _ := shapes.Shape(t)
			if (s.GPU == 0 || gpus) && (len(w.InstanceTypes) == 0 || slices.Contains(w.InstanceTypes, t)) && allowedBy(&policy.Spec.Instances, t, s) {
				out = append(out, t)
			}
		}
	}
	if c := policy.Spec.Commitments; c != nil {
		for _, ri := range c.ReservedInstances {
			out = append(out, ri.InstanceType)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// SupplyTypes lists, sorted, the instance types without GPUs that the book has a shape
// for (the default catalogue's when it is not a ShapeBook) and the policy's supply
// allows: what a Savings Plan's unused budget could buy (Unused's candidates).
func SupplyTypes(policy *v1alpha1.ClusterPolicy, prices PriceBook) []string {
	shapes, ok := prices.(ShapeBook)
	if !ok {
		shapes = DefaultCatalogue()
	}
	var out []string
	for _, t := range shapes.InstanceTypes() {
		if s, _ := shapes.Shape(t); s.GPU == 0 && allowedBy(&policy.Spec.Instances, t, s) {
			out = append(out, t)
		}
	}
	return out
}
