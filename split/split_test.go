package split

import (
	"math/rand/v2"
	"testing"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

const (
	od   = v1alpha1.CapacityOnDemand
	spot = v1alpha1.CapacitySpot
)

func TestTarget(t *testing.T) {
	all := v1alpha1.All
	ready := v1alpha1.SpotReady
	for _, tc := range []struct {
		name     string
		rule     Rule
		replicas int32
		want     Counts
	}{
		// 2 + ceil(8 * 30 / 100) = 2 + ceil(2.4) = 5.
		{"issue example", Rule{BaseOnDemand: 2, OnDemandPercent: 30, Selector: all}, 10, Counts{5, 5}},
		// 2 + ceil(2 * 0.3) = 2 + 1 = 3.
		{"scaled to 4", Rule{BaseOnDemand: 2, OnDemandPercent: 30, Selector: all}, 4, Counts{3, 1}},
		// 2 + ceil(18 * 0.3) = 2 + ceil(5.4) = 8.
		{"scaled to 20", Rule{BaseOnDemand: 2, OnDemandPercent: 30, Selector: all}, 20, Counts{8, 12}},
		{"fewer replicas than the base", Rule{BaseOnDemand: 3, OnDemandPercent: 0, Selector: all}, 2, Counts{2, 0}},
		{"zero replicas", Rule{BaseOnDemand: 3, OnDemandPercent: 50, Selector: all}, 0, Counts{}},
		{"all spot", Rule{BaseOnDemand: 0, OnDemandPercent: 0, Selector: all}, 7, Counts{0, 7}},
		{"all on-demand by percent", Rule{BaseOnDemand: 0, OnDemandPercent: 100, Selector: all}, 7, Counts{7, 0}},
		// ceil(3 * 0.5) = ceil(1.5) = 2.
		{"half rounds up", Rule{BaseOnDemand: 0, OnDemandPercent: 50, Selector: all}, 3, Counts{2, 1}},
		// ceil(1 * 0.01) = 1: any positive percentage buys at least one On-Demand replica.
		{"one percent of one", Rule{BaseOnDemand: 0, OnDemandPercent: 1, Selector: all}, 1, Counts{1, 0}},
		// ceil(100 * 0.01) = 1.
		{"one percent of a hundred", Rule{BaseOnDemand: 0, OnDemandPercent: 1, Selector: all}, 100, Counts{1, 99}},
		{"SpotReady keeps a single replica on-demand", Rule{BaseOnDemand: 0, OnDemandPercent: 0, Selector: ready}, 1, Counts{1, 0}},
		{"SpotReady splits two replicas", Rule{BaseOnDemand: 0, OnDemandPercent: 0, Selector: ready}, 2, Counts{0, 2}},
		{"All sends a single replica to spot", Rule{BaseOnDemand: 0, OnDemandPercent: 0, Selector: all}, 1, Counts{0, 1}},
		{"spot never", Rule{BaseOnDemand: 0, OnDemandPercent: 0, Selector: all, NoSpot: true}, 9, Counts{9, 0}},
		{"negative values clamp", Rule{BaseOnDemand: -1, OnDemandPercent: -5, Selector: all}, 4, Counts{0, 4}},
		{"percent above 100 clamps", Rule{BaseOnDemand: 0, OnDemandPercent: 150, Selector: all}, 4, Counts{4, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rule.Target(tc.replicas); got != tc.want {
				t.Fatalf("Target(%d) = %v, want %v", tc.replicas, got, tc.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	rule := Rule{BaseOnDemand: 2, OnDemandPercent: 30, Selector: v1alpha1.All}
	for _, tc := range []struct {
		name     string
		rule     Rule
		replicas int32
		current  Counts
		want     Decision
	}{
		{"first pod is base", rule, 10, Counts{}, Decision{od, ReasonBase}},
		{"second pod is base", rule, 10, Counts{1, 0}, Decision{od, ReasonBase}},
		{"base even when spot ran ahead", rule, 10, Counts{0, 5}, Decision{od, ReasonBase}},
		{"on-demand share before spot", rule, 10, Counts{2, 0}, Decision{od, ReasonSplit}},
		{"spot once on-demand is full", rule, 10, Counts{5, 0}, Decision{spot, ReasonSplit}},
		{"last spot", rule, 10, Counts{5, 4}, Decision{spot, ReasonSplit}},
		{"surge tie goes on-demand", rule, 10, Counts{5, 5}, Decision{od, ReasonSplit}},
		{"surge with on-demand over its share goes spot", rule, 10, Counts{6, 5}, Decision{spot, ReasonSplit}},
		{"surge of an all-spot rule stays spot", Rule{OnDemandPercent: 0, Selector: v1alpha1.All}, 7, Counts{0, 7}, Decision{spot, ReasonSplit}},
		{"surge of an all-on-demand rule stays on-demand", Rule{OnDemandPercent: 100, Selector: v1alpha1.All}, 4, Counts{4, 0}, Decision{od, ReasonSplit}},
		{"spot never", Rule{NoSpot: true, Selector: v1alpha1.All}, 10, Counts{}, Decision{od, ReasonOverride}},
		{"SpotReady single replica", Rule{Selector: v1alpha1.SpotReady}, 1, Counts{}, Decision{od, ReasonOverride}},
		{"all spot rule", Rule{Selector: v1alpha1.All}, 3, Counts{0, 2}, Decision{spot, ReasonSplit}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Decide(tc.rule, tc.replicas, tc.current); got != tc.want {
				t.Fatalf("Decide(%d, %v) = %v, want %v", tc.replicas, tc.current, got, tc.want)
			}
		})
	}
}

func TestDecideOrdinalIsStableAndExact(t *testing.T) {
	for _, rule := range []Rule{
		{BaseOnDemand: 1, OnDemandPercent: 30, Selector: v1alpha1.All},
		{BaseOnDemand: 0, OnDemandPercent: 50, Selector: v1alpha1.All},
		{BaseOnDemand: 3, OnDemandPercent: 0, Selector: v1alpha1.All},
		{BaseOnDemand: 2, OnDemandPercent: 33, Selector: v1alpha1.All},
		{BaseOnDemand: 0, OnDemandPercent: 1, Selector: v1alpha1.All},
	} {
		for replicas := int32(1); replicas <= 60; replicas++ {
			var got Counts
			for ord := range replicas {
				d := DecideOrdinal(rule, replicas, ord)
				if ord < rule.BaseOnDemand && (d.Capacity != od || d.Reason != ReasonBase) {
					t.Fatalf("%+v: ordinal %d below the base placed %v", rule, ord, d)
				}
				// Stable: the class of an ordinal does not depend on the replica count.
				if again := DecideOrdinal(rule, replicas+7, ord); again.Capacity != d.Capacity {
					t.Fatalf("%+v: ordinal %d is %s at %d replicas and %s at %d", rule, ord, d.Capacity, replicas, again.Capacity, replicas+7)
				}
				if d.Capacity == od {
					got.OnDemand++
				} else {
					got.Spot++
				}
			}
			if want := rule.Target(replicas); got != want {
				t.Fatalf("%+v with %d replicas: ordinals give %v, Target %v", rule, replicas, got, want)
			}
		}
	}
}

func TestSurplus(t *testing.T) {
	rule := Rule{BaseOnDemand: 2, OnDemandPercent: 30, Selector: v1alpha1.All} // 10 -> 5/5
	for _, tc := range []struct {
		observed Counts
		wantCap  string
		wantN    int32
	}{
		{Counts{5, 5}, "", 0},
		{Counts{8, 2}, od, 3},
		{Counts{1, 9}, spot, 4},
		{Counts{7, 1}, od, 2}, // short of replicas: move only what spot lacks... min(2, 4) = 2
		{Counts{3, 3}, "", 0}, // both short: the ReplicaSet controller adds pods
		{Counts{6, 6}, "", 0}, // both over: a scale-down is under way
	} {
		gotCap, gotN := Surplus(rule, 10, tc.observed)
		if gotCap != tc.wantCap || gotN != tc.wantN {
			t.Errorf("Surplus(%v) = %q %d, want %q %d", tc.observed, gotCap, gotN, tc.wantCap, tc.wantN)
		}
	}
}

// TestConvergesToFormula is the property the distributor promises: for any rule and
// any sequence of scale-ups and scale-downs (a scale-down deletes arbitrary replicas,
// as the ReplicaSet controller does), placing new pods with Decide and then evicting
// the surplus that Surplus names (each eviction replaced by a pod placed with Decide)
// ends with exactly Target(replicas).
func TestConvergesToFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	selectors := []v1alpha1.SpotSelector{v1alpha1.All, v1alpha1.SpotReady}
	for run := range 2000 {
		rule := Rule{
			BaseOnDemand:    rng.Int32N(5),
			OnDemandPercent: rng.Int32N(101),
			Selector:        selectors[rng.IntN(2)],
			NoSpot:          rng.IntN(20) == 0,
		}
		var pods []string
		replicas := int32(0)
		for step := range 1 + rng.IntN(12) {
			replicas = rng.Int32N(40)
			// Scale-down: the ReplicaSet controller deletes replicas of its choosing.
			for int32(len(pods)) > replicas {
				i := rng.IntN(len(pods))
				pods = append(pods[:i], pods[i+1:]...)
			}
			// Scale-up: new pods, placed one at a time.
			for int32(len(pods)) < replicas {
				pods = append(pods, Decide(rule, replicas, count(pods)).Capacity)
			}
			// The reconciler evicts surplus; the controller replaces each eviction.
			for guard := 0; ; guard++ {
				capacity, n := Surplus(rule, replicas, count(pods))
				if n == 0 {
					break
				}
				if guard > 100 {
					t.Fatalf("run %d step %d: no convergence for %+v at %d replicas: %v", run, step, rule, replicas, count(pods))
				}
				for range n {
					i := indexOf(pods, capacity)
					pods = append(pods[:i], pods[i+1:]...)
					pods = append(pods, Decide(rule, replicas, count(pods)).Capacity)
				}
			}
			if got, want := count(pods), rule.Target(replicas); got != want {
				t.Fatalf("run %d step %d: %+v at %d replicas converged to %v, want %v", run, step, rule, replicas, got, want)
			}
		}
	}
}

// TestScaleUpNeedsNoEvictions: from an exact split, scale-ups placed by Decide stay
// exact without any eviction.
func TestScaleUpNeedsNoEvictions(t *testing.T) {
	for base := int32(0); base < 4; base++ {
		for percent := int32(0); percent <= 100; percent += 5 {
			rule := Rule{BaseOnDemand: base, OnDemandPercent: percent, Selector: v1alpha1.All}
			var pods []string
			for replicas := int32(1); replicas <= 50; replicas++ {
				pods = append(pods, Decide(rule, replicas, count(pods)).Capacity)
				if got, want := count(pods), rule.Target(replicas); got != want {
					t.Fatalf("%+v: growing to %d replicas gave %v, want %v", rule, replicas, got, want)
				}
			}
		}
	}
}

func count(pods []string) Counts {
	var c Counts
	for _, p := range pods {
		if p == od {
			c.OnDemand++
		} else {
			c.Spot++
		}
	}
	return c
}

func indexOf(pods []string, capacity string) int {
	for i, p := range pods {
		if p == capacity {
			return i
		}
	}
	return -1
}

func BenchmarkDecide(b *testing.B) {
	rule := Rule{BaseOnDemand: 2, OnDemandPercent: 30, Selector: v1alpha1.All}
	var sink Decision
	for i := 0; b.Loop(); i++ {
		sink = Decide(rule, 100, Counts{OnDemand: int32(i % 40), Spot: int32(i % 60)}) //nolint:gosec // small
	}
	_ = sink
}
