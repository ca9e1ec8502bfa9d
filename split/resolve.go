package split

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Workload is what precedence looks at: where a workload lives, its labels (rules
// select on them) and its annotations (they override rules).
type Workload struct {
	Namespace, Name     string
	Labels, Annotations map[string]string
}

// Specificity is how specific a rule's workload selector is: its number of
// requirements (matchLabels entries plus matchExpressions). A nil or empty selector,
// which selects every workload of the namespace, has specificity 0. Of two rules
// matching one workload, the more specific wins; equal specificity is a validation
// error.
func Specificity(sel *metav1.LabelSelector) int {
	if sel == nil {
		return 0
	}
	return len(sel.MatchLabels) + len(sel.MatchExpressions)
}

// AppliesTo reports whether a rule applies in a cluster: it lists the cluster in
// spec.clusters, or lists none. Rules being deleted apply nowhere.
func AppliesTo(r *v1alpha1.WorkloadDistributionRule, cluster string) bool {
	if r.DeletionTimestamp != nil {
		return false
	}
	return len(r.Spec.Clusters) == 0 || slices.Contains(r.Spec.Clusters, cluster)
}

// MostSpecific returns the rule of the workload's namespace that applies in the
// cluster, selects the workload, and has the highest specificity (between equally
// specific rules, which validation rejects, the first by name), or nil. The error
// names a rule whose selector is invalid.
func MostSpecific(cluster string, rules []*v1alpha1.WorkloadDistributionRule, w Workload) (*v1alpha1.WorkloadDistributionRule, error) {
	var best *v1alpha1.WorkloadDistributionRule
	bestScore := -1
	for _, r := range rules {
		if r == nil || r.Namespace != w.Namespace || !AppliesTo(r, cluster) {
			continue
		}
		if sel := r.Spec.WorkloadSelector; sel != nil {
			s, err := metav1.LabelSelectorAsSelector(sel)
			if err != nil {
				return nil, fmt.Errorf("rule %s/%s has an invalid workload selector: %w", r.Namespace, r.Name, err)
			}
			if !s.Matches(labels.Set(w.Labels)) {
				continue
			}
		}
		score := Specificity(r.Spec.WorkloadSelector)
		if score > bestScore || (score == bestScore && r.Name < best.Name) {
			best, bestScore = r, score
		}
	}
	return best, nil
}

// Resolve returns the effective rule of a workload: its annotations win over the most
// specific rule of its namespace (MostSpecific), which wins over the cluster default;
// a cluster with Spot disabled keeps every replica On-Demand. Invalid annotations are
// ignored and listed in Rule.Ignored. rules may hold rules of any namespace and
// cluster; those that do not apply are skipped.
func Resolve(policy *v1alpha1.ClusterPolicy, rules []*v1alpha1.WorkloadDistributionRule, w Workload) (Rule, error) {
	spec := policy.Spec
	d := spec.Distribution
	r := Rule{
		BaseOnDemand:    deref(d.BaseOnDemand, v1alpha1.DefaultBaseOnDemand),
		OnDemandPercent: deref(d.OnDemandPercent, v1alpha1.DefaultOnDemandPercent),
		Selector:        orDefault(d.Selector, v1alpha1.DefaultSelector),
		Strategy:        orDefault(spec.Spot.Strategy, v1alpha1.DefaultStrategy),
		Source:          "cluster default",
	}
	best, err := MostSpecific(spec.Cluster.Name, rules, w)
	if err != nil {
		return r, err
	}
	if best != nil {
		s := best.Spec
		r.BaseOnDemand = deref(s.BaseOnDemand, r.BaseOnDemand)
		r.OnDemandPercent = deref(s.OnDemandPercent, r.OnDemandPercent)
		r.Selector = orDefault(s.Selector, r.Selector)
		r.Strategy = orDefault(s.Strategy, r.Strategy)
		r.Source = "rule " + best.Namespace + "/" + best.Name
		r.Governing = best
	}
	overridden := false
	bad := func(key, value, want string) {
		r.Ignored = append(r.Ignored, fmt.Sprintf("workload %s/%s: annotation %s=%q is ignored: %s", w.Namespace, w.Name, key, value, want))
	}
	if v, ok := w.Annotations[v1alpha1.OnDemandPercentAnnotation]; ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32); err == nil && n >= 0 && n <= 100 {
			r.OnDemandPercent, overridden = int32(n), true
		} else {
			bad(v1alpha1.OnDemandPercentAnnotation, v, "write a whole number from 0 to 100")
		}
	}
	if v, ok := w.Annotations[v1alpha1.BaseOnDemandAnnotation]; ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32); err == nil && n >= 0 {
			r.BaseOnDemand, overridden = int32(n), true
		} else {
			bad(v1alpha1.BaseOnDemandAnnotation, v, "write a whole number of replicas")
		}
	}
	if v, ok := w.Annotations[v1alpha1.SpotAnnotation]; ok {
		if strings.EqualFold(strings.TrimSpace(v), "never") {
			r.NoSpot, overridden = true, true
		} else {
			bad(v1alpha1.SpotAnnotation, v, "the only value is never")
		}
	}
	if overridden {
		r.Source += " + annotations"
	}
	if spec.Spot.Enabled != nil && !*spec.Spot.Enabled {
		r.NoSpot = true
		r.Source += " (Spot disabled)"
	}
	return r, nil
}

func deref(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func orDefault[T ~string](v, def T) T {
	if v == "" {
		return def
	}
	return v
}
