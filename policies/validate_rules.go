package policies

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	splitmodel "github.com/ballast-dev/ballast/split"
)

func (v *validator) rule(rd *RuleDoc) {
	d, w := rd.Document, rd.Rule
	v.metadata(d, w.Name, w.Namespace, true)
	v.maxItems(d, "spec.clusters", len(w.Spec.Clusters), 50, "clusters are")
	v.enum(d, "spec.strategy", string(w.Spec.Strategy), string(v1alpha1.CostOptimized), string(v1alpha1.LeastInterrupted))
	v.distribution(d, "spec.", &w.Spec.DistributionSpec)
	v.selector(rd)
}

// keySet is what a selector allows for one label key: whether the label may be
// absent, and either the finite set of values allowed or (when !finite) the values
// excluded from all others.
type keySet struct {
	absentOK bool
	finite   bool
	values   map[string]bool
}

func (a keySet) intersect(b keySet) keySet {
	out := keySet{absentOK: a.absentOK && b.absentOK, finite: a.finite || b.finite, values: map[string]bool{}}
	switch {
	case a.finite && b.finite:
		for x := range a.values {
			if b.values[x] {
				out.values[x] = true
			}
		}
	case a.finite || b.finite:
		fin, excl := a, b
		if b.finite {
			fin, excl = b, a
		}
		for x := range fin.values {
			if !excl.values[x] {
				out.values[x] = true
			}
		}
	default:
		maps.Copy(out.values, a.values)
		maps.Copy(out.values, b.values)
	}
	return out
}

// empty reports whether no label set satisfies the constraint.
func (a keySet) empty() bool { return !a.absentOK && a.finite && len(a.values) == 0 }

// ruleSelector is a rule's selector, reduced to what overlap detection needs.
type ruleSelector struct {
	rd          *RuleDoc
	specificity int
	keys        map[string]keySet
	// never is set when the selector can match no workload at all.
	never bool
}

// selector checks a rule's workload selector and records it for overlap detection
// when it is valid.
func (v *validator) selector(rd *RuleDoc) {
	d, sel := rd.Document, rd.Rule.Spec.WorkloadSelector
	rs := ruleSelector{rd: rd, keys: map[string]keySet{}}
	valid := true
	add := func(key string, op selection.Operator, values []string) {
		ks := keySet{values: map[string]bool{}}
		switch op {
		case selection.In, selection.Equals:
			ks.finite = true
			for _, x := range values {
				ks.values[x] = true
			}
		case selection.NotIn:
			ks.absentOK = true
			for _, x := range values {
				ks.values[x] = true
			}
		case selection.DoesNotExist:
			ks.absentOK, ks.finite = true, true
		}
		if prev, ok := rs.keys[key]; ok {
			ks = prev.intersect(ks)
		}
		rs.keys[key] = ks
	}
	const f = "spec.workloadSelector"
	if sel != nil {
		rs.specificity = splitmodel.Specificity(sel)
		for _, k := range sortedKeys(sel.MatchLabels) {
			if _, err := labels.NewRequirement(k, selection.Equals, []string{sel.MatchLabels[k]}); err != nil {
				valid = false
				v.keyf(d, f+".matchLabels", k, RuleInvalidSelector, "%s", selectorHint(k, err))
				continue
			}
			add(k, selection.Equals, []string{sel.MatchLabels[k]})
		}
		for i, e := range sel.MatchExpressions {
			ef := fmt.Sprintf("%s.matchExpressions[%d]", f, i)
			op, ok := selectorOps[e.Operator]
			if !ok {
				valid = false
				msg := fmt.Sprintf("%q is not a label selector operator: write In, NotIn, Exists or DoesNotExist", e.Operator)
				if s := closest(string(e.Operator), []string{"In", "NotIn", "Exists", "DoesNotExist"}); s != "" {
					msg = fmt.Sprintf("%q is not a label selector operator: did you mean %q?", e.Operator, s)
				}
				v.errorf(d, ef+".operator", RuleInvalidSelector, "%s", msg)
				continue
			}
			if _, err := labels.NewRequirement(e.Key, op, e.Values); err != nil {
				valid = false
				v.expressionError(d, ef, e, err)
				continue
			}
			add(e.Key, op, e.Values)
		}
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil && valid {
			valid = false
			v.errorf(d, f, RuleInvalidSelector, "the selector is not valid: %v", err)
		}
	}
	if !valid {
		return
	}
	for _, k := range sortedKeys(rs.keys) {
		if rs.keys[k].empty() {
			rs.never = true
			v.warnf(d, f, RuleInvalidSelector, "the selector can never match: its requirements on label %q contradict each other, so the rule applies to no workload", k)
			break
		}
	}
	v.selectors = append(v.selectors, rs)
}

var selectorOps = map[metav1.LabelSelectorOperator]selection.Operator{
	metav1.LabelSelectorOpIn:           selection.In,
	metav1.LabelSelectorOpNotIn:        selection.NotIn,
	metav1.LabelSelectorOpExists:       selection.Exists,
	metav1.LabelSelectorOpDoesNotExist: selection.DoesNotExist,
}

func (v *validator) expressionError(d *Document, ef string, e metav1.LabelSelectorRequirement, err error) {
	switch {
	case len(validation.IsQualifiedName(e.Key)) > 0:
		v.errorf(d, ef+".key", RuleInvalidSelector, "%s", selectorHint(e.Key, err))
	case (e.Operator == metav1.LabelSelectorOpIn || e.Operator == metav1.LabelSelectorOpNotIn) && len(e.Values) == 0:
		v.errorf(d, ef, RuleInvalidSelector, "%s needs at least one value: add values, e.g. values: [web], or use Exists", e.Operator)
	case e.Operator == metav1.LabelSelectorOpExists || e.Operator == metav1.LabelSelectorOpDoesNotExist:
		v.errorf(d, ef+".values", RuleInvalidSelector, "%s takes no values: remove values, or use In", e.Operator)
	default:
		v.errorf(d, ef+".values", RuleInvalidSelector, "%s", selectorHint(e.Key, err))
	}
}

func selectorHint(key string, err error) string {
	return fmt.Sprintf("label selector for %q: %v", key, err)
}

// disjoint reports whether no label set satisfies both selectors.
func disjoint(a, b *ruleSelector) bool {
	if a.never || b.never {
		return true
	}
	for k, ka := range a.keys {
		if kb, ok := b.keys[k]; ok && !ka.meets(kb) {
			return true
		}
	}
	return false
}

// meets reports whether some label set satisfies both a and b: whether
// a.intersect(b) is not empty, without building it.
func (a keySet) meets(b keySet) bool {
	if a.absentOK && b.absentOK || !a.finite && !b.finite {
		return true
	}
	fin, other := a, b
	if b.finite && (!a.finite || len(b.values) < len(a.values)) {
		fin, other = b, a
	}
	for x := range fin.values {
		if other.values[x] == other.finite {
			return true
		}
	}
	return false
}

// shareCluster reports whether two rules apply to a common cluster (a rule without
// clusters applies to every cluster); commonClusters names it.
func shareCluster(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, c := range a {
		if slices.Contains(b, c) {
			return true
		}
	}
	return false
}

// commonClusters returns whether two rules apply to a common cluster, and names it.
// A rule without clusters applies to every cluster.
func commonClusters(a, b []string) (bool, string) {
	switch {
	case len(a) == 0 && len(b) == 0:
		return true, "every cluster"
	case len(a) == 0:
		return true, "cluster " + strings.Join(b, ", ")
	case len(b) == 0:
		return true, "cluster " + strings.Join(a, ", ")
	}
	var both []string
	for _, c := range a {
		if slices.Contains(b, c) && !slices.Contains(both, c) {
			both = append(both, c)
		}
	}
	return len(both) > 0, "cluster " + strings.Join(both, ", ")
}

// overlaps reports rules of the same namespace and specificity that can match the
// same workload in the same cluster. Rules are compared only within a namespace and
// specificity, and there only with the earlier rules an index of their selectors
// (overlapIndex) cannot rule out, so that rules told apart by the values of a label
// cost time linear in their number.
func (v *validator) overlaps() {
	type groupKey struct {
		namespace   string
		specificity int
	}
	groups := map[groupKey]*overlapIndex{}
	for j := range v.selectors {
		later := &v.selectors[j]
		if later.never {
			continue // matches nothing, so overlaps nothing
		}
		key := groupKey{later.rd.Rule.Namespace, later.specificity}
		idx := groups[key]
		if idx == nil {
			idx = newOverlapIndex(v.selectors)
			groups[key] = idx
		}
		var others []string
		count, where0 := 0, ""
		for _, i := range idx.candidates(later) {
			earlier := &v.selectors[i]
			if !shareCluster(earlier.rd.Rule.Spec.Clusters, later.rd.Rule.Spec.Clusters) || disjoint(earlier, later) {
				continue
			}
			if count == 0 {
				_, where0 = commonClusters(earlier.rd.Rule.Spec.Clusters, later.rd.Rule.Spec.Clusters)
			}
			if count++; count <= 3 {
				others = append(others, fmt.Sprintf("%s (%s)", ruleName(earlier.rd), where(earlier.rd.Document, selectorField(earlier.rd))))
			}
		}
		idx.add(j)
		if count == 0 {
			continue
		}
		if count > 3 {
			others = append(others, fmt.Sprintf("and %d more", count-3))
		}
		v.errorf(later.rd.Document, selectorField(later.rd), RuleOverlappingRules,
			"rule %s can match the same workloads as rule %s in %s with equal specificity (%s), so neither wins: make the selectors exclusive (e.g. different values of one label), add a requirement to the rule that should win, or merge the rules",
			ruleName(later.rd), strings.Join(others, ", "), where0, requirements(later.specificity))
	}
}

func requirements(n int) string {
	switch n {
	case 0:
		return "no selector requirements"
	case 1:
		return "1 selector requirement each"
	}
	return fmt.Sprintf("%d selector requirements each", n)
}

func ruleName(rd *RuleDoc) string { return rd.Rule.Namespace + "/" + rd.Rule.Name }

// selectorField is where findings about a rule's selector point: the selector, or the
// rule's name when it has none.
func selectorField(rd *RuleDoc) string {
	if rd.has("spec.workloadSelector") {
		return "spec.workloadSelector"
	}
	return "metadata.name"
}
