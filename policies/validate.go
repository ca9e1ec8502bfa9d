package policies

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// MaxFileSize is the size in bytes of the largest policy file the loader accepts;
// a larger one is a finding.
const MaxFileSize = maxFileSize

// Options tune ValidateWith.
type Options struct {
	// Today is the date expiry dates of commitments are compared with. The zero value
	// skips that check: validation never reads the clock, so the same files always give
	// the same findings unless the caller passes a date.
	Today time.Time
	// CheckRendered, when set, is called for every ClusterPolicy that has no error
	// finding once every other check has run, and what it returns is added to the
	// findings. It lets the caller check what the policy renders to (Karpenter's own
	// rules, see crdcheck) without policies importing render, which sits above it.
	CheckRendered func(p *ClusterPolicyDoc) Findings
}

// Validate returns the findings of loading plus the semantic findings of every policy
// document, sorted: the API server's schema rules (ranges, enums, patterns, CEL rules)
// checked offline, and the rules no schema can express (overlapping rules, limits that
// cannot hold the base On-Demand replicas, a Spot supply too narrow for spot-to-spot
// consolidation, maintenance windows that compile to more disruption budgets than a
// NodePool takes in some season, ...). What it accepts renders at any reference time
// from maintenance.From to maintenance.To. It does not check expiry dates; see
// ValidateWith.
func (r *Repository) Validate() Findings {
	return r.ValidateWith(Options{})
}

// ValidateWith is Validate with options.
func (r *Repository) ValidateWith(opts Options) Findings {
	v := &validator{repo: r, opts: opts, zones: map[string]zoneResult{}, broken: map[*Document]bool{}}
	for _, p := range r.ClusterPolicies {
		v.clusterPolicy(p)
	}
	for _, rd := range r.Rules {
		v.rule(rd)
	}
	v.duplicates()
	v.ruleClusters()
	v.overlaps()
	for _, p := range r.ClusterPolicies {
		if !v.broken[p.Document] {
			v.capacity(p)
			v.compiledBudgets(p.Document, &p.Policy.Spec)
		}
	}
	if opts.CheckRendered != nil {
		for _, p := range r.ClusterPolicies {
			if !v.broken[p.Document] {
				for _, f := range opts.CheckRendered(p) {
					v.record(p.Document, f)
				}
			}
		}
	}
	out := make(Findings, 0, len(r.Findings)+len(v.findings))
	out = append(out, r.Findings...)
	out = append(out, v.findings...)
	out.Sort()
	return out
}

// validator collects semantic findings.
type validator struct {
	repo     *Repository
	opts     Options
	findings Findings
	zones    map[string]zoneResult
	// selectors are the valid selectors of the rules, in repository order.
	selectors []ruleSelector
	// broken are the documents with an error finding; the checks that combine many
	// fields skip them, so that one mistake is not reported again in other words.
	broken map[*Document]bool
}

func (v *validator) add(d *Document, sev Severity, field, rule, format string, args ...any) {
	f := d.finding(field, rule, format, args...)
	f.Severity = sev
	v.record(d, f)
}

func (v *validator) record(d *Document, f Finding) {
	if f.Severity == SeverityError {
		v.broken[d] = true
	}
	v.findings = append(v.findings, f)
}

func (v *validator) errorf(d *Document, field, rule, format string, args ...any) {
	v.add(d, SeverityError, field, rule, format, args...)
}

func (v *validator) warnf(d *Document, field, rule, format string, args ...any) {
	v.add(d, SeverityWarning, field, rule, format, args...)
}

// keyf reports a finding about the key of a map entry (a tag, a label), which field
// paths cannot address because keys contain dots.
func (v *validator) keyf(d *Document, mapField, key, rule, format string, args ...any) {
	f := d.finding(mapField, rule, format, args...)
	f.Field = fmt.Sprintf("%s[%s]", mapField, strconv.Quote(key))
	if k, _ := entry(d.node(mapField), key); k != nil {
		f.Line, f.Column = k.Line, k.Column
	}
	v.record(d, f)
}

// node returns the YAML node at a field path, or nil.
func (d *Document) node(field string) *yaml.Node {
	n := d.root
	for _, part := range splitPath(field) {
		if n == nil {
			return nil
		}
		if idx, ok := part.index(); ok {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return nil
			}
			n = resolve(n.Content[idx])
			continue
		}
		_, n = entry(n, part.name)
	}
	return n
}

// has reports whether the document writes the field (even as null or empty).
func (d *Document) has(field string) bool { return d.node(field) != nil }

// where names the position of a document's field for messages about another document.
func where(d *Document, field string) string { return d.Locate(field).String() }

// --- generic checks -----------------------------------------------------------------

func (v *validator) intRange(d *Document, field string, p *int32, lo, hi int64) {
	if p != nil {
		v.intRange64(d, field, int64(*p), lo, hi)
	}
}

func (v *validator) intRange64(d *Document, field string, n, lo, hi int64) {
	switch {
	case n < lo && hi == noMax:
		v.errorf(d, field, RuleOutOfRange, "%d is too small: write at least %d", n, lo)
	case n < lo || n > hi:
		v.errorf(d, field, RuleOutOfRange, "%d is out of range: write a number from %d to %d", n, lo, hi)
	}
}

// noMax is the upper bound of a range that has none.
const noMax = int64(1<<63 - 1)

// enum reports a value that is not one of the allowed values, suggesting the closest.
func (v *validator) enum(d *Document, field, value string, allowed ...string) {
	if value == "" || slices.Contains(allowed, value) {
		return
	}
	msg := fmt.Sprintf("%q is not allowed: write one of %s", value, strings.Join(allowed, ", "))
	if s := closest(value, allowed); s != "" {
		msg = fmt.Sprintf("%q is not allowed: did you mean %q? (one of %s)", value, s, strings.Join(allowed, ", "))
	}
	v.errorf(d, field, RuleInvalidValue, "%s", msg)
}

// closest returns the allowed value nearest to s when it is close enough to be a typo,
// counting two swapped neighbouring letters (prdo for prod) as one typo.
func closest(s string, allowed []string) string {
	fields := make(map[string]fieldInfo, len(allowed))
	for _, a := range allowed {
		fields[a] = fieldInfo{}
	}
	if best := suggest(s, fields); best != "" {
		return best
	}
	for _, a := range allowed {
		if len(a) == len(s) && len(s) > 1 {
			i := 0
			for i < len(s) && s[i] == a[i] {
				i++
			}
			if i+1 < len(s) && s[i] == a[i+1] && s[i+1] == a[i] && s[i+2:] == a[i+2:] {
				return a
			}
		}
	}
	return ""
}

func (v *validator) maxItems(d *Document, field string, n, maxN int, what string) {
	if n > maxN {
		v.errorf(d, field, RuleTooManyItems, "%d %s listed; at most %d are allowed", n, what, maxN)
	}
}

// --- metadata and cross-document rules ----------------------------------------------

func (v *validator) metadata(d *Document, name, namespace string, namespaced bool) {
	switch {
	case name == "":
		v.errorf(d, "metadata.name", RuleMissingField, "metadata.name is required: name the %s, e.g. name: %s", d.Kind, exampleName(d))
	case len(validation.IsDNS1123Subdomain(name)) > 0:
		v.errorf(d, "metadata.name", RuleInvalidValue, "%q is not a valid name: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit", name)
	}
	switch {
	case !namespaced && namespace != "":
		v.warnf(d, "metadata.namespace", RuleIgnoredField, "a ClusterPolicy is cluster-scoped, so metadata.namespace is ignored: remove it")
	case namespaced && namespace == "":
		v.errorf(d, "metadata.namespace", RuleMissingField, "a WorkloadDistributionRule applies to the workloads of its namespace: set metadata.namespace")
	case namespaced && len(validation.IsDNS1123Label(namespace)) > 0:
		v.errorf(d, "metadata.namespace", RuleInvalidValue, "%q is not a valid namespace: use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit", namespace)
	}
}

func exampleName(d *Document) string {
	if d.Kind == v1alpha1.ClusterPolicyKind {
		if n := scalarAt(mappingAt(mappingAt(d.root, "spec"), "cluster"), "name"); n != "" {
			return n
		}
		return "prod"
	}
	return "web-default"
}

// duplicates reports a second ClusterPolicy for a cluster, and names used twice.
func (v *validator) duplicates() {
	clusters := map[string]*Document{}
	names := map[string]*Document{}
	for _, p := range v.repo.ClusterPolicies {
		if c := p.Policy.Spec.Cluster.Name; c != "" {
			if first, ok := clusters[c]; ok {
				v.errorf(p.Document, "spec.cluster.name", RuleDuplicateCluster,
					"cluster %q already has a ClusterPolicy (%s): a cluster has exactly one; merge the two or rename this cluster", c, where(first, "spec.cluster.name"))
			} else {
				clusters[c] = p.Document
			}
		}
		if n := p.Policy.Name; n != "" {
			if first, ok := names[n]; ok {
				v.errorf(p.Document, "metadata.name", RuleDuplicateName,
					"ClusterPolicy %q is already defined (%s): give this one another metadata.name", n, where(first, "metadata.name"))
			} else {
				names[n] = p.Document
			}
		}
	}
	rules := map[string]*Document{}
	for _, rd := range v.repo.Rules {
		if rd.Rule.Name == "" || rd.Rule.Namespace == "" {
			continue
		}
		key := rd.Rule.Namespace + "/" + rd.Rule.Name
		if first, ok := rules[key]; ok {
			v.errorf(rd.Document, "metadata.name", RuleDuplicateName,
				"WorkloadDistributionRule %s is already defined (%s): give this one another metadata.name", key, where(first, "metadata.name"))
		} else {
			rules[key] = rd.Document
		}
	}
}

// knownClusters returns the cluster names of every ClusterPolicy, including those that
// failed to decode (their own findings say why).
func (v *validator) knownClusters() []string {
	names := v.repo.Clusters()
	for _, d := range v.repo.Invalid {
		if d.Kind != v1alpha1.ClusterPolicyKind {
			continue
		}
		if n := scalarAt(mappingAt(mappingAt(d.root, "spec"), "cluster"), "name"); n != "" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// ruleClusters reports rules naming a cluster the repository has no policy for.
func (v *validator) ruleClusters() {
	known := v.knownClusters()
	for _, rd := range v.repo.Rules {
		for i, c := range rd.Rule.Spec.Clusters {
			if slices.Contains(known, c) {
				continue
			}
			field := fmt.Sprintf("spec.clusters[%d]", i)
			switch {
			case len(known) == 0:
				v.errorf(rd.Document, field, RuleUnknownCluster,
					"no ClusterPolicy in this repository is for cluster %q: add one, or validate the directory that holds both", c)
			case closest(c, known) != "":
				v.errorf(rd.Document, field, RuleUnknownCluster, "no ClusterPolicy is for cluster %q: did you mean %q?", c, closest(c, known))
			default:
				v.errorf(rd.Document, field, RuleUnknownCluster, "no ClusterPolicy is for cluster %q: the clusters are %s", c, strings.Join(known, ", "))
			}
		}
	}
}
