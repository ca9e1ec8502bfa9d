package spotrank

import (
	"fmt"
	"slices"

	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

const region = "eu-west-1"

// book is a PriceBook and ShapeBook of made-up types, priced in region only.
type book map[string]bookEntry

type bookEntry struct {
	vcpu int
	// memory is in GiB: 2, 4 or 8 per vCPU for the categories c, m and r, else 4.
	memory float64
	// spot is the Spot price per hour; 0 means unpriced.
	spot float64
}

var _ cost.ShapeBook = book{}

func (b book) Price(r, instanceType, capacityType string) (float64, bool) {
	e, ok := b[instanceType]
	if !ok || r != region || capacityType != cost.Spot || e.spot == 0 {
		return 0, false
	}
	return e.spot, true
}

func (b book) Shape(instanceType string) (cost.Shape, bool) {
	e, ok := b[instanceType]
	return cost.Shape{VCPU: e.vcpu, MemoryGiB: e.memory, Arch: "amd64", MaxPods: 29}, ok
}

func (b book) InstanceTypes() []string {
	out := make([]string, 0, len(b))
	for t := range b {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// sizes are the sizes family adds, smallest first: large (2 vCPUs), xlarge (4), then
// 2xlarge, 4xlarge, ...
var sizes = []string{"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge", "48xlarge"}

// family adds n sizes of family f at perVCPU dollars per vCPU-hour (0: unpriced).
func (b book) family(f string, n int, perVCPU float64) book {
	perVCPUMemory := map[byte]float64{'c': 2, 'm': 4, 'r': 8}[f[0]]
	if perVCPUMemory == 0 {
		perVCPUMemory = 4
	}
	for i := range n {
		vcpu := 2 << i
		b[fmt.Sprintf("%s.%s", f, sizes[i])] = bookEntry{vcpu: vcpu, memory: perVCPUMemory * float64(vcpu), spot: perVCPU * float64(vcpu)}
	}
	return b
}

// types lists n sizes of family f, smallest first.
func types(f string, n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = f + "." + sizes[i]
	}
	return out
}

// policy is a defaulted ClusterPolicy in region with the strategy and, when positive,
// minInstanceTypes.
func policy(strategy v1alpha1.Strategy, minInstanceTypes int32) *v1alpha1.ClusterPolicy {
	p := &v1alpha1.ClusterPolicy{}
	p.Name = "prod"
	p.Spec.Cluster.Name = "prod"
	p.Spec.Cluster.Region = region
	p.Spec.Spot.Strategy = strategy
	if minInstanceTypes > 0 {
		p.Spec.Spot.Interruptions.MinInstanceTypes = ptr.To(minInstanceTypes)
	}
	p.Default()
	return p
}

// scoresOf gives every type of each family the family's score.
func scoresOf(b book, families map[string]int32) map[string]int32 {
	out := map[string]int32{}
	for t := range b {
		if s, ok := families[family(t)]; ok {
			out[t] = s
		}
	}
	return out
}

// names are the instance types of ranked, in order.
func names(ranked []Ranked) []string {
	out := make([]string, len(ranked))
	for i, r := range ranked {
		out[i] = r.InstanceType
	}
	return out
}
