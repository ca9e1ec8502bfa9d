package policies

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Patterns of the CRD schema (+kubebuilder:validation:Pattern), checked offline.
var (
	clusterNamePattern  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	regionPattern       = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	amiPattern          = regexp.MustCompile(`^[a-z0-9]+@(latest|v?[0-9a-zA-Z.\-]+)$`)
	instanceTypePattern = regexp.MustCompile(`^[a-z0-9-]+\.[a-z0-9-]+$`)
	familyPattern       = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	categoryPattern     = regexp.MustCompile(`^[a-z]+$`)
	datePattern         = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	dollarsPattern      = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	expireAfterPattern  = regexp.MustCompile(`^(Never|([0-9]+(s|m|h|d))+)$`)
	budgetNodesPattern  = regexp.MustCompile(`^((100|[0-9]{1,2})%|[0-9]+)$`)
	subnetIDPattern     = regexp.MustCompile(`^subnet-[0-9a-z]+$`)
	securityGroupID     = regexp.MustCompile(`^sg-[0-9a-z]+$`)
	// ebsVolumeSize is the volumeSize pattern of Karpenter's EC2NodeClass.
	ebsVolumeSize = regexp.MustCompile(`^((?:[1-9][0-9]{0,3}|[1-4][0-9]{4}|[5][0-8][0-9]{3}|59000)Gi|(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|[6][0-3][0-9]{3}|64000)G|([1-9]||[1-5][0-7]|58)Ti|([1-9]||[1-5][0-9]|6[0-3]|64)T)$`)
)

// amiFamilies are the AMI alias families Karpenter's EC2NodeClass accepts.
var amiFamilies = []string{"al2", "al2023", "bottlerocket", "windows2019", "windows2022", "windows2025"}

// Volume sizes Karpenter's EC2NodeClass accepts.
var (
	minVolumeSize = resource.MustParse("1Gi")
	maxVolumeSize = resource.MustParse("64T")
)

// maxMemory bounds instances.memory: far above any instance, and low enough that sizes
// in bytes stay exact in the int64 arithmetic of the NodePool requirements.
var maxMemory = resource.MustParse("1Ei")

// minFallbackAfter is how long Karpenter may need to try other Spot offerings (zones,
// instance types) after one runs out; falling back sooner would fall back on the
// shortage of a single pool.
const minFallbackAfter = 30 * time.Second

// fallbackTiming checks that the fallback delay and the reverse interval work
// together: a return to Spot is tried no sooner than a shortage is confirmed.
func (v *validator) fallbackTiming(d *Document, f v1alpha1.FallbackSpec) {
	after, errA := cmpOr(f.After, v1alpha1.DefaultFallbackAfter).Parse()
	reverse, errR := cmpOr(f.ReverseInterval, v1alpha1.DefaultReverseInterval).Parse()
	if errA != nil || errR != nil || after < 0 || reverse <= 0 {
		return // reported as invalid durations
	}
	switch {
	case reverse < after:
		field := "spec.spot.fallback.reverseInterval"
		if f.ReverseInterval == "" {
			field = "spec.spot.fallback.after"
		}
		v.errorf(d, field, RuleFallbackTiming, "the reverse interval (%s) is shorter than the fallback delay (%s): replicas would be sent back to Spot faster than a shortage is confirmed; make reverseInterval at least %s",
			reverse, after, after)
	case f.After != "" && after < minFallbackAfter:
		v.warnf(d, "spec.spot.fallback.after", RuleFallbackTiming, "%s is shorter than Karpenter needs to try other Spot zones and instance types after one runs out (about %s): a shortage of one pool would make every Spot replica fall back",
			after, minFallbackAfter)
	}
}

func cmpOr(d, def v1alpha1.Duration) v1alpha1.Duration {
	if d == "" {
		return def
	}
	return d
}

func (v *validator) clusterPolicy(p *ClusterPolicyDoc) {
	d, s := p.Document, &p.Policy.Spec
	v.metadata(d, p.Policy.Name, p.Policy.Namespace, false)
	v.clusterIdentity(d, &s.Cluster)
	v.nodeClass(d, &s.NodeClass)
	v.instances(d, s)
	if l := s.Limits; l != nil {
		v.nonNegative(d, "spec.limits.cpu", l.CPU)
		v.nonNegative(d, "spec.limits.memory", l.Memory)
		v.intRange(d, "spec.limits.nodes", l.Nodes, 0, noMax)
	}
	v.enum(d, "spec.spot.strategy", string(s.Spot.Strategy), string(v1alpha1.CostOptimized), string(v1alpha1.LeastInterrupted))
	v.duration(d, "spec.spot.fallback.after", s.Spot.Fallback.After, false)
	v.duration(d, "spec.spot.fallback.reverseInterval", s.Spot.Fallback.ReverseInterval, true)
	v.fallbackTiming(d, s.Spot.Fallback)
	v.duration(d, "spec.spot.interruptions.excludeFor", s.Spot.Interruptions.ExcludeFor, false)
	v.intRange(d, "spec.spot.interruptions.minInstanceTypes", s.Spot.Interruptions.MinInstanceTypes, 1, 500)
	v.distribution(d, "spec.distribution.", &s.Distribution)
	v.commitments(d, s)
	v.binPacking(d, &s.BinPacking)
	v.windows(d, s)
	v.nodePools(d, s)
}

func (v *validator) clusterIdentity(d *Document, c *v1alpha1.ClusterIdentity) {
	switch {
	case !clusterNamePattern.MatchString(c.Name):
		v.errorf(d, "spec.cluster.name", RuleInvalidValue,
			"%q is not a valid cluster name: use lower-case letters, digits and '-', starting and ending with a letter or digit, e.g. prod-eu", c.Name)
	case len(c.Name) > 40:
		v.errorf(d, "spec.cluster.name", RuleInvalidValue,
			"the cluster name has %d characters; at most 40 are allowed, since rendered objects are called ballast-<name>-on-demand", len(c.Name))
	}
	if !regionPattern.MatchString(c.Region) {
		v.errorf(d, "spec.cluster.region", RuleInvalidValue, "%q is not an AWS region: write a region code such as eu-west-1 or us-east-2", c.Region)
	}
}

func (v *validator) nodeClass(d *Document, nc *v1alpha1.NodeClassSpec) {
	const f = "spec.nodeClass"
	switch {
	case nc.Role != "" && nc.InstanceProfile != "":
		v.errorf(d, f+".instanceProfile", RuleExactlyOneOf,
			"set exactly one of role and instanceProfile: remove instanceProfile to let Karpenter create a profile for the role, or remove role")
	case nc.Role == "" && nc.InstanceProfile == "":
		v.errorf(d, f, RuleExactlyOneOf,
			"set exactly one of role (the nodes' IAM role, e.g. role: KarpenterNodeRole-prod) and instanceProfile")
	}
	v.ami(d, f+".ami", nc.AMI)
	v.selectorTerms(d, f+".subnetSelector", nc.SubnetSelector, subnetIDPattern, "subnet-0123456789abcdef0")
	v.selectorTerms(d, f+".securityGroupSelector", nc.SecurityGroupSelector, securityGroupID, "sg-0123456789abcdef0")
	if len(nc.Tags) > 40 {
		v.errorf(d, f+".tags", RuleTooManyItems, "%d tags are set; at most 40 are allowed", len(nc.Tags))
	}
	for _, k := range sortedKeys(nc.Tags) {
		if msg := reservedTag(k); msg != "" {
			v.keyf(d, f+".tags", k, RuleInvalidValue, "%s", msg)
		}
	}
	v.maxItems(d, f+".blockDevices", len(nc.BlockDevices), 10, "block devices are")
	devices := map[string]int{}
	for i := range nc.BlockDevices {
		field := fmt.Sprintf("%s.blockDevices[%d]", f, i)
		bd := &nc.BlockDevices[i]
		if first, ok := devices[bd.DeviceName]; ok && bd.DeviceName != "" {
			v.errorf(d, field+".deviceName", RuleDuplicateName, "device %s is already defined by blockDevices[%d]: use another device name", bd.DeviceName, first)
		} else {
			devices[bd.DeviceName] = i
		}
		v.blockDevice(d, field, bd)
	}
	if mo := nc.MetadataOptions; mo != nil {
		v.enum(d, f+".metadataOptions.httpTokens", mo.HTTPTokens, "required", "optional")
		if mo.HTTPPutResponseHopLimit != nil {
			v.intRange64(d, f+".metadataOptions.httpPutResponseHopLimit", *mo.HTTPPutResponseHopLimit, 1, 64)
		}
	}
}

func (v *validator) ami(d *Document, field, ami string) {
	if ami == "" {
		return
	}
	family, version, _ := strings.Cut(ami, "@")
	switch {
	case strings.HasPrefix(ami, "ami-"):
		v.errorf(d, field, RuleInvalidValue, "%q is an AMI id; ami takes an alias: write e.g. al2023@latest or bottlerocket@v1.20.0", ami)
	case !amiPattern.MatchString(ami):
		v.errorf(d, field, RuleInvalidValue, "%q is not an AMI alias: write family@version, e.g. al2023@latest or al2023@v20240807", ami)
	case !slices.Contains(amiFamilies, family):
		v.errorf(d, field, RuleInvalidValue, "Karpenter has no AMI family %q: use one of %s, e.g. al2023@latest", family, strings.Join(amiFamilies, ", "))
	case strings.HasPrefix(family, "windows") && version != "latest":
		v.errorf(d, field, RuleInvalidValue, "Windows AMIs can only be pinned to latest: write %s@latest", family)
	}
}

func (v *validator) selectorTerms(d *Document, field string, terms []v1alpha1.SelectorTerm, idPattern *regexp.Regexp, exampleID string) {
	v.maxItems(d, field, len(terms), 30, "selector terms are")
	for i, t := range terms {
		tf := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case len(t.Tags) > 0 && t.ID != "":
			v.errorf(d, tf+".id", RuleExactlyOneOf, "a selector term selects by tags or by id, not both: split it into two terms")
		case len(t.Tags) == 0 && t.ID == "":
			v.errorf(d, tf, RuleExactlyOneOf, "set tags or id, e.g. tags: {karpenter.sh/discovery: my-cluster} or id: %s", exampleID)
		case t.ID != "" && !idPattern.MatchString(t.ID):
			v.errorf(d, tf+".id", RuleInvalidValue, "%q is not an id of this kind of resource: write e.g. %s", t.ID, exampleID)
		}
		if len(t.Tags) > 20 {
			v.errorf(d, tf+".tags", RuleTooManyItems, "%d tags are set; at most 20 are allowed", len(t.Tags))
		}
		for _, k := range sortedKeys(t.Tags) {
			switch {
			case k == "":
				v.keyf(d, tf+".tags", k, RuleInvalidValue, "a tag key cannot be empty")
			case t.Tags[k] == "":
				v.keyf(d, tf+".tags", k, RuleInvalidValue, "tag %q has an empty value, which Karpenter does not support: write \"*\" to match any value", k)
			}
		}
	}
}

// reservedTag returns why Karpenter refuses a node tag key, or "".
func reservedTag(k string) string {
	switch {
	case k == "":
		return "a tag key cannot be empty"
	case strings.HasPrefix(k, "kubernetes.io/cluster"):
		return fmt.Sprintf("tag %q is reserved: Karpenter sets kubernetes.io/cluster/<name> itself; remove it", k)
	case k == "eks:eks-cluster-name" || k == "karpenter.sh/nodepool" || k == "karpenter.sh/nodeclaim" || k == "karpenter.k8s.aws/ec2nodeclass":
		return fmt.Sprintf("tag %q is reserved: Karpenter sets it on every node itself; remove it", k)
	}
	return ""
}

func (v *validator) blockDevice(d *Document, field string, bd *v1alpha1.BlockDevice) {
	switch size := bd.VolumeSize; {
	case size.Cmp(minVolumeSize) < 0 || size.Cmp(maxVolumeSize) > 0:
		v.errorf(d, field+".volumeSize", RuleOutOfRange, "%s is out of range: write a size from 1Gi to 64T, e.g. 100Gi", size.String())
	case !ebsWritable(size):
		v.errorf(d, field+".volumeSize", RuleOutOfRange,
			"%s cannot be written the way Karpenter's EC2NodeClass schema takes volume sizes (Gi up to 59000Gi, G up to 64000G, Ti up to 58Ti but not 18, 19, 28, 29, 38, 39, 48 or 49Ti, T up to 64T): write %s instead",
			size.String(), wholeGigabytes(size))
	}
	v.enum(d, field+".volumeType", bd.VolumeType, "standard", "io1", "io2", "gp2", "sc1", "st1", "gp3")
	vt := bd.VolumeType
	if vt == "" {
		vt = v1alpha1.DefaultVolumeType
	}
	if bd.IOPS != nil {
		v.intRange64(d, field+".iops", *bd.IOPS, 100, noMax)
		if vt != "io1" && vt != "io2" && vt != "gp3" {
			v.errorf(d, field+".iops", RuleInvalidVolume, "EBS takes iops only for io1, io2 and gp3 volumes, not %s: remove iops or use volumeType: gp3", vt)
		}
	} else if vt == "io1" || vt == "io2" {
		v.errorf(d, field+".volumeType", RuleInvalidVolume, "an %s volume needs provisioned IOPS: set iops, e.g. iops: 3000", vt)
	}
	if bd.Throughput != nil {
		v.intRange64(d, field+".throughput", *bd.Throughput, 125, noMax)
		if vt != "gp3" {
			v.errorf(d, field+".throughput", RuleInvalidVolume, "EBS takes throughput only for gp3 volumes, not %s: remove throughput or use volumeType: gp3", vt)
		}
	}
	if bd.KMSKeyID != "" && bd.Encrypted != nil && !*bd.Encrypted {
		v.warnf(d, field+".kmsKeyID", RuleIgnoredField, "kmsKeyID has no effect on an unencrypted volume: remove it or set encrypted: true")
	}
}

// ebsWritable reports whether render can write the size in a form the EC2NodeClass
// schema (ebsVolumeSize) accepts: as it is, or rounded up to whole Gi.
func ebsWritable(q resource.Quantity) bool {
	if ebsVolumeSize.MatchString(q.String()) {
		return true
	}
	const gib = int64(1) << 30
	rounded := resource.MustParse(fmt.Sprintf("%dGi", (q.Value()+gib-1)/gib))
	return ebsVolumeSize.MatchString(rounded.String())
}

// wholeGigabytes is a size rounded up to whole G, which the schema takes up to 64T.
func wholeGigabytes(q resource.Quantity) string {
	const gb = int64(1e9)
	size := resource.MustParse(fmt.Sprintf("%dG", (q.Value()+gb-1)/gb))
	return size.String()
}

func (v *validator) nonNegative(d *Document, field string, q *resource.Quantity) {
	if q != nil && q.Sign() < 0 {
		v.errorf(d, field, RuleOutOfRange, "%s is negative: write a positive quantity", q.String())
	}
}

func (v *validator) duration(d *Document, field string, du v1alpha1.Duration, positive bool) {
	if du == "" {
		return
	}
	n, err := du.Parse()
	switch {
	case err != nil:
		v.errorf(d, field, RuleInvalidDuration, "%v", err)
	case positive && n == 0:
		v.errorf(d, field, RuleInvalidDuration, "%q is zero: write a positive duration, e.g. 30m", du)
	}
}

func (v *validator) distribution(d *Document, prefix string, ds *v1alpha1.DistributionSpec) {
	v.intRange(d, prefix+"onDemandPercent", ds.OnDemandPercent, 0, 100)
	v.intRange(d, prefix+"baseOnDemand", ds.BaseOnDemand, 0, 10000)
	v.enum(d, prefix+"selector", string(ds.Selector), string(v1alpha1.SpotReady), string(v1alpha1.All))
}

func (v *validator) instances(d *Document, s *v1alpha1.ClusterPolicySpec) {
	const f = "spec.instances"
	in := &s.Instances
	v.maxItems(d, f+".categories", len(in.Categories), 20, "categories are")
	for i, c := range in.Categories {
		field := fmt.Sprintf("%s.categories[%d]", f, i)
		if !categoryPattern.MatchString(c) {
			v.errorf(d, field, RuleInvalidValue, "%q is not an instance category: write the letters an instance type starts with, e.g. c, m, r", c)
		} else {
			v.labelValue(d, field, c)
		}
	}
	v.maxItems(d, f+".families", len(in.Families), 100, "families are")
	for i, fam := range in.Families {
		field := fmt.Sprintf("%s.families[%d]", f, i)
		switch {
		case instanceTypePattern.MatchString(fam):
			v.errorf(d, field, RuleInvalidValue, "%q is an instance type, not a family: write %s here, or put %s in include", fam, strings.SplitN(fam, ".", 2)[0], fam)
		case !familyPattern.MatchString(fam):
			v.errorf(d, field, RuleInvalidValue, "%q is not an instance family: write e.g. m6i or c7g", fam)
		default:
			v.labelValue(d, field, fam)
		}
	}
	v.intRange(d, f+".minGeneration", in.MinGeneration, 1, 20)
	v.maxItems(d, f+".architectures", len(in.Architectures), 2, "architectures are")
	for i, a := range in.Architectures {
		field := fmt.Sprintf("%s.architectures[%d]", f, i)
		switch a {
		case "amd64", "arm64":
		case "x86_64", "x86-64", "x86", "intel", "amd":
			v.errorf(d, field, RuleInvalidValue, "%q is not allowed: write amd64 (Kubernetes' name for x86-64)", a)
		case "aarch64", "arm", "graviton":
			v.errorf(d, field, RuleInvalidValue, "%q is not allowed: write arm64 (Kubernetes' name for 64-bit ARM, e.g. Graviton)", a)
		default:
			v.enum(d, field, a, "amd64", "arm64")
		}
	}
	if c := in.CPU; c != nil {
		v.intRange(d, f+".cpu.min", c.Min, 0, noMax)
		v.intRange(d, f+".cpu.max", c.Max, 0, noMax)
	}
	if m := in.Memory; m != nil {
		v.memory(d, f+".memory.min", m.Min)
		v.memory(d, f+".memory.max", m.Max)
	}
	v.maxItems(d, f+".zones", len(in.Zones), 20, "zones are")
	for i, z := range in.Zones {
		v.zone(d, fmt.Sprintf("%s.zones[%d]", f, i), z, s.Cluster.Region)
	}
	for _, list := range []struct {
		name  string
		items []string
	}{{"include", in.Include}, {"exclude", in.Exclude}} {
		v.maxItems(d, f+"."+list.name, len(list.items), 500, "instance types are")
		for i, t := range list.items {
			field := fmt.Sprintf("%s.%s[%d]", f, list.name, i)
			if !instanceTypePattern.MatchString(t) {
				v.errorf(d, field, RuleInvalidValue, "%q is not an instance type: write family.size, e.g. m6i.xlarge", t)
			} else {
				v.labelValue(d, field, t)
			}
		}
	}
}

// zoneIDPattern matches availability zone ids such as euw1-az1.
var zoneIDPattern = regexp.MustCompile(`^[a-z]{3,5}[0-9]+-az[0-9]+$`)

// zone reports an availability zone outside the cluster's region. Zone names start
// with the region: eu-west-1a, or us-west-2-lax-1a for a Local Zone.
func (v *validator) zone(d *Document, field, zone, region string) {
	if zone == "" || region == "" || !regionPattern.MatchString(region) {
		return
	}
	switch {
	case zoneIDPattern.MatchString(zone):
		v.errorf(d, field, RuleZoneNotInRegion, "%q is a zone id; write the zone name instead, e.g. %sa", zone, region)
	case !strings.HasPrefix(zone, region) || len(zone) == len(region):
		v.errorf(d, field, RuleZoneNotInRegion, "zone %q is not in the cluster's region %s: write a zone such as %sa", zone, region, region)
	default:
		v.labelValue(d, field, zone)
	}
}

// labelValue reports a value of the instance supply that is not a label value:
// render writes the supply as NodePool requirements, which Karpenter matches against
// node labels, and the NodePool schema refuses values no label can have.
func (v *validator) labelValue(d *Document, field, value string) {
	if len(validation.IsValidLabelValue(value)) > 0 {
		v.errorf(d, field, RuleInvalidValue, "%q is not a label value, so a NodePool cannot match it against node labels: write at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", value)
	}
}

// memory checks a bound of instances.memory.
func (v *validator) memory(d *Document, field string, q *resource.Quantity) {
	switch {
	case q == nil:
	case q.Sign() < 0:
		v.nonNegative(d, field, q)
	case q.Cmp(maxMemory) > 0:
		v.errorf(d, field, RuleOutOfRange, "%s is more memory than any instance has: write at most %s", q.String(), maxMemory.String())
	}
}

func (v *validator) commitments(d *Document, s *v1alpha1.ClusterPolicySpec) {
	c := s.Commitments
	if c == nil {
		return
	}
	const f = "spec.commitments"
	v.enum(d, f+".source", string(c.Source), string(v1alpha1.CommitmentsFromAWS), string(v1alpha1.CommitmentsFromGit))
	v.intRange(d, f+".maxUtilizationPercent", c.MaxUtilizationPercent, 0, 100)
	if c.Enabled && c.MaxUtilizationPercent != nil && *c.MaxUtilizationPercent == 0 {
		v.errorf(d, f+".maxUtilizationPercent", RuleOutOfRange, "0 lets Ballast use none of the commitments: write a percentage from 1 to 100, or set enabled: false")
	}
	listed := len(c.ReservedInstances) + len(c.SavingsPlans)
	switch {
	case c.Source == v1alpha1.CommitmentsFromGit && listed == 0:
		v.errorf(d, f+".source", RuleEmptyCommitments, "source Git needs the commitments listed: add reservedInstances or savingsPlans, or use source: Discover to read them from AWS")
	case c.Source != v1alpha1.CommitmentsFromGit && listed > 0:
		field := f + ".reservedInstances"
		if len(c.ReservedInstances) == 0 {
			field = f + ".savingsPlans"
		}
		v.warnf(d, field, RuleIgnoredField, "the listed commitments are ignored because commitments are discovered through the AWS API: set source: Git to use this list")
	}
	v.maxItems(d, f+".reservedInstances", len(c.ReservedInstances), 200, "reserved instances are")
	for i, ri := range c.ReservedInstances {
		field := fmt.Sprintf("%s.reservedInstances[%d]", f, i)
		if !instanceTypePattern.MatchString(ri.InstanceType) {
			v.errorf(d, field+".instanceType", RuleInvalidValue, "%q is not an instance type: write family.size, e.g. m6i.xlarge", ri.InstanceType)
		}
		v.intRange64(d, field+".count", int64(ri.Count), 1, noMax)
		v.zone(d, field+".zone", ri.Zone, s.Cluster.Region)
		v.expiry(d, field+".expires", ri.Expires)
	}
	v.maxItems(d, f+".savingsPlans", len(c.SavingsPlans), 50, "savings plans are")
	for i, sp := range c.SavingsPlans {
		field := fmt.Sprintf("%s.savingsPlans[%d]", f, i)
		v.enum(d, field+".type", string(sp.Type), "Compute", "EC2Instance")
		switch {
		case sp.Type == "EC2Instance" && sp.Family == "":
			v.errorf(d, field+".family", RuleMissingField, "an EC2Instance savings plan covers one instance family: set family, e.g. family: m6i")
		case sp.Type == "Compute" && sp.Family != "":
			v.warnf(d, field+".family", RuleIgnoredField, "a Compute savings plan covers every family, so family is ignored: remove it, or use type: EC2Instance")
		case sp.Family != "" && !familyPattern.MatchString(sp.Family):
			v.errorf(d, field+".family", RuleInvalidValue, "%q is not an instance family: write e.g. m6i", sp.Family)
		}
		if !dollarsPattern.MatchString(sp.CommitmentPerHour) {
			v.errorf(d, field+".commitmentPerHour", RuleInvalidValue, "%q is not an amount: write US dollars per hour as a plain number in quotes, e.g. \"12.50\"", sp.CommitmentPerHour)
		}
		v.expiry(d, field+".expires", sp.Expires)
	}
}

func (v *validator) binPacking(d *Document, b *v1alpha1.BinPackingSpec) {
	const f = "spec.binPacking"
	v.enum(d, f+".consolidationPolicy", string(b.ConsolidationPolicy), "WhenEmpty", "WhenEmptyOrUnderutilized")
	v.duration(d, f+".consolidateAfter", b.ConsolidateAfter, false)
	if b.ExpireAfter != "" {
		if !expireAfterPattern.MatchString(b.ExpireAfter) {
			v.errorf(d, f+".expireAfter", RuleInvalidDuration, "%q is not a node lifetime: write a duration such as 720h or 30d, or Never", b.ExpireAfter)
		} else {
			v.duration(d, f+".expireAfter", v1alpha1.Duration(strings.TrimPrefix(b.ExpireAfter, "Never")), true)
		}
	}
	v.budgets(d, f+".disruptionBudgets", b.DisruptionBudgets)
	if pe := b.PodEviction; pe != nil {
		v.intRange(d, f+".podEviction.cpuThresholdPercent", pe.CPUThresholdPercent, 1, 100)
		v.intRange(d, f+".podEviction.memoryThresholdPercent", pe.MemoryThresholdPercent, 1, 100)
		v.intRange(d, f+".podEviction.maxEvictionsPerPass", pe.MaxEvictionsPerPass, 1, 1000)
		if pe.Enabled && pe.CPUThresholdPercent == nil && pe.MemoryThresholdPercent == nil {
			v.errorf(d, f+".podEviction", RuleMissingField,
				"pod eviction needs a threshold to find underused nodes: set cpuThresholdPercent and/or memoryThresholdPercent, e.g. cpuThresholdPercent: 40")
		}
	}
}
