package cost

import (
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name           string
		d              Distribution
		replicas       int
		onDemand, spot int
	}{
		// 1 base, then ceil(9 * 20%) = ceil(1.8) = 2 more: 3 On-Demand, 7 Spot.
		{"base then percent rounded up", Distribution{OnDemandPercent: 20, BaseOnDemand: 1, Selector: v1alpha1.SpotReady}, 10, 3, 7},
		// 2 base, then ceil(3 * 30%) = ceil(0.9) = 1: 3 On-Demand, 2 Spot.
		{"fraction below one rounds up", Distribution{OnDemandPercent: 30, BaseOnDemand: 2, Selector: v1alpha1.All}, 5, 3, 2},
		// ceil(7 * 50%) = ceil(3.5) = 4.
		{"half of an odd count", Distribution{OnDemandPercent: 50, Selector: v1alpha1.All}, 7, 4, 3},
		{"half of an even count", Distribution{OnDemandPercent: 50, Selector: v1alpha1.All}, 4, 2, 2},
		{"base larger than replicas", Distribution{OnDemandPercent: 0, BaseOnDemand: 5, Selector: v1alpha1.All}, 3, 3, 0},
		{"SpotReady keeps a single replica On-Demand", Distribution{Selector: v1alpha1.SpotReady}, 1, 1, 0},
		{"All sends a single replica to Spot", Distribution{Selector: v1alpha1.All}, 1, 0, 1},
		{"SpotReady with two replicas and no base", Distribution{Selector: v1alpha1.SpotReady}, 2, 0, 2},
		{"spot never", Distribution{OnDemandPercent: 0, SpotNever: true, Selector: v1alpha1.All}, 10, 10, 0},
		{"100 percent", Distribution{OnDemandPercent: 100, Selector: v1alpha1.All}, 6, 6, 0},
		{"no replicas", Distribution{OnDemandPercent: 20, BaseOnDemand: 1}, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			od, sp := tc.d.Split(tc.replicas)
			if od != tc.onDemand || sp != tc.spot {
				t.Errorf("Split(%d) = %d On-Demand, %d Spot; want %d, %d", tc.replicas, od, sp, tc.onDemand, tc.spot)
			}
		})
	}
}

func TestEffectiveDistribution(t *testing.T) {
	policy := testPolicy(func(s *v1alpha1.ClusterPolicySpec) {
		s.Distribution = dist(20, 1, v1alpha1.SpotReady)
		s.Spot.Strategy = v1alpha1.CostOptimized
	})
	checkout := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}}
	twoLabels := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout", "tier": "web"}}
	rules := []*v1alpha1.WorkloadDistributionRule{
		rule("shop", "shop-default", nil, dist(10, 1, "")),
		rule("shop", "checkout", checkout, dist(50, 2, "")),
		rule("shop", "checkout-web", twoLabels, dist(70, 0, v1alpha1.All)),
		rule("batch", "other-cluster", nil, dist(0, 0, v1alpha1.All)),
		rule("bad", "broken", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}, dist(0, 0, "")),
	}
	rules[1].Spec.Strategy = v1alpha1.LeastInterrupted
	rules[3].Spec.Clusters = []string{"elsewhere"}
	for _, tc := range []struct {
		name        string
		app         App
		policy      *v1alpha1.ClusterPolicy
		pct, base   int
		selector    v1alpha1.SpotSelector
		strategy    v1alpha1.Strategy
		never       bool
		source, err string
		ignored     []string
	}{
		{name: "cluster default", app: App{Namespace: "web"}, pct: 20, base: 1, selector: v1alpha1.SpotReady, strategy: v1alpha1.CostOptimized, source: "cluster default"},
		{name: "namespace rule", app: App{Namespace: "shop", Labels: map[string]string{"app": "cart"}}, pct: 10, base: 1, selector: v1alpha1.SpotReady, strategy: v1alpha1.CostOptimized, source: "rule shop/shop-default"},
		{name: "selector rule is more specific", app: App{Namespace: "shop", Labels: map[string]string{"app": "checkout"}}, pct: 50, base: 2, selector: v1alpha1.SpotReady, strategy: v1alpha1.LeastInterrupted, source: "rule shop/checkout"},
		{name: "two requirements beat one", app: App{Namespace: "shop", Labels: map[string]string{"app": "checkout", "tier": "web"}}, pct: 70, base: 0, selector: v1alpha1.All, strategy: v1alpha1.CostOptimized, source: "rule shop/checkout-web"},
		{name: "rule for another cluster is skipped", app: App{Namespace: "batch"}, pct: 20, base: 1, selector: v1alpha1.SpotReady, strategy: v1alpha1.CostOptimized, source: "cluster default"},
		{name: "annotations win over the rule", app: App{Namespace: "shop", Labels: map[string]string{"app": "checkout"},
			Annotations: map[string]string{v1alpha1.OnDemandPercentAnnotation: "0", v1alpha1.BaseOnDemandAnnotation: "4"}},
			pct: 0, base: 4, selector: v1alpha1.SpotReady, strategy: v1alpha1.LeastInterrupted, source: "rule shop/checkout + annotations"},
		{name: "spot never", app: App{Namespace: "web", Annotations: map[string]string{v1alpha1.SpotAnnotation: "never"}},
			pct: 20, base: 1, selector: v1alpha1.SpotReady, strategy: v1alpha1.CostOptimized, never: true, source: "cluster default + annotations"},
		{name: "spot disabled", app: App{Namespace: "web"}, policy: testPolicy(func(s *v1alpha1.ClusterPolicySpec) { s.Spot.Enabled = ptr.To(false) }),
			pct: 0, base: 1, selector: v1alpha1.SpotReady, strategy: v1alpha1.CostOptimized, never: true, source: "cluster default (Spot disabled)"},
		{name: "spot never in capitals", app: App{Namespace: "web", Annotations: map[string]string{v1alpha1.SpotAnnotation: "Never"}},
			pct: 20, base: 1, selector: v1alpha1.SpotReady, strategy: v1alpha1.CostOptimized, never: true, source: "cluster default + annotations"},
		{name: "invalid annotations are ignored, as the distributor does", app: App{Namespace: "web", Name: "api",
			Annotations: map[string]string{v1alpha1.OnDemandPercentAnnotation: "120", v1alpha1.BaseOnDemandAnnotation: "two", v1alpha1.SpotAnnotation: "sometimes"}},
			pct: 20, base: 1, selector: v1alpha1.SpotReady, strategy: v1alpha1.CostOptimized, source: "cluster default",
			ignored: []string{`web/api: annotation ballast.dev/on-demand-percent="120" is ignored`, `annotation ballast.dev/base-on-demand="two"`, "the only value is never"}},
		{name: "invalid selector", app: App{Namespace: "bad"}, err: "rule bad/broken has an invalid workload selector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policy
			if tc.policy != nil {
				p = tc.policy
			}
			d, err := EffectiveDistribution(p, rules, &tc.app)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Distribution{OnDemandPercent: tc.pct, BaseOnDemand: tc.base, Selector: tc.selector, Strategy: tc.strategy, SpotNever: tc.never, Source: tc.source}
			ignored := d.Ignored
			d.Ignored = nil
			if !reflect.DeepEqual(d, want) {
				t.Errorf("got %+v\nwant %+v", d, want)
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
