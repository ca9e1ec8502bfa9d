package distribution

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

func TestResolvePrecedence(t *testing.T) {
	cluster := &v1alpha1.ClusterPolicy{Spec: v1alpha1.ClusterPolicySpec{
		Cluster:      v1alpha1.ClusterIdentity{Name: "prod"},
		Spot:         v1alpha1.SpotSpec{Strategy: v1alpha1.LeastInterrupted},
		Distribution: v1alpha1.DistributionSpec{BaseOnDemand: ptr.To[int32](1), OnDemandPercent: ptr.To[int32](20), Selector: v1alpha1.SpotReady},
	}}
	rule := func(name string, sel *metav1.LabelSelector, base, percent int32) v1alpha1.WorkloadDistributionRule {
		return v1alpha1.WorkloadDistributionRule{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
			Spec: v1alpha1.WorkloadDistributionRuleSpec{WorkloadSelector: sel, DistributionSpec: v1alpha1.DistributionSpec{
				BaseOnDemand: ptr.To(base), OnDemandPercent: ptr.To(percent),
			}},
		}
	}
	namespaceWide := rule("namespace", nil, 2, 50)
	web := rule("web", &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "web"}}, 3, 60)
	webCheckout := rule("web-checkout", &metav1.LabelSelector{
		MatchLabels:      map[string]string{"tier": "web"},
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"checkout"}}},
	}, 4, 70)
	rules := []v1alpha1.WorkloadDistributionRule{namespaceWide, web, webCheckout}
	for _, tc := range []struct {
		name        string
		rules       []v1alpha1.WorkloadDistributionRule
		labels      map[string]string
		annotations map[string]string
		want        Rule
		matched     bool
	}{
		{"cluster default", nil, nil, nil,
			Rule{BaseOnDemand: 1, OnDemandPercent: 20, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.LeastInterrupted, Source: "cluster prod"}, false},
		{"namespace-wide rule", rules, map[string]string{"tier": "db"}, nil,
			Rule{BaseOnDemand: 2, OnDemandPercent: 50, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.LeastInterrupted, Source: "rule shop/namespace"}, true},
		{"more specific rule wins", rules, map[string]string{"tier": "web"}, nil,
			Rule{BaseOnDemand: 3, OnDemandPercent: 60, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.LeastInterrupted, Source: "rule shop/web"}, true},
		{"most specific rule wins", rules, map[string]string{"tier": "web", "app": "checkout"}, nil,
			Rule{BaseOnDemand: 4, OnDemandPercent: 70, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.LeastInterrupted, Source: "rule shop/web-checkout"}, true},
		{"annotations win over rules", rules, map[string]string{"tier": "web"},
			map[string]string{v1alpha1.OnDemandPercentAnnotation: "10", v1alpha1.BaseOnDemandAnnotation: "0"},
			Rule{BaseOnDemand: 0, OnDemandPercent: 10, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.LeastInterrupted,
				Source: "annotation ballast.dev/base-on-demand,ballast.dev/on-demand-percent"}, true},
		{"spot never", rules, map[string]string{"tier": "web"}, map[string]string{v1alpha1.SpotAnnotation: "never"},
			Rule{BaseOnDemand: 3, OnDemandPercent: 60, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.LeastInterrupted, NoSpot: true,
				Source: "annotation ballast.dev/spot"}, true},
		{"invalid annotation ignored", nil, nil, map[string]string{v1alpha1.OnDemandPercentAnnotation: "150"},
			Rule{BaseOnDemand: 1, OnDemandPercent: 20, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.LeastInterrupted, Source: "cluster prod"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, matched := Resolve(cluster, tc.rules, tc.labels, tc.annotations)
			if got != tc.want || matched != tc.matched {
				t.Fatalf("Resolve = %+v, %v; want %+v, %v", got, matched, tc.want, tc.matched)
			}
		})
	}
	disabled := cluster.DeepCopy()
	disabled.Spec.Spot.Enabled = ptr.To(false)
	if got, _ := Resolve(disabled, nil, nil, nil); !got.NoSpot {
		t.Fatal("Spot disabled for the cluster must keep every replica On-Demand")
	}
}
