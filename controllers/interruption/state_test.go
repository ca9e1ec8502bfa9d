package interruption

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"k8s.io/utils/ptr"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

func TestHistoryDecaysAndCountsOnce(t *testing.T) {
	s := Settings{ExcludeFor: 30 * time.Minute, Floor: 1, HalfLife: 24 * time.Hour}
	st := &v1alpha1.InterruptionsStatus{}
	n := Notice{InstanceID: "i-1", Reason: SpotInterruptionReason, InstanceType: "m5.large", Zone: "a", Time: t0}
	if !record(st, n, t0, s) || record(st, n, t0.Add(time.Minute), s) {
		t.Fatal("a notice must count once")
	}
	r := n
	r.InstanceID, r.Reason = "i-2", RebalanceRecommendationReason
	record(st, r, t0, s)
	p := st.Pools[0]
	if p.Interruptions != 1 || p.Rebalances != 1 || p.Score != "1.500" {
		t.Errorf("pool %+v: want one interruption and one rebalance, score 1.5", p)
	}
	if got := PoolScore(p, t0.Add(24*time.Hour), s.HalfLife); got < 0.749 || got > 0.751 {
		t.Errorf("after one half-life the score is %v, want 0.75", got)
	}
	// A pool faded below the threshold is forgotten; notices older than an hour too.
	tidy(st, t0.Add(10*24*time.Hour), s)
	if len(st.Pools) != 0 || len(st.Recent) != 0 || len(st.Exclusions) != 0 {
		t.Errorf("after ten days: %+v", st)
	}
}

func TestBounds(t *testing.T) {
	s := Settings{ExcludeFor: time.Hour, Floor: 1, HalfLife: time.Hour}
	st := &v1alpha1.InterruptionsStatus{}
	for i := range 300 {
		record(st, Notice{InstanceID: fmt.Sprint("i-", i), Reason: SpotInterruptionReason, InstanceType: fmt.Sprint("t", i, ".large"), Zone: "a", Time: t0}, t0, s)
	}
	tidy(st, t0, s)
	if len(st.Recent) != maxRecent || len(st.Pools) != maxPools || len(st.Exclusions) != maxExclusions {
		t.Errorf("lists of %d, %d, %d entries: the API allows %d, %d, %d", len(st.Recent), len(st.Pools), len(st.Exclusions), maxRecent, maxPools, maxExclusions)
	}
}

func TestDecideKeepsTheFloor(t *testing.T) {
	supply := []string{"a.large", "b.large", "c.large", "d.large"}
	excl := func(typ string, since time.Duration) v1alpha1.SpotExclusion {
		e := v1alpha1.SpotExclusion{InstanceType: typ}
		e.Since.Time = t0.Add(since)
		return e
	}
	st := &v1alpha1.InterruptionsStatus{Exclusions: []v1alpha1.SpotExclusion{excl("c.large", 2), excl("b.large", 1), excl("x.large", 0)}}
	decide(st, supply, 3)
	if !slices.Equal(st.ExcludedInstanceTypes, []string{"c.large"}) || !st.Exclusions[0].Applied || st.Exclusions[1].Applied || st.Exclusions[2].Applied {
		t.Errorf("floor 3 of 4: excluded %v, exclusions %+v; want the newest only", st.ExcludedInstanceTypes, st.Exclusions)
	}
	// An exclusion in force stays ahead of a newer one.
	st.ExcludedInstanceTypes = []string{"b.large"}
	decide(st, supply, 3)
	if !slices.Equal(st.ExcludedInstanceTypes, []string{"b.large"}) {
		t.Errorf("excluded %v: the exclusion in force must stay until it ends", st.ExcludedInstanceTypes)
	}
	// A floor the supply does not reach excludes nothing.
	decide(st, supply, 5)
	if len(st.ExcludedInstanceTypes) != 0 {
		t.Errorf("floor 5 of 4: excluded %v", st.ExcludedInstanceTypes)
	}
}

func TestSpotToSpotFloor(t *testing.T) {
	p := &v1alpha1.ClusterPolicy{}
	p.Spec.Spot.Interruptions.MinInstanceTypes = ptr.To[int32](3)
	p.Default()
	r := &Reconciler{}
	if s, err := r.settings(p); err != nil || s.Floor != 3 {
		t.Fatalf("floor %d (%v), want minInstanceTypes 3", s.Floor, err)
	}
	p.Spec.BinPacking.SpotToSpotConsolidation = true
	if s, _ := r.settings(p); s.Floor != SpotToSpotMinimum {
		t.Errorf("floor %d with Spot-to-Spot consolidation, want %d", s.Floor, SpotToSpotMinimum)
	}
}

func TestSupplyFollowsTheRequirements(t *testing.T) {
	book := cost.DefaultCatalogue()
	all := Supply(nil, book)
	reqs := []karpv1.NodeSelectorRequirementWithMinValues{
		{Key: "karpenter.k8s.aws/instance-category", Operator: "In", Values: []string{"m"}},
		{Key: "karpenter.k8s.aws/instance-cpu", Operator: "Lt", Values: []string{"5"}},
		{Key: "node.kubernetes.io/instance-type", Operator: "NotIn", Values: []string{"m5.large"}},
		{Key: "topology.kubernetes.io/zone", Operator: "In", Values: []string{"eu-west-1a"}},
	}
	got := Supply(reqs, book, "m9z.large", "c9.large")
	if len(got) == 0 || len(got) >= len(all) {
		t.Fatalf("%d of %d types", len(got), len(all))
	}
	for _, typ := range got {
		s, ok := book.Shape(typ)
		if typ == "m5.large" || (ok && s.VCPU >= 5) || typ[0] != 'm' {
			t.Errorf("%s is offered against the requirements", typ)
		}
	}
	if !slices.Contains(got, "m9z.large") || slices.Contains(got, "c9.large") {
		t.Errorf("types the catalogue does not know are judged by name: %v", got)
	}
}
