package distribution

import (
	"fmt"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Resolve returns the effective rule of a workload with the given labels and
// annotations: workload annotations win over the most specific matching rule of its
// namespace (the one whose workloadSelector has the most requirements; ties broken by
// name, which validation reports as an error), which wins over the cluster default.
// rules are the WorkloadDistributionRules of the workload's namespace. It returns
// matched=false when neither a rule nor the annotations name the workload and the
// cluster default applies.
func Resolve(cluster *v1alpha1.ClusterPolicy, rules []v1alpha1.WorkloadDistributionRule, workloadLabels, annotations map[string]string) (rule Rule, matched bool) {
	spec := cluster.Spec
	d := spec.Distribution
	rule = Rule{
		BaseOnDemand:    ptr.Deref(d.BaseOnDemand, v1alpha1.DefaultBaseOnDemand),
		OnDemandPercent: ptr.Deref(d.OnDemandPercent, v1alpha1.DefaultOnDemandPercent),
		Selector:        orDefault(d.Selector, v1alpha1.DefaultSelector),
		Strategy:        orDefault(spec.Spot.Strategy, v1alpha1.DefaultStrategy),
		NoSpot:          !ptr.Deref(spec.Spot.Enabled, true),
		Source:          "cluster " + spec.Cluster.Name,
	}
	if best := mostSpecific(rules, workloadLabels); best != nil {
		matched = true
		s := best.Spec
		rule.BaseOnDemand = ptr.Deref(s.BaseOnDemand, rule.BaseOnDemand)
		rule.OnDemandPercent = ptr.Deref(s.OnDemandPercent, rule.OnDemandPercent)
		rule.Selector = orDefault(s.Selector, rule.Selector)
		rule.Strategy = orDefault(s.Strategy, rule.Strategy)
		rule.Source = fmt.Sprintf("rule %s/%s", best.Namespace, best.Name)
	}
	var overridden []string
	if v, ok := annotations[v1alpha1.BaseOnDemandAnnotation]; ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && n >= 0 {
			rule.BaseOnDemand = int32(n)
			overridden = append(overridden, v1alpha1.BaseOnDemandAnnotation)
		}
	}
	if v, ok := annotations[v1alpha1.OnDemandPercentAnnotation]; ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && n >= 0 && n <= 100 {
			rule.OnDemandPercent = int32(n)
			overridden = append(overridden, v1alpha1.OnDemandPercentAnnotation)
		}
	}
	if strings.EqualFold(annotations[v1alpha1.SpotAnnotation], "never") {
		rule.NoSpot = true
		overridden = append(overridden, v1alpha1.SpotAnnotation)
	}
	if len(overridden) > 0 {
		matched = true
		rule.Source = "annotation " + strings.Join(overridden, ",")
	}
	return rule, matched
}

func orDefault[T ~string](v, def T) T {
	if v == "" {
		return def
	}
	return v
}

// mostSpecific returns the matching rule with the most selector requirements.
func mostSpecific(rules []v1alpha1.WorkloadDistributionRule, workloadLabels map[string]string) *v1alpha1.WorkloadDistributionRule {
	var best *v1alpha1.WorkloadDistributionRule
	bestScore := -1
	for i := range rules {
		r := &rules[i]
		if !r.DeletionTimestamp.IsZero() {
			continue
		}
		score, ok := matches(r.Spec.WorkloadSelector, workloadLabels)
		if !ok {
			continue
		}
		if score > bestScore || (score == bestScore && r.Name < best.Name) {
			best, bestScore = r, score
		}
	}
	return best
}

// matches reports whether the selector selects the labels, and its specificity (the
// number of requirements). A nil or empty selector selects every workload.
func matches(sel *metav1.LabelSelector, workloadLabels map[string]string) (int, bool) {
	if sel == nil {
		return 0, true
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return 0, false
	}
	return len(sel.MatchLabels) + len(sel.MatchExpressions), s.Matches(labels.Set(workloadLabels))
}
