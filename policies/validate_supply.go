package policies

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// minSpotToSpotTypes is how many instance types the supply needs for Karpenter's
// single-node spot-to-spot consolidation: Karpenter replaces a Spot node only when at
// least 15 types cheaper than it fit (MinInstanceTypesForSpotToSpotConsolidation), so
// the supply needs those 15 plus the node's own type.
const minSpotToSpotTypes = 16

// familyScheme splits an instance family the way Karpenter's AWS provider labels it:
// category, an optional memory part (u-6tb1), generation, then attributes.
var familyScheme = regexp.MustCompile(`^([a-z]+)(-[0-9]+tb)?([0-9]+)(.*)$`)

// family is what the name of an instance family tells.
type family struct {
	category string
	gen      int
	arch     string
}

// parseFamily reads a family name. Graviton (arm64) families have a "g" among their
// attributes (m7g, c6gn, r8gd, im4gn, is4gen), and a1 is the first Graviton.
func parseFamily(name string) (family, bool) {
	m := familyScheme.FindStringSubmatch(name)
	if m == nil {
		return family{}, false
	}
	gen, err := strconv.Atoi(m[3])
	if err != nil {
		return family{}, false
	}
	arch := "amd64"
	if name == "a1" || strings.Contains(m[4], "g") {
		arch = "arm64"
	}
	return family{category: m[1], gen: gen, arch: arch}, true
}

// sizeVCPUs returns the vCPUs of the sizes whose count the name fixes (large: 2,
// xlarge: 4, Nxlarge: 4N), outside the hpc category whose cores are not hyperthreaded.
func sizeVCPUs(category, size string) (int, bool) {
	if category == "hpc" {
		return 0, false
	}
	switch {
	case size == "large":
		return 2, true
	case size == "xlarge":
		return 4, true
	case strings.HasSuffix(size, "xlarge"):
		n, err := strconv.Atoi(strings.TrimSuffix(size, "xlarge"))
		return 4 * n, err == nil && n > 0
	}
	return 0, false
}

// supply is the instance supply of a ClusterPolicy: the requirements a Karpenter
// NodePool ANDs together.
type supply struct {
	in     *v1alpha1.InstancesSpec
	archs  []string
	cpuMin int
	cpuMax int // -1 when open
}

func newSupply(in *v1alpha1.InstancesSpec) supply {
	s := supply{in: in, archs: in.Architectures, cpuMax: -1}
	if len(s.archs) == 0 {
		s.archs = []string{v1alpha1.DefaultArchitecture}
	}
	if in.CPU != nil {
		s.cpuMin = int(ptr.Deref(in.CPU.Min, 0))
		if in.CPU.Max != nil {
			s.cpuMax = int(*in.CPU.Max)
		}
	}
	return s
}

// allowsFamily returns "" when the supply may use the family, else why not.
func (s supply) allowsFamily(name string) string {
	f, ok := parseFamily(name)
	switch {
	case len(s.in.Families) > 0 && !slices.Contains(s.in.Families, name):
		return "its family is not in instances.families"
	case !ok:
		return ""
	case len(s.in.Categories) > 0 && !slices.Contains(s.in.Categories, f.category):
		return fmt.Sprintf("its category %s is not in instances.categories", f.category)
	case s.in.MinGeneration != nil && f.gen < int(*s.in.MinGeneration):
		return fmt.Sprintf("its generation %d is older than instances.minGeneration %d", f.gen, *s.in.MinGeneration)
	case !slices.Contains(s.archs, f.arch):
		return fmt.Sprintf("it is %s and instances.architectures allows only %s", f.arch, strings.Join(s.archs, ", "))
	}
	return ""
}

// allowsType returns "" when the supply may use the instance type, else why not.
func (s supply) allowsType(t string) string {
	name, size, _ := strings.Cut(t, ".")
	switch {
	case slices.Contains(s.in.Exclude, t):
		return "it is in instances.exclude"
	case len(s.in.Include) > 0 && !slices.Contains(s.in.Include, t):
		return "it is not in instances.include"
	}
	if why := s.allowsFamily(name); why != "" {
		return why
	}
	f, _ := parseFamily(name)
	if n, ok := sizeVCPUs(f.category, size); ok && (n < s.cpuMin || (s.cpuMax >= 0 && n > s.cpuMax)) {
		return fmt.Sprintf("its %d vCPUs are outside instances.cpu", n)
	}
	return ""
}

// ladder is an upper bound on the sizes of one instance family, by vCPUs. Families
// have at most one size per vCPU count from large up, plus medium (1 vCPU, or 2 in
// burstable families that also have nano, micro and small), up to three sizes above
// 48xlarge (56xlarge, 112xlarge, 224xlarge) and two bare-metal sizes, which have at
// least 48 vCPUs (a1.metal, with 16, excepted).
var ladder = []int{4, 8, 12, 16, 24, 32, 36, 48, 64, 72, 96, 128, 192}

func (s supply) fits(n int) bool { return n >= s.cpuMin && (s.cpuMax < 0 || n <= s.cpuMax) }

// maxSizes bounds how many instance types of a family fit the CPU range.
func (s supply) maxSizes(name string) int {
	f, _ := parseFamily(name)
	n := 0
	small := s.fits(1) || s.fits(2)
	switch {
	case f.category == "t" && small:
		n += 4 // nano, micro, small, medium
	case small:
		n++ // medium
	}
	if s.fits(2) {
		n++ // large
	}
	for _, c := range ladder {
		if s.fits(c) && (f.category != "t" || c <= 8) {
			n++
		}
	}
	if f.category != "t" {
		if s.cpuMax < 0 || s.cpuMax > 192 {
			n += 3
		}
		metalMin := 48
		if name == "a1" {
			metalMin = 16
		}
		if s.cpuMax < 0 || s.cpuMax >= metalMin {
			n += 2
		}
	}
	return n
}

// spotTypes estimates from above how many instance types the supply allows: exactly
// from an include list; from a families list, the families times the sizes that fit
// the CPU range (see ladder). With neither, the supply is too wide to estimate.
func (s supply) spotTypes() (int, string, bool) {
	switch {
	case len(s.in.Include) > 0:
		seen := map[string]bool{}
		for _, t := range s.in.Include {
			if !seen[t] && s.allowsType(t) == "" {
				seen[t] = true
			}
		}
		return len(seen), fmt.Sprintf("instances.include leaves %d usable types", len(seen)), true
	case len(s.in.Families) > 0:
		n, fams := 0, 0
		for _, f := range s.in.Families {
			if s.allowsFamily(f) == "" {
				n += s.maxSizes(f)
				fams++
			}
		}
		return n, fmt.Sprintf("%d families with %s allow at most %d types", fams, s.cpuText(), n), true
	}
	return 0, "", false
}

func (s supply) cpuText() string {
	switch {
	case s.cpuMax >= 0:
		return fmt.Sprintf("%d to %d vCPUs", s.cpuMin, s.cpuMax)
	case s.cpuMin > 0:
		return fmt.Sprintf("at least %d vCPUs", s.cpuMin)
	}
	return "any number of vCPUs"
}

// capacity runs the checks that need the whole policy and the rules applying to it.
func (v *validator) capacity(p *ClusterPolicyDoc) {
	d, spec := p.Document, &p.Policy.Spec
	s := newSupply(&spec.Instances)
	empty := v.emptySupply(d, s)
	spotOn := spec.Spot.Enabled == nil || *spec.Spot.Enabled
	if spec.BinPacking.SpotToSpotConsolidation {
		n, how, known := s.spotTypes()
		switch {
		case !spotOn:
			v.warnf(d, "spec.binPacking.spotToSpotConsolidation", RuleIgnoredField, "spot-to-spot consolidation has no effect while Spot is disabled: remove it")
		case known && !empty && n < minSpotToSpotTypes:
			v.warnf(d, "spec.binPacking.spotToSpotConsolidation", RuleNarrowSpotSupply,
				"Karpenter replaces a single Spot node only when at least 15 cheaper instance types fit, so it needs %d types in the supply, but %s: widen the supply (more families, a wider cpu range) or set spotToSpotConsolidation: false",
				minSpotToSpotTypes, how)
		}
	}
	if m := spec.Spot.Interruptions.MinInstanceTypes; m != nil && spotOn && !empty {
		if n, how, known := s.spotTypes(); known && n <= int(*m) {
			v.warnf(d, "spec.spot.interruptions.minInstanceTypes", RuleNarrowSpotSupply,
				"interruption steering leaves an instance type out only while at least %d stay, but %s: no reclaimed type can ever be left out; lower minInstanceTypes or widen the supply",
				*m, how)
		}
	}
	rules := v.rulesFor(spec.Cluster.Name)
	v.limits(d, spec, rules)
	if !spotOn {
		v.spotDisabled(d, spec, rules)
	}
	if c := spec.Commitments; c != nil && c.Enabled && !empty {
		v.commitmentSupply(d, s, c)
	}
}

// rulesFor returns the rules that apply to a cluster.
func (v *validator) rulesFor(cluster string) []*RuleDoc {
	var out []*RuleDoc
	for _, rd := range v.repo.Rules {
		if len(rd.Rule.Spec.Clusters) == 0 || slices.Contains(rd.Rule.Spec.Clusters, cluster) {
			out = append(out, rd)
		}
	}
	return out
}

// emptySupply reports requirements that allow no instance type, and whether it did.
func (v *validator) emptySupply(d *Document, s supply) bool {
	in := s.in
	if c := in.CPU; c != nil && c.Min != nil && c.Max != nil && *c.Min > *c.Max {
		v.errorf(d, "spec.instances.cpu.min", RuleEmptySupply, "cpu.min %d is greater than cpu.max %d, so no instance type fits: swap them or lower min", *c.Min, *c.Max)
		return true
	}
	if m := in.Memory; m != nil && m.Min != nil && m.Max != nil {
		switch {
		case m.Min.Cmp(*m.Max) > 0:
			v.errorf(d, "spec.instances.memory.min", RuleEmptySupply, "memory.min %s is greater than memory.max %s, so no instance type fits: swap them or lower min", m.Min.String(), m.Max.String())
			return true
		case mebibytes(*m.Min, true) > mebibytes(*m.Max, false):
			v.errorf(d, "spec.instances.memory.min", RuleEmptySupply, "Karpenter matches instance memory in whole MiB, and no whole MiB lies from memory.min %s to memory.max %s, so no instance type fits: widen the range, e.g. to whole Gi", m.Min.String(), m.Max.String())
			return true
		}
	}
	if len(in.Families) > 0 {
		var why []string
		for _, f := range in.Families {
			w := s.allowsFamily(f)
			if w == "" {
				why = nil
				break
			}
			why = append(why, fmt.Sprintf("%s (%s)", f, w))
		}
		if len(why) > 0 {
			v.errorf(d, "spec.instances.families", RuleEmptySupply, "no family can be used: %s; fix instances so that at least one family fits", strings.Join(firstN(why, 3), "; "))
			return true
		}
	}
	if len(in.Include) > 0 {
		var why []string
		for _, t := range in.Include {
			w := s.allowsType(t)
			if w == "" {
				return false
			}
			why = append(why, fmt.Sprintf("%s (%s)", t, w))
		}
		v.errorf(d, "spec.instances.include", RuleEmptySupply, "every instance type in include is ruled out: %s; fix instances so that at least one type fits", strings.Join(firstN(why, 3), "; "))
		return true
	}
	return false
}

// mebibytes converts a memory size to whole MiB as the NodePool requirement on
// karpenter.k8s.aws/instance-memory has it: rounded up for a lower bound, down for an
// upper bound.
func mebibytes(q resource.Quantity, roundUp bool) int64 {
	const mib = int64(1) << 20
	b := q.Value()
	if roundUp {
		return (b + mib - 1) / mib
	}
	return b / mib
}

func firstN(list []string, n int) []string {
	if len(list) > n {
		return append(list[:n:n], fmt.Sprintf("and %d more", len(list)-n))
	}
	return list
}

// smallest instance Ballast may launch when instances.cpu / memory set no minimum.
var (
	smallestCPU    = resource.MustParse("1")
	smallestMemory = resource.MustParse("512Mi")
)

// limits reports limits that cannot hold one node, the least the base On-Demand
// replicas need.
func (v *validator) limits(d *Document, spec *v1alpha1.ClusterPolicySpec, rules []*RuleDoc) {
	l := spec.Limits
	if l == nil {
		return
	}
	base := ""
	if n := ptr.Deref(spec.Distribution.BaseOnDemand, v1alpha1.DefaultBaseOnDemand); n > 0 {
		base = fmt.Sprintf("the cluster's distribution has baseOnDemand %d", n)
	} else {
		for _, rd := range rules {
			if n := ptr.Deref(rd.Rule.Spec.BaseOnDemand, 0); n > 0 {
				base = fmt.Sprintf("rule %s has baseOnDemand %d", ruleName(rd), n)
				break
			}
		}
	}
	report := func(field, msg, fix string) {
		if base != "" {
			v.errorf(d, field, RuleLimitsTooSmall, "%s, so no node can launch, not even one On-Demand node for the base replicas (%s): %s", msg, base, fix)
		} else {
			v.warnf(d, field, RuleLimitsTooSmall, "%s, so Ballast cannot launch any node: %s, or remove the limit", msg, fix)
		}
	}
	minCPU, minCPUText := smallestCPU, "1 vCPU, the smallest instance"
	if c := spec.Instances.CPU; c != nil && c.Min != nil && *c.Min > 1 {
		minCPU, minCPUText = *resource.NewQuantity(int64(*c.Min), resource.DecimalSI), fmt.Sprintf("%d vCPUs (instances.cpu.min)", *c.Min)
	}
	minMem, minMemText := smallestMemory, "512Mi, the smallest instance"
	if m := spec.Instances.Memory; m != nil && m.Min != nil && m.Min.Cmp(smallestMemory) > 0 {
		minMem, minMemText = *m.Min, m.Min.String()+" (instances.memory.min)"
	}
	switch {
	case l.Nodes != nil && *l.Nodes == 0:
		report("spec.limits.nodes", "limits.nodes is 0", "raise it to at least 1")
	case l.CPU != nil && l.CPU.Cmp(minCPU) < 0:
		report("spec.limits.cpu", fmt.Sprintf("limits.cpu %s is less than one node's %s", l.CPU.String(), minCPUText),
			"raise it to at least "+minCPU.String())
	case l.Memory != nil && l.Memory.Cmp(minMem) < 0:
		report("spec.limits.memory", fmt.Sprintf("limits.memory %s is less than one node's %s", l.Memory.String(), minMemText),
			"raise it to at least "+minMem.String())
	}
}

// spotDisabled warns when Spot is off but distributions still send replicas to it.
func (v *validator) spotDisabled(d *Document, spec *v1alpha1.ClusterPolicySpec, rules []*RuleDoc) {
	def := ptr.Deref(spec.Distribution.OnDemandPercent, v1alpha1.DefaultOnDemandPercent)
	var who []string
	if def < 100 {
		who = append(who, fmt.Sprintf("the cluster's distribution (onDemandPercent %d)", def))
	}
	for _, rd := range rules {
		if n := ptr.Deref(rd.Rule.Spec.OnDemandPercent, def); n < 100 {
			who = append(who, fmt.Sprintf("rule %s (onDemandPercent %d)", ruleName(rd), n))
		}
	}
	if len(who) > 0 {
		v.warnf(d, "spec.spot.enabled", RuleSpotDisabled,
			"Spot is disabled, so the Spot share of these distributions will run On-Demand: %s; set onDemandPercent: 100 where you mean On-Demand, or enable Spot", strings.Join(firstN(who, 3), ", "))
	}
}

// commitmentSupply warns about commitments for instance types the supply rules out.
func (v *validator) commitmentSupply(d *Document, s supply, c *v1alpha1.CommitmentsSpec) {
	for i, ri := range c.ReservedInstances {
		field := fmt.Sprintf("spec.commitments.reservedInstances[%d]", i)
		if why := s.allowsType(ri.InstanceType); why != "" && instanceTypePattern.MatchString(ri.InstanceType) {
			v.warnf(d, field+".instanceType", RuleCommitmentOutsideSupply,
				"%s is reserved, but the supply rules it out (%s), so Ballast cannot fill the reservation: allow it in instances, or remove it", ri.InstanceType, why)
		} else if ri.Zone != "" && len(s.in.Zones) > 0 && !slices.Contains(s.in.Zones, ri.Zone) {
			v.warnf(d, field+".zone", RuleCommitmentOutsideSupply,
				"the reservation is in zone %s, which instances.zones does not allow, so Ballast cannot fill it: add the zone to instances.zones", ri.Zone)
		}
	}
	for i, sp := range c.SavingsPlans {
		if sp.Type != "EC2Instance" || sp.Family == "" {
			continue
		}
		why := s.allowsFamily(sp.Family)
		if why == "" && len(s.in.Include) > 0 && !slices.ContainsFunc(s.in.Include, func(t string) bool {
			return strings.HasPrefix(t, sp.Family+".") && s.allowsType(t) == ""
		}) {
			why = "no type of it is in instances.include"
		}
		if why != "" {
			v.warnf(d, fmt.Sprintf("spec.commitments.savingsPlans[%d].family", i), RuleCommitmentOutsideSupply,
				"the savings plan covers family %s, but the supply rules it out (%s), so Ballast cannot use the plan: allow the family in instances, or remove the plan", sp.Family, why)
		}
	}
}
