package cost

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Distribution is the effective Spot / On-Demand split of one workload.
type Distribution struct {
	OnDemandPercent int                   `json:"onDemandPercent"`
	BaseOnDemand    int                   `json:"baseOnDemand"`
	Selector        v1alpha1.SpotSelector `json:"selector"`
	Strategy        v1alpha1.Strategy     `json:"strategy"`
	// SpotNever is set by the ballast.dev/spot: never annotation, or when the policy
	// disables Spot.
	SpotNever bool `json:"spotNever,omitempty"`
	// Source says where the split comes from: "cluster default", "rule NS/NAME", and
	// "+ annotations" when annotations override it.
	Source string `json:"source"`
	// Ignored lists invalid annotations, which the distributor ignores too.
	Ignored []string `json:"ignored,omitempty"`
}

// Split returns how many of replicas run On-Demand and how many on Spot: all
// On-Demand when Spot is never allowed or the selector is SpotReady and there is at
// most one replica; otherwise the first BaseOnDemand replicas, then OnDemandPercent
// of the rest rounded up (in favour of On-Demand, as EC2 Auto Scaling rounds its
// On-Demand percentage above base).
func (d Distribution) Split(replicas int) (onDemand, spot int) {
	if replicas <= 0 {
		return 0, 0
	}
	if d.SpotNever || (d.Selector != v1alpha1.All && replicas <= 1) {
		return replicas, 0
	}
	base := min(replicas, max(d.BaseOnDemand, 0))
	rest := replicas - base
	pct := min(max(d.OnDemandPercent, 0), 100)
	onDemand = base + (rest*pct+99)/100
	return onDemand, replicas - onDemand
}

// EffectiveDistribution resolves the split of a workload as the distributor does: its
// annotations win over the most specific matching rule of its namespace (most
// matchLabels plus matchExpressions; between equally specific rules, which validation
// rejects, the first by name), which wins over the cluster default. Invalid
// annotations are ignored and listed in Ignored. Rules for other clusters are
// skipped; the error is an invalid rule selector.
func EffectiveDistribution(policy *v1alpha1.ClusterPolicy, rules []*v1alpha1.WorkloadDistributionRule, app *App) (Distribution, error) {
	cd := policy.Spec.Distribution
	d := Distribution{
		OnDemandPercent: int(deref(cd.OnDemandPercent, v1alpha1.DefaultOnDemandPercent)),
		BaseOnDemand:    int(deref(cd.BaseOnDemand, v1alpha1.DefaultBaseOnDemand)),
		Selector:        cd.Selector,
		Strategy:        policy.Spec.Spot.Strategy,
		Source:          "cluster default",
	}
	if d.Selector == "" {
		d.Selector = v1alpha1.DefaultSelector
	}
	if d.Strategy == "" {
		d.Strategy = v1alpha1.DefaultStrategy
	}
	rule, err := matchRule(policy.Spec.Cluster.Name, rules, app)
	if err != nil {
		return d, err
	}
	if rule != nil {
		rs := rule.Spec
		if rs.OnDemandPercent != nil {
			d.OnDemandPercent = int(*rs.OnDemandPercent)
		}
		if rs.BaseOnDemand != nil {
			d.BaseOnDemand = int(*rs.BaseOnDemand)
		}
		if rs.Selector != "" {
			d.Selector = rs.Selector
		}
		if rs.Strategy != "" {
			d.Strategy = rs.Strategy
		}
		d.Source = "rule " + rule.Namespace + "/" + rule.Name
	}
	overridden := false
	bad := func(key, value, want string) {
		d.Ignored = append(d.Ignored, fmt.Sprintf("workload %s/%s: annotation %s=%q is ignored: %s", app.Namespace, app.Name, key, value, want))
	}
	if v, ok := app.Annotations[v1alpha1.OnDemandPercentAnnotation]; ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 100 {
			d.OnDemandPercent, overridden = n, true
		} else {
			bad(v1alpha1.OnDemandPercentAnnotation, v, "write a whole number from 0 to 100")
		}
	}
	if v, ok := app.Annotations[v1alpha1.BaseOnDemandAnnotation]; ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			d.BaseOnDemand, overridden = n, true
		} else {
			bad(v1alpha1.BaseOnDemandAnnotation, v, "write a whole number of replicas")
		}
	}
	if v, ok := app.Annotations[v1alpha1.SpotAnnotation]; ok {
		if strings.EqualFold(v, "never") {
			d.SpotNever, overridden = true, true
		} else {
			bad(v1alpha1.SpotAnnotation, v, "the only value is never")
		}
	}
	if overridden {
		d.Source += " + annotations"
	}
	if policy.Spec.Spot.Enabled != nil && !*policy.Spec.Spot.Enabled {
		d.SpotNever = true
		d.Source += " (Spot disabled)"
	}
	return d, nil
}

// matchRule returns the most specific rule of the app's namespace whose selector
// matches its labels, or nil.
func matchRule(cluster string, rules []*v1alpha1.WorkloadDistributionRule, app *App) (*v1alpha1.WorkloadDistributionRule, error) {
	var best *v1alpha1.WorkloadDistributionRule
	bestSpec := -1
	for _, r := range rules {
		if r.Namespace != app.Namespace || (len(r.Spec.Clusters) > 0 && !slices.Contains(r.Spec.Clusters, cluster)) {
			continue
		}
		spec := 0
		if sel := r.Spec.WorkloadSelector; sel != nil {
			spec = len(sel.MatchLabels) + len(sel.MatchExpressions)
			s, err := metav1.LabelSelectorAsSelector(sel)
			if err != nil {
				return nil, fmt.Errorf("rule %s/%s has an invalid workload selector: %w", r.Namespace, r.Name, err)
			}
			if !s.Matches(labels.Set(app.Labels)) {
				continue
			}
		}
		if spec > bestSpec || (spec == bestSpec && r.Name < best.Name) {
			best, bestSpec = r, spec
		}
	}
	return best, nil
}
