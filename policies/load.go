package policies

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/json"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// maxFileSize bounds the size of one policy file.
const maxFileSize = 8 << 20

// Document is one YAML document of a policy file.
type Document struct {
	// File is the file's path as shown to users.
	File string
	// Index is the 0-based position of the document in its file.
	Index      int
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	// Line is where the document starts.
	Line int

	root *yaml.Node
}

// Position returns where the document starts.
func (d *Document) Position() Position {
	return Position{File: d.File, Line: d.Line, Column: 1}
}

// ClusterPolicyDoc is a decoded ClusterPolicy, as written (not defaulted).
type ClusterPolicyDoc struct {
	*Document
	Policy *v1alpha1.ClusterPolicy
}

// RuleDoc is a decoded WorkloadDistributionRule, as written (not defaulted).
type RuleDoc struct {
	*Document
	Rule *v1alpha1.WorkloadDistributionRule
}

// Repository is a loaded policy tree.
type Repository struct {
	ClusterPolicies []*ClusterPolicyDoc
	Rules           []*RuleDoc
	// Ignored are documents of other kinds.
	Ignored []*Document
	// Invalid are Ballast documents that could not be decoded; their problems are in
	// Findings. Validate still reads their names, so that one broken ClusterPolicy does
	// not make every rule naming its cluster an error too.
	Invalid []*Document
	// Findings of loading and decoding; Validate adds the semantic ones.
	Findings Findings
}

// LoadBytes decodes one file's content; file names it in positions.
func LoadBytes(file string, data []byte) *Repository {
	repo := &Repository{}
	repo.addFile(file, data)
	return repo
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (r *Repository) addFile(file string, data []byte) {
	if len(data) > maxFileSize {
		r.Findings = append(r.Findings, Finding{Position: Position{File: file}, Rule: RuleTooComplex, Severity: SeverityError,
			Message: fmt.Sprintf("the file is larger than %d MiB; split it", maxFileSize>>20)})
		return
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var doc yaml.Node
		err := decodeSafely(dec, &doc)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			r.Findings = append(r.Findings, syntaxFinding(file, err))
			return
		}
		r.addDocument(file, i, &doc)
	}
}

// decodeSafely turns a panic of the YAML parser on hostile input into an error.
func decodeSafely(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("yaml: the parser failed: %v", p)
		}
	}()
	return dec.Decode(n)
}

func syntaxFinding(file string, err error) Finding {
	f := Finding{Position: Position{File: file}, Rule: RuleYAMLSyntax, Severity: SeverityError}
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		f.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	f.Message = "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")
	return f
}

func (r *Repository) addDocument(file string, index int, doc *yaml.Node) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return
	}
	root := resolve(doc.Content[0])
	if root == nil || isNull(root) {
		return // an empty document, e.g. a trailing ---
	}
	d := &Document{File: file, Index: index, Line: root.Line, root: root}
	if root.Kind != yaml.MappingNode {
		r.Ignored = append(r.Ignored, d)
		r.Findings = append(r.Findings, Finding{Position: d.Position(), Rule: RuleIgnored, Severity: SeverityInfo,
			Message: "this document is not a Kubernetes object and is ignored"})
		return
	}
	d.APIVersion, d.Kind = scalarAt(root, "apiVersion"), scalarAt(root, "kind")
	if meta := mappingAt(root, "metadata"); meta != nil {
		d.Name, d.Namespace = scalarAt(meta, "name"), scalarAt(meta, "namespace")
	}
	group, _, _ := strings.Cut(d.APIVersion, "/")
	if what := karpenterKind(group, d.Kind); what != "" {
		// Users point validate at the Karpenter manifests they have: say what to do.
		r.Ignored = append(r.Ignored, d)
		r.Findings = append(r.Findings, Finding{Position: d.Position(), Rule: RuleKarpenterObject, Severity: SeverityWarning,
			Message: fmt.Sprintf("%s %q (%s) is a Karpenter %s, not Ballast policy, and is ignored; try `ballast import` to turn it into a ClusterPolicy", d.Kind, d.Name, d.APIVersion, what)})
		return
	}
	if group != v1alpha1.GroupVersion.Group {
		r.Ignored = append(r.Ignored, d)
		what := "this document"
		if d.Kind != "" {
			what = fmt.Sprintf("%s %q (%s)", d.Kind, d.Name, d.APIVersion)
		}
		r.Findings = append(r.Findings, Finding{Position: d.Position(), Rule: RuleIgnored, Severity: SeverityInfo,
			Message: what + " is not a Ballast policy and is ignored"})
		return
	}
	switch {
	case d.APIVersion != v1alpha1.GroupVersion.String():
		r.Invalid = append(r.Invalid, d)
		r.Findings = append(r.Findings, d.finding("apiVersion", RuleUnknownKind,
			"apiVersion %q is not supported: use %s", d.APIVersion, v1alpha1.GroupVersion))
	case d.Kind == v1alpha1.ClusterPolicyKind:
		var p v1alpha1.ClusterPolicy
		if r.decode(d, &p) {
			r.ClusterPolicies = append(r.ClusterPolicies, &ClusterPolicyDoc{Document: d, Policy: &p})
		} else {
			r.Invalid = append(r.Invalid, d)
		}
	case d.Kind == v1alpha1.WorkloadDistributionRuleKind:
		var w v1alpha1.WorkloadDistributionRule
		if r.decode(d, &w) {
			r.Rules = append(r.Rules, &RuleDoc{Document: d, Rule: &w})
		} else {
			r.Invalid = append(r.Invalid, d)
		}
	default:
		r.Findings = append(r.Findings, d.finding("kind", RuleUnknownKind,
			"kind %q is not a policy document: use %s or %s", d.Kind, v1alpha1.ClusterPolicyKind, v1alpha1.WorkloadDistributionRuleKind))
	}
}

// karpenterKind names the Karpenter objects that ballast import reads, or returns "".
func karpenterKind(group, kind string) string {
	switch {
	case group == "karpenter.sh" && kind == "NodePool":
		return "NodePool"
	case group == "karpenter.k8s.aws" && kind == "EC2NodeClass":
		return "EC2NodeClass"
	}
	return ""
}

// decode checks the document strictly against obj's type and, when it is sound,
// decodes it into obj.
func (r *Repository) decode(d *Document, obj any) bool {
	c := &checker{file: d.File}
	c.check(d.root, reflect.TypeOf(obj), "", 0)
	if len(c.findings) > 0 {
		r.Findings = append(r.Findings, c.findings...)
		return false
	}
	data, err := toJSON(d.root)
	if err == nil {
		if _, ok := obj.(*v1alpha1.ClusterPolicy); ok {
			data, err = karpenterDefaults(data)
		}
	}
	if err == nil {
		err = json.Unmarshal(data, obj)
	}
	if err != nil {
		r.Findings = append(r.Findings, Finding{Position: d.Position(), Rule: RuleWrongType, Severity: SeverityError,
			Message: fmt.Sprintf("the document cannot be decoded as a %s: %v", d.Kind, err)})
		return false
	}
	return true
}

// finding builds an error finding at the field path of the document.
func (d *Document) finding(field, rule, format string, args ...any) Finding {
	return Finding{Position: d.Locate(field), Field: field, Rule: rule, Severity: SeverityError, Message: fmt.Sprintf(format, args...)}
}

// Locate returns the position of the value at a field path such as
// spec.maintenanceWindows[1].timeZone, or of its nearest ancestor that exists.
func (d *Document) Locate(field string) Position {
	n := d.root
	best := n
	for _, part := range splitPath(field) {
		if n == nil {
			break
		}
		if idx, ok := part.index(); ok {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				break
			}
			n = resolve(n.Content[idx])
		} else {
			key, val := entry(n, part.name)
			if key == nil {
				break
			}
			n, best = val, key
			if val.Kind == yaml.ScalarNode {
				best = val
			}
			continue
		}
		best = n
	}
	if best == nil {
		return d.Position()
	}
	return Position{File: d.File, Line: best.Line, Column: best.Column}
}

type pathPart struct {
	name string
	idx  int
}

func (p pathPart) index() (int, bool) { return p.idx, p.name == "" }

// splitPath splits a.b[2].c into a, b, [2], c.
func splitPath(field string) []pathPart {
	var parts []pathPart
	for seg := range strings.SplitSeq(field, ".") {
		name, rest, _ := strings.Cut(seg, "[")
		if name != "" {
			parts = append(parts, pathPart{name: name})
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			i, err := strconv.Atoi(num)
			if err != nil {
				break
			}
			parts = append(parts, pathPart{idx: i})
			_, rest, _ = strings.Cut(after, "[")
		}
	}
	return parts
}

// entry returns the key and value nodes of a mapping entry.
func entry(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := resolve(m.Content[i]); k.Value == key {
			return k, resolve(m.Content[i+1])
		}
	}
	return nil, nil
}

func scalarAt(m *yaml.Node, key string) string {
	if _, v := entry(m, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

func mappingAt(m *yaml.Node, key string) *yaml.Node {
	if _, v := entry(m, key); v != nil && v.Kind == yaml.MappingNode {
		return v
	}
	return nil
}

// Clusters returns the cluster names of the repository's ClusterPolicies, sorted and
// without duplicates.
func (r *Repository) Clusters() []string {
	var names []string
	for _, p := range r.ClusterPolicies {
		names = append(names, p.Policy.Spec.Cluster.Name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// ForCluster returns defaulted copies of the cluster's ClusterPolicy and of the rules
// that apply to it (those listing the cluster, or listing none), sorted by namespace
// and name. It returns an error when the repository has no policy for the cluster.
func (r *Repository) ForCluster(name string) (*v1alpha1.ClusterPolicy, []*v1alpha1.WorkloadDistributionRule, error) {
	var policy *v1alpha1.ClusterPolicy
	for _, p := range r.ClusterPolicies {
		if p.Policy.Spec.Cluster.Name == name {
			policy = p.Policy.DeepCopy()
			break
		}
	}
	if policy == nil {
		return nil, nil, fmt.Errorf("no ClusterPolicy for cluster %q (clusters: %s)", name, strings.Join(r.Clusters(), ", "))
	}
	policy.Default()
	var rules []*v1alpha1.WorkloadDistributionRule
	for _, rd := range r.Rules {
		if len(rd.Rule.Spec.Clusters) == 0 || slices.Contains(rd.Rule.Spec.Clusters, name) {
			rule := rd.Rule.DeepCopy()
			rule.Default(policy)
			rules = append(rules, rule)
		}
	}
	slices.SortFunc(rules, func(a, b *v1alpha1.WorkloadDistributionRule) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return policy, rules, nil
}
