package split

import (
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

func testPolicy(mut func(*v1alpha1.ClusterPolicySpec)) *v1alpha1.ClusterPolicy {
	p := &v1alpha1.ClusterPolicy{Spec: v1alpha1.ClusterPolicySpec{
		Cluster:      v1alpha1.ClusterIdentity{Name: "prod", Region: "eu-west-1"},
		Distribution: v1alpha1.DistributionSpec{OnDemandPercent: ptr.To[int32](20), BaseOnDemand: ptr.To[int32](1), Selector: v1alpha1.SpotReady},
		Spot:         v1alpha1.SpotSpec{Strategy: v1alpha1.CostOptimized},
	}}
	if mut != nil {
		mut(&p.Spec)
	}
	return p
}

func rule(ns, name string, sel *metav1.LabelSelector, pct, base int32, selector v1alpha1.SpotSelector) *v1alpha1.WorkloadDistributionRule {
	return &v1alpha1.WorkloadDistributionRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.WorkloadDistributionRuleSpec{WorkloadSelector: sel, DistributionSpec: v1alpha1.DistributionSpec{
			OnDemandPercent: ptr.To(pct), BaseOnDemand: ptr.To(base), Selector: selector,
		}},
	}
}

func TestResolve(t *testing.T) {
	policy := testPolicy(nil)
	checkout := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}}
	twoLabels := &metav1.LabelSelector{
		MatchLabels:      map[string]string{"app": "checkout"},
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"web"}}},
	}
	deleting := rule("shop", "aaa-deleting", checkout, 99, 9, "")
	deleting.DeletionTimestamp = &metav1.Time{}
	rules := []*v1alpha1.WorkloadDistributionRule{
		rule("shop", "shop-default", nil, 10, 1, ""),
		rule("shop", "checkout", checkout, 50, 2, ""),
		rule("shop", "checkout-web", twoLabels, 70, 0, v1alpha1.All),
		rule("batch", "other-cluster", nil, 0, 0, v1alpha1.All),
		rule("batch", "this-cluster", &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}, 30, 0, v1alpha1.All),
		rule("bad", "broken", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}, 0, 0, ""),
		deleting,
	}
	rules[1].Spec.Strategy = v1alpha1.LeastInterrupted
	rules[3].Spec.Clusters = []string{"elsewhere"}
	rules[4].Spec.Clusters = []string{"elsewhere", "prod"}
	for _, tc := range []struct {
		name      string
		w         Workload
		policy    *v1alpha1.ClusterPolicy
		want      Rule
		governing string
		err       string
		ignored   []string
	}{
		{name: "cluster default", w: Workload{Namespace: "web"},
			want: Rule{OnDemandPercent: 20, BaseOnDemand: 1, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.CostOptimized, Source: "cluster default"}},
		{name: "namespace rule", w: Workload{Namespace: "shop", Labels: map[string]string{"app": "cart"}}, governing: "shop-default",
			want: Rule{OnDemandPercent: 10, BaseOnDemand: 1, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.CostOptimized, Source: "rule shop/shop-default"}},
		{name: "selector rule is more specific; a deleted rule is skipped", w: Workload{Namespace: "shop", Labels: map[string]string{"app": "checkout"}}, governing: "checkout",
			want: Rule{OnDemandPercent: 50, BaseOnDemand: 2, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.LeastInterrupted, Source: "rule shop/checkout"}},
		{name: "two requirements beat one", w: Workload{Namespace: "shop", Labels: map[string]string{"app": "checkout", "tier": "web"}}, governing: "checkout-web",
			want: Rule{OnDemandPercent: 70, BaseOnDemand: 0, Selector: v1alpha1.All, Strategy: v1alpha1.CostOptimized, Source: "rule shop/checkout-web"}},
		{name: "rule for another cluster is skipped", w: Workload{Namespace: "batch"},
			want: Rule{OnDemandPercent: 20, BaseOnDemand: 1, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.CostOptimized, Source: "cluster default"}},
		{name: "rule listing this cluster applies", w: Workload{Namespace: "batch", Labels: map[string]string{"a": "b"}}, governing: "this-cluster",
			want: Rule{OnDemandPercent: 30, BaseOnDemand: 0, Selector: v1alpha1.All, Strategy: v1alpha1.CostOptimized, Source: "rule batch/this-cluster"}},
		{name: "rules of other namespaces never apply", w: Workload{Namespace: "other", Labels: map[string]string{"app": "checkout"}},
			want: Rule{OnDemandPercent: 20, BaseOnDemand: 1, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.CostOptimized, Source: "cluster default"}},
		{name: "annotations win over the rule", governing: "checkout", w: Workload{Namespace: "shop", Labels: map[string]string{"app": "checkout"},
			Annotations: map[string]string{v1alpha1.OnDemandPercentAnnotation: "0", v1alpha1.BaseOnDemandAnnotation: "4"}},
			want: Rule{OnDemandPercent: 0, BaseOnDemand: 4, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.LeastInterrupted, Source: "rule shop/checkout + annotations"}},
		{name: "spot never", w: Workload{Namespace: "web", Annotations: map[string]string{v1alpha1.SpotAnnotation: "never"}},
			want: Rule{OnDemandPercent: 20, BaseOnDemand: 1, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.CostOptimized, NoSpot: true, Source: "cluster default + annotations"}},
		{name: "spot disabled", w: Workload{Namespace: "web"}, policy: testPolicy(func(s *v1alpha1.ClusterPolicySpec) { s.Spot.Enabled = ptr.To(false) }),
			want: Rule{OnDemandPercent: 20, BaseOnDemand: 1, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.CostOptimized, NoSpot: true, Source: "cluster default (Spot disabled)"}},
		{name: "spot never in capitals", w: Workload{Namespace: "web", Annotations: map[string]string{v1alpha1.SpotAnnotation: "Never"}},
			want: Rule{OnDemandPercent: 20, BaseOnDemand: 1, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.CostOptimized, NoSpot: true, Source: "cluster default + annotations"}},
		{name: "invalid annotations are ignored", w: Workload{Namespace: "web", Name: "api",
			Annotations: map[string]string{v1alpha1.OnDemandPercentAnnotation: "120", v1alpha1.BaseOnDemandAnnotation: "two", v1alpha1.SpotAnnotation: "sometimes"}},
			want:    Rule{OnDemandPercent: 20, BaseOnDemand: 1, Selector: v1alpha1.SpotReady, Strategy: v1alpha1.CostOptimized, Source: "cluster default"},
			ignored: []string{`web/api: annotation ballast.dev/on-demand-percent="120" is ignored`, `annotation ballast.dev/base-on-demand="two"`, "the only value is never"}},
		{name: "invalid selector", w: Workload{Namespace: "bad"}, err: "rule bad/broken has an invalid workload selector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policy
			if tc.policy != nil {
				p = tc.policy
			}
			got, err := Resolve(p, rules, tc.w)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if gov := got.Governing; (gov == nil) != (tc.governing == "") || (gov != nil && gov.Name != tc.governing) {
				t.Errorf("governing rule = %v, want %q", gov, tc.governing)
			}
			ignored := got.Ignored
			got.Ignored, got.Governing = nil, nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if len(ignored) != len(tc.ignored) {
				t.Fatalf("ignored = %q, want %d entries", ignored, len(tc.ignored))
			}
			for i, s := range tc.ignored {
				if !strings.Contains(ignored[i], s) {
					t.Errorf("ignored[%d] = %q, want it to contain %q", i, ignored[i], s)
				}
			}
		})
	}
}

func TestSpecificity(t *testing.T) {
	for _, tc := range []struct {
		sel  *metav1.LabelSelector
		want int
	}{
		{nil, 0},
		{&metav1.LabelSelector{}, 0},
		{&metav1.LabelSelector{MatchLabels: map[string]string{"a": "1", "b": "2"}}, 2},
		{&metav1.LabelSelector{MatchLabels: map[string]string{"a": "1"}, MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "b", Operator: metav1.LabelSelectorOpExists}}}, 2},
	} {
		if got := Specificity(tc.sel); got != tc.want {
			t.Errorf("Specificity(%v) = %d, want %d", tc.sel, got, tc.want)
		}
	}
}
