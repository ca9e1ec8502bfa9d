package app

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ballast-dev/ballast/crdcheck"
	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// importInput is what an import works on: the objects read, and the flags.
type importInput struct {
	objects []*importObject
	cluster string
	region  string
	// role is the IAM role of the default supply's nodes; "" takes the first
	// imported EC2NodeClass's.
	role string
	// adopt keeps the objects' names; otherwise they get the prefix ballast-<cluster>-.
	adopt bool
	now   time.Time
}

// importOutput is an imported ClusterPolicy.
type importOutput struct {
	// yaml is the ClusterPolicy document.
	yaml []byte
	// policy is yaml loaded by the policy loader, as ballast render would read it.
	policy         *v1alpha1.ClusterPolicy
	pools, classes []*imported
}

// importPolicy turns NodePools and EC2NodeClasses into one ClusterPolicy for
// in.cluster, whose spec.nodePools and spec.nodeClasses render them again. The
// findings say what was changed, not carried or chosen; when one is an error the
// output is nil.
func importPolicy(in importInput) (*importOutput, importFindings) {
	var fs importFindings
	checker, err := crdcheck.Karpenter()
	if err != nil {
		fs.add(nil, "", importError, "Karpenter's CRDs cannot be compiled: %v", err)
		return nil, fs
	}
	out := &importOutput{}
	// failed are the EC2NodeClasses that are refused: a pool referring to one is not
	// told that it is not imported.
	failed := map[string]bool{}
	for _, o := range in.objects {
		if !classify(o, &fs) {
			continue
		}
		c := convert(checker, o, &fs)
		switch {
		case c == nil:
			if o.kind() == nodeClassKind {
				failed[o.name()] = true
			}
		case c.pool != nil:
			out.pools = append(out.pools, c)
		default:
			out.classes = append(out.classes, c)
		}
	}
	if len(out.pools)+len(out.classes) == 0 && fs.errors() == 0 {
		fs.add(nil, "", importError, "found no NodePool (%s) and no EC2NodeClass (%s) to import", nodePoolAPI, nodeClassAPI)
	}
	classNames := giveNames(out.classes, in, &fs)
	giveNames(out.pools, in, &fs)
	for _, p := range out.pools {
		rewriteRef(p, classNames, failed, in, &fs)
	}
	nodeClass := defaultNodeClass(out.classes, len(failed) > 0, in, &fs)
	if fs.errors() > 0 {
		return nil, fs
	}
	data, err := marshalImported(in, nodeClass, out)
	if err != nil {
		fs.add(nil, "", importError, "failed to write the policy: %v", err)
		return nil, fs
	}
	out.yaml = data
	if out.policy = checkImported(in, data, &fs); out.policy == nil {
		return nil, fs
	}
	weightNote(out.pools, in.cluster, &fs)
	return out, fs
}

// giveNames names the objects in the policy, and returns the names given by the
// objects' own names. With --adopt a name is kept; otherwise it gets the prefix
// ballast-<cluster>-. A name of Ballast's default supply is never given: such an
// object gets the suffix -imported.
func giveNames(items []*imported, in importInput, fs *importFindings) map[string]string {
	names := map[string]string{}
	taken := map[string]bool{}
	want := make([]string, len(items))
	seen := map[string]*imported{}
	for i, it := range items {
		if first, dup := seen[it.name]; dup {
			fs.add(it.src, "metadata.name", importError, "%s %s is imported twice (also at %s)", it.src.kind(), it.name, first.src.at("metadata.name"))
			continue
		}
		seen[it.name] = it
		want[i] = it.name
		if !in.adopt {
			want[i] = "ballast-" + in.cluster + "-" + it.name
		}
		if v1alpha1.ReservedName(in.cluster, want[i]) == "" {
			taken[want[i]] = true
		}
	}
	for i, it := range items {
		if want[i] == "" {
			continue
		}
		name := want[i]
		if why := v1alpha1.ReservedName(in.cluster, name); why != "" {
			for n := 1; ; n++ {
				name = want[i] + "-imported"
				if n > 1 {
					name += "-" + strconv.Itoa(n)
				}
				if !taken[name] && v1alpha1.ReservedName(in.cluster, name) == "" {
					break
				}
			}
			taken[name] = true
			consequence := "the nodes it launched are replaced once the old one is deleted"
			if it.class != nil {
				consequence = "the NodePools that use it are rewritten to it, so their nodes drift and are replaced"
			}
			fs.add(it.src, "metadata.name", importWarning, "renamed to %s: %s, which Ballast renders itself; %s", name, why, consequence)
		}
		// The name is a node label's value (karpenter.sh/nodepool, karpenter.k8s.aws/ec2nodeclass).
		if errs := validation.IsValidLabelValue(name); len(errs) > 0 {
			hint := "rename it"
			if !in.adopt {
				hint = "import with --adopt, or rename it"
			}
			fs.add(it.src, "metadata.name", importError, "the name %s cannot be given: %s; %s", name, strings.Join(errs, "; "), hint)
			continue
		}
		it.name = name
		names[it.src.name()] = name
	}
	return names
}

// rewriteRef points a pool's nodeClassRef at the name its EC2NodeClass has in the
// policy, and reports a reference to an EC2NodeClass that is not imported.
func rewriteRef(p *imported, classNames map[string]string, failed map[string]bool, in importInput, fs *importFindings) {
	ref := p.pool.Template.Spec.NodeClassRef
	const field = "spec.template.spec.nodeClassRef.name"
	switch {
	case ref == nil || failed[ref.Name]:
		return // refused, and reported, already
	case ref.Group != nodeClassGroup || ref.Kind != nodeClassKind:
		fs.add(p.src, field, importWarning, "refers to %s %s (%s), which ballast import does not read: kept as it is", ref.Kind, ref.Name, ref.Group)
	case classNames[ref.Name] != "":
		if to := classNames[ref.Name]; to != ref.Name {
			fs.add(p.src, field, importNote, "nodeClassRef.name %s rewritten to %s, the EC2NodeClass's name in the policy", ref.Name, to)
			ref.Name = to
		}
	case ref.Name == render.NodeClassName(in.cluster):
		fs.add(p.src, field, importNote, "refers to %s, the EC2NodeClass of Ballast's default supply (spec.nodeClass)", ref.Name)
	default:
		fs.add(p.src, field, importWarning, "refers to EC2NodeClass %s, which is not imported: kept as it is; it must stay in the cluster, outside Ballast", ref.Name)
	}
}

// defaultNodeClass is spec.nodeClass, the launch configuration of Ballast's default
// supply: the role or instance profile, subnets, security groups and AMI alias of the
// first imported EC2NodeClass that launches Linux nodes, or --role.
func defaultNodeClass(classes []*imported, someFailed bool, in importInput, fs *importFindings) v1alpha1.NodeClassSpec {
	var nc v1alpha1.NodeClassSpec
	var from *imported
	for _, c := range classes {
		if !windows(c.class) {
			from = c
			break
		}
	}
	supply := fmt.Sprintf("Ballast's default supply (EC2NodeClass %s, NodePools %s and %s)", render.NodeClassName(in.cluster),
		render.NodePoolName(in.cluster, v1alpha1.CapacityOnDemand), render.NodePoolName(in.cluster, v1alpha1.CapacitySpot))
	if from == nil {
		if in.role == "" && someFailed {
			return nc // an EC2NodeClass is refused: the import fails without this.
		}
		if in.role == "" {
			what := "no EC2NodeClass is imported"
			if len(classes) > 0 {
				what = "every imported EC2NodeClass launches Windows nodes"
			}
			fs.add(nil, "", importError, "%s: give --role, the IAM role of the nodes of %s", what, supply)
			return nc
		}
		nc.Role = in.role
		fs.add(nil, "", importNote, "%s launches nodes with the role %s (--role), in the subnets and security groups tagged karpenter.sh/discovery: %s, from the AMI al2023@latest", supply, in.role, in.cluster)
		return nc
	}
	c := from.class
	var chosen []string
	if in.role != "" {
		nc.Role = in.role
		chosen = append(chosen, "the role "+in.role+" (--role)")
	} else if c.Role != "" {
		nc.Role = c.Role
		chosen = append(chosen, "its role "+c.Role)
	} else if c.InstanceProfile != nil {
		nc.InstanceProfile = *c.InstanceProfile
		chosen = append(chosen, "its instance profile "+nc.InstanceProfile)
	}
	for _, t := range c.SubnetSelectorTerms {
		nc.SubnetSelector = append(nc.SubnetSelector, v1alpha1.SelectorTerm{Tags: t.Tags, ID: t.ID})
	}
	chosen = append(chosen, "its subnets")
	sgs := slices.IndexFunc(c.SecurityGroupSelectorTerms, func(t awsv1.SecurityGroupSelectorTerm) bool { return t.Name != "" }) < 0
	if sgs {
		for _, t := range c.SecurityGroupSelectorTerms {
			nc.SecurityGroupSelector = append(nc.SecurityGroupSelector, v1alpha1.SelectorTerm{Tags: t.Tags, ID: t.ID})
		}
		chosen = append(chosen, "its security groups")
	} else {
		chosen = append(chosen, "the security groups tagged karpenter.sh/discovery: "+in.cluster+" (spec.nodeClass selects security groups by tags or id, not by name)")
	}
	ami := "the AMI al2023@latest (it selects no AMI by alias)"
	for _, t := range c.AMISelectorTerms {
		if t.Alias != "" {
			nc.AMI = t.Alias
			ami = "its AMI " + t.Alias
		}
	}
	chosen = append(chosen, ami)
	fs.add(from.src, "spec", importNote, "%s launches nodes with %s; change spec.nodeClass to choose otherwise", supply, strings.Join(chosen, ", "))
	return nc
}

// windows reports whether an EC2NodeClass launches Windows nodes.
func windows(c *awsv1.EC2NodeClassSpec) bool {
	if c.AMIFamily != nil && strings.HasPrefix(*c.AMIFamily, "Windows") {
		return true
	}
	for _, t := range c.AMISelectorTerms {
		if strings.HasPrefix(t.Alias, "windows") {
			return true
		}
	}
	return false
}

// weightNote says which imported pools Ballast's On-Demand pool would come before.
func weightNote(pools []*imported, cluster string, fs *importFindings) {
	var lower []string
	for _, p := range pools {
		if w := p.pool.Weight; w == nil || *w <= render.OnDemandWeight {
			lower = append(lower, p.name)
		}
	}
	if len(lower) == 0 {
		return
	}
	onDemand := render.NodePoolName(cluster, v1alpha1.CapacityOnDemand)
	fs.add(nil, "", importNote, "Karpenter tries NodePools of higher weight first: a pending pod that both %s (weight %d) and %s (weight %d or none) can take may get its new node from %s; give a pool a weight above %d to keep it first (docs/migrate-from-karpenter.md)",
		onDemand, render.OnDemandWeight, strings.Join(lower, ", "), render.OnDemandWeight, onDemand, render.OnDemandWeight)
}

// checkImported loads the written policy as ballast validate and render do, validates
// it, checks its rendered objects against Karpenter's CRDs and renders it; it returns
// the loaded policy, or nil with the findings as errors.
func checkImported(in importInput, data []byte, fs *importFindings) *v1alpha1.ClusterPolicy {
	repo := policies.LoadBytes("imported.yaml", data)
	findings := repo.ValidateWith(policies.Options{CheckRendered: karpenterCheck(in.now)})
	for _, f := range findings {
		if f.Rule == policies.RuleExternalNodeClass {
			// Reported for the NodePool already, at its position in the input.
			continue
		}
		sev := importNote
		switch f.Severity {
		case policies.SeverityError:
			sev = importError
		case policies.SeverityWarning:
			sev = importWarning
		}
		// The policy is not written yet: its own positions would point nowhere.
		what := f.Message
		if f.Field != "" {
			what = f.Field + ": " + what
		}
		fs.add(nil, "", sev, "the imported policy would not validate [%s]: %s", f.Rule, what)
	}
	if findings.HasErrors() || len(repo.ClusterPolicies) != 1 {
		if !findings.HasErrors() {
			fs.add(nil, "", importError, "the imported policy does not load as one ClusterPolicy")
		}
		return nil
	}
	policy, rules, err := repo.ForCluster(in.cluster)
	if err == nil {
		_, err = render.Render(render.Input{Policy: policy, Rules: rules, Source: "local", Now: in.now, Target: render.TargetAWS})
	}
	if err != nil {
		fs.add(nil, "", importError, "the imported policy does not render: %v", err)
		return nil
	}
	return repo.ClusterPolicies[0].Policy
}

// marshalImported writes the ClusterPolicy as YAML, its fields in the order a person
// reads them, each imported entry under a comment saying where it was read.
func marshalImported(in importInput, nc v1alpha1.NodeClassSpec, out *importOutput) ([]byte, error) {
	ncValue, err := toJSONMap(nc)
	if err != nil {
		return nil, err
	}
	ncNode, err := valueNode(ncValue)
	if err != nil {
		return nil, err
	}
	spec := mappingNode(
		"cluster", mappingNode("name", scalarNode(in.cluster), "region", scalarNode(in.region)),
		"nodeClass", ncNode,
	)
	for _, list := range []struct {
		field string
		items []*imported
	}{{"nodePools", out.pools}, {"nodeClasses", out.classes}} {
		if len(list.items) == 0 {
			continue
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, it := range list.items {
			var typed any = it.pool
			if it.class != nil {
				typed = it.class
			}
			value, err := toJSONMap(typed)
			if err != nil {
				return nil, err
			}
			specNode, err := valueNode(value)
			if err != nil {
				return nil, err
			}
			pairs := []any{"name", scalarNode(it.name)}
			if it.pool != nil {
				pairs = append(pairs, "split", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"})
			}
			entry := mappingNode(append(pairs, "spec", specNode)...)
			entry.HeadComment = fmt.Sprintf("%s %s, from %s", it.src.kind(), it.src.name(), it.src.at(""))
			seq.Content = append(seq.Content, entry)
		}
		spec.Content = append(spec.Content, scalarNode(list.field), seq)
	}
	how := "the NodePools keep their names (--adopt)"
	if !in.adopt {
		how = "the objects are named ballast-" + in.cluster + "-<name>"
	}
	doc := mappingNode(
		"apiVersion", scalarNode(v1alpha1.GroupVersion.String()),
		"kind", scalarNode(v1alpha1.ClusterPolicyKind),
		"metadata", mappingNode("name", scalarNode(in.cluster)),
		"spec", spec,
	)
	doc.HeadComment = "Imported by `ballast import`: " + how + ".\n" +
		"spec.nodePools and spec.nodeClasses are rendered as written; see docs/migrate-from-karpenter.md."
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{doc}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// mappingNode builds a mapping from key, value pairs; a value is a *yaml.Node.
func mappingNode(pairs ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(pairs); i += 2 {
		n.Content = append(n.Content, scalarNode(pairs[i].(string)), pairs[i+1].(*yaml.Node))
	}
	return n
}

func scalarNode(s string) *yaml.Node {
	n := &yaml.Node{}
	_ = n.Encode(s) // a string always encodes, quoted when YAML would read it otherwise
	return n
}

func valueNode(v any) (*yaml.Node, error) {
	n := &yaml.Node{}
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	return n, nil
}
