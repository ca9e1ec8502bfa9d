package spotrank

import (
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

var now = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// five families of five sizes, cheapest per vCPU first.
func fiveFamilies() book {
	return book{}.family("m6i", 5, 0.010).family("c6i", 5, 0.011).family("r6i", 5, 0.012).family("m7i", 5, 0.013).family("c7i", 5, 0.014)
}

// offlineChoice is what LeastInterrupted chooses from fiveFamilies without scores or
// history: every type neutral, so the cheapest, three per family, one of them
// r6i.8xlarge, the only type with the most vCPUs and the most memory.
var offlineChoice = []string{
	"m6i.large", "m6i.xlarge", "m6i.2xlarge", "c6i.large", "c6i.xlarge", "c6i.2xlarge",
	"r6i.large", "r6i.xlarge", "r6i.8xlarge", "m7i.large",
}

func TestRankCostOptimized(t *testing.T) {
	b := book{}.family("m6i", 2, 0.010).family("c6i", 2, 0.008).family("x9", 3, 0)
	// A Spot price with a different ratio: c7i.large is cheaper than c6i.xlarge per
	// vCPU, and c6i.large cheaper than c6i.xlarge for the same ratio.
	b["c7i.large"] = bookEntry{vcpu: 2, spot: 0.017}
	res := Rank(Input{
		Policy: policy(v1alpha1.CostOptimized, 0), Book: b, Now: now,
		// Neither scores nor history nor the previous choice count for CostOptimized.
		Scores:   map[string]int32{"m6i.large": 10, "c6i.large": 1},
		History:  []v1alpha1.SpotPoolHistory{{InstanceType: "c6i.large", Score: "9", ScoredAt: metav1.NewTime(now)}},
		Previous: []string{"m6i.large"},
	})
	want := []string{"c6i.large", "c6i.xlarge", "c7i.large", "m6i.large", "m6i.xlarge", "x9.large", "x9.xlarge", "x9.2xlarge"}
	if got := names(res.Ranked); !slices.Equal(got, want) {
		t.Errorf("ranked %v, want %v (cheapest per vCPU first, unpriced last)", got, want)
	}
	if res.Chosen != nil || res.Target != 0 || res.Strategy != v1alpha1.CostOptimized {
		t.Errorf("CostOptimized chose %v (target %d, strategy %s): it must keep every type", res.Chosen, res.Target, res.Strategy)
	}
	first := res.Ranked[0]
	if first.Score != 0.008 || first.PricePerVCPU != 0.008 || first.SpotPrice != 0.016 || first.Placement != 1 || first.Interruptions != 9 {
		t.Errorf("first = %+v", first)
	}
	if last := res.Ranked[len(res.Ranked)-1]; last.SpotPrice != 0 || last.PricePerVCPU != 0 {
		t.Errorf("last = %+v, want unpriced", last)
	}
}

func TestRankLeastInterrupted(t *testing.T) {
	twoFamilies := book{}.family("m6i", 10, 0.010).family("c6i", 10, 0.011)
	for _, tc := range []struct {
		name     string
		book     book
		policy   *v1alpha1.ClusterPolicy
		scores   map[string]int32
		history  []v1alpha1.SpotPoolHistory
		excluded []string
		previous []string
		// chosen is the choice, best first.
		chosen []string
		// first are the first types of the ranking.
		first []string
		// target and perFamily are 10 and 3 unless set.
		target, perFamily int
	}{{
		name:   "offline: every type neutral, the cheapest three per family",
		chosen: offlineChoice,
		first:  types("m6i", 5),
	}, {
		name:   "placement scores first, unknown is neutral",
		scores: map[string]int32{"c7i.large": 9, "c7i.xlarge": 9, "c7i.2xlarge": 9, "c7i.4xlarge": 9, "c7i.8xlarge": 9, "r6i.large": 8, "r6i.xlarge": 8, "r6i.2xlarge": 8, "r6i.4xlarge": 8, "r6i.8xlarge": 8, "m7i.large": 0, "m7i.xlarge": 11},
		chosen: []string{"c7i.large", "c7i.xlarge", "c7i.2xlarge", "r6i.large", "r6i.xlarge", "r6i.8xlarge",
			"m6i.large", "m6i.xlarge", "m6i.2xlarge", "c6i.large"},
		first: append(types("c7i", 5), types("r6i", 5)...),
	}, {
		name: "interruption history, decayed, costs its points",
		history: []v1alpha1.SpotPoolHistory{
			// Scored an hour ago with a half-life of an hour: 1 now; plus 1 in another zone.
			{InstanceType: "m6i.large", Zone: "eu-west-1a", Interruptions: 2, Score: "2", ScoredAt: metav1.NewTime(now.Add(-time.Hour))},
			{InstanceType: "m6i.large", Zone: "eu-west-1b", Interruptions: 1, Score: "1", ScoredAt: metav1.NewTime(now)},
			// Half a point: still below the neutral types of its family.
			{InstanceType: "m6i.xlarge", Zone: "eu-west-1a", Rebalances: 1, Score: "0.5", ScoredAt: metav1.NewTime(now)},
			// Unreadable and negative scores count nothing; types outside the supply neither.
			{InstanceType: "m6i.2xlarge", Score: "lots", ScoredAt: metav1.NewTime(now)},
			{InstanceType: "m6i.4xlarge", Score: "-3", ScoredAt: metav1.NewTime(now)},
			{InstanceType: "z1.large", Score: "7", ScoredAt: metav1.NewTime(now)},
		},
		chosen: []string{"m6i.2xlarge", "m6i.4xlarge", "c6i.large", "c6i.xlarge", "c6i.2xlarge",
			"r6i.large", "r6i.xlarge", "r6i.8xlarge", "m7i.large", "m7i.xlarge"},
		first: []string{"m6i.2xlarge", "m6i.4xlarge", "m6i.8xlarge", "c6i.large"},
	}, {
		name:     "excluded types are never chosen",
		excluded: []string{"m6i.large", "c6i.large"},
		chosen: []string{"m6i.xlarge", "m6i.2xlarge", "m6i.4xlarge", "c6i.xlarge", "c6i.2xlarge", "c6i.4xlarge",
			"r6i.large", "r6i.xlarge", "r6i.8xlarge", "m7i.large"},
		first: types("m6i", 5),
	}, {
		name:     "a supply of fewer types than the target: all but the excluded",
		policy:   include(policy(v1alpha1.LeastInterrupted, 0), "m6i.large", "m6i.xlarge", "m6i.2xlarge", "m6i.4xlarge", "c6i.large", "c6i.xlarge"),
		excluded: []string{"m6i.xlarge"},
		chosen:   []string{"m6i.large", "m6i.2xlarge", "m6i.4xlarge", "c6i.large", "c6i.xlarge"},
	}, {
		name:   "minInstanceTypes above the floor",
		policy: policy(v1alpha1.LeastInterrupted, 15),
		chosen: append(append(append(types("m6i", 4), types("c6i", 4)...), types("r6i", 5)...), "m7i.large", "m7i.xlarge"),
		target: 15, perFamily: 5,
	}, {
		name:   "too few families: more than a third of one, in turns",
		book:   twoFamilies,
		scores: scoresOf(twoFamilies, map[string]int32{"m6i": 9}),
		// m6i.48xlarge has the most vCPUs and memory; c6i.48xlarge as many vCPUs.
		chosen: append(append(types("m6i", 5), "m6i.48xlarge"), types("c6i", 4)...),
	}, {
		name: "the largest types: one with the most vCPUs, one with the most memory",
		book: fiveFamilies().family("c6i", 6, 0.011),
		chosen: []string{"m6i.large", "m6i.xlarge", "m6i.2xlarge", "c6i.large", "c6i.xlarge", "c6i.12xlarge",
			"r6i.large", "r6i.xlarge", "r6i.8xlarge", "m7i.large"},
	}, {
		name:     "hysteresis: the largest type stays within the margin",
		book:     fiveFamilies().family("r7i", 5, 0.015),
		previous: append(slices.Clone(offlineChoice[:8]), "m7i.large", "r7i.8xlarge"),
		chosen:   append(slices.Clone(offlineChoice[:8]), "m7i.large", "r7i.8xlarge"),
	}, {
		name:     "hysteresis: the largest type goes beyond the margin",
		book:     fiveFamilies().family("r7i", 5, 0.015),
		scores:   map[string]int32{"r6i.large": 7, "r6i.xlarge": 7, "r6i.2xlarge": 7, "r6i.4xlarge": 7, "r6i.8xlarge": 7},
		previous: append(slices.Clone(offlineChoice[:8]), "m7i.large", "r7i.8xlarge"),
		chosen: []string{"r6i.large", "r6i.xlarge", "r6i.8xlarge", "m6i.large", "m6i.xlarge", "m6i.2xlarge",
			"c6i.large", "c6i.xlarge", "c6i.2xlarge", "m7i.large"},
	}, {
		name:     "hysteresis: one point better is not enough",
		scores:   scoresOf(fiveFamilies(), map[string]int32{"c7i": 6}),
		previous: offlineChoice,
		chosen:   offlineChoice,
		first:    types("c7i", 5),
	}, {
		name:     "hysteresis: two points better take the place of the worst",
		scores:   scoresOf(fiveFamilies(), map[string]int32{"c7i": 7}),
		previous: offlineChoice,
		chosen: []string{"c7i.large", "c7i.xlarge", "c7i.2xlarge", "m6i.large", "m6i.xlarge", "m6i.2xlarge",
			"c6i.large", "c6i.xlarge", "c6i.2xlarge", "r6i.8xlarge"},
	}, {
		name:     "hysteresis: the interruption history counts too",
		scores:   scoresOf(fiveFamilies(), map[string]int32{"c7i": 6}),
		history:  []v1alpha1.SpotPoolHistory{{InstanceType: "m7i.large", Score: "1", ScoredAt: metav1.NewTime(now)}},
		previous: offlineChoice,
		chosen: []string{"c7i.large", "m6i.large", "m6i.xlarge", "m6i.2xlarge", "c6i.large", "c6i.xlarge", "c6i.2xlarge",
			"r6i.large", "r6i.xlarge", "r6i.8xlarge"},
	}, {
		name:     "hysteresis: an excluded type is replaced, the others stay",
		scores:   scoresOf(fiveFamilies(), map[string]int32{"c7i": 6}),
		previous: offlineChoice,
		excluded: []string{"c6i.large"},
		// The best type that is not chosen yet takes its place.
		chosen: []string{"c7i.large", "m6i.large", "m6i.xlarge", "m6i.2xlarge", "c6i.xlarge", "c6i.2xlarge",
			"r6i.large", "r6i.xlarge", "r6i.8xlarge", "m7i.large"},
	}, {
		// c7i.large is 13th of the diversified ranking (three per family in turn).
		name:     "hysteresis: a type within the best 2 x target stays",
		previous: append(slices.Clone(offlineChoice[:9]), "c7i.large"),
		chosen:   append(slices.Clone(offlineChoice[:9]), "c7i.large"),
	}, {
		// c7i.4xlarge is 21st: its place goes to the best type.
		name:     "hysteresis: a type out of the best 2 x target goes",
		previous: append(slices.Clone(offlineChoice[:9]), "c7i.4xlarge"),
		chosen:   offlineChoice,
	}, {
		// A fourth m6i type would pass the third per family: m7i.large comes in.
		name:     "a previous choice longer than the target keeps its best, diversified",
		previous: append(append(types("m6i", 5), types("c6i", 5)...), types("r6i", 5)...),
		chosen:   offlineChoice,
	}, {
		name:     "previous types outside the supply are ignored",
		previous: []string{"z1.large", "m7i.8xlarge"},
		chosen:   offlineChoice,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.book
			if b == nil {
				b = fiveFamilies()
			}
			p := tc.policy
			if p == nil {
				p = policy(v1alpha1.LeastInterrupted, 0)
			}
			res := Rank(Input{Policy: p, Book: b, Scores: tc.scores, History: tc.history, HalfLife: time.Hour,
				Excluded: tc.excluded, Previous: tc.previous, Now: now})
			if !slices.Equal(res.Chosen, tc.chosen) {
				t.Errorf("chosen\n %v\nwant\n %v", res.Chosen, tc.chosen)
			}
			if got := names(res.Ranked); len(tc.first) > 0 && !slices.Equal(got[:len(tc.first)], tc.first) {
				t.Errorf("ranked %v, want it to start with %v", got, tc.first)
			}
			target, perFamily := cmpOr(tc.target, 10), cmpOr(tc.perFamily, 3)
			if res.Target != target || res.PerFamily != perFamily || res.Strategy != v1alpha1.LeastInterrupted {
				t.Errorf("target %d, per family %d, strategy %s; want %d, %d, LeastInterrupted", res.Target, res.PerFamily, res.Strategy, target, perFamily)
			}
			checkResult(t, res, tc.excluded)
		})
	}
}

// checkResult checks what holds of every result: the ranking lists the supply once,
// best first, with Chosen and Excluded marked as the choice and the input say.
func checkResult(t *testing.T, res Result, excluded []string) {
	t.Helper()
	pos := map[string]int{}
	for i, r := range res.Ranked {
		if _, dup := pos[r.InstanceType]; dup {
			t.Fatalf("%s ranked twice", r.InstanceType)
		}
		pos[r.InstanceType] = i
		if r.Chosen != slices.Contains(res.Chosen, r.InstanceType) || r.Excluded != slices.Contains(excluded, r.InstanceType) {
			t.Errorf("%+v: marks disagree with chosen %v, excluded %v", r, res.Chosen, excluded)
		}
		if i > 0 && lessInterrupted(&res.Ranked[i-1], &r) > 0 {
			t.Errorf("%s ranked before %s", res.Ranked[i-1].InstanceType, r.InstanceType)
		}
	}
	for i, c := range res.Chosen {
		if _, ok := pos[c]; !ok || slices.Contains(excluded, c) {
			t.Errorf("chose %s, excluded or not of the supply", c)
		}
		if i > 0 && pos[res.Chosen[i-1]] > pos[c] {
			t.Errorf("chosen %v not best first", res.Chosen)
		}
	}
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func include(p *v1alpha1.ClusterPolicy, types ...string) *v1alpha1.ClusterPolicy {
	p.Spec.Instances.Include = types
	return p
}

func TestRankBuiltInCatalogue(t *testing.T) {
	p := policy(v1alpha1.LeastInterrupted, 0)
	p.Spec.Instances.Architectures = []string{"amd64", "arm64"}
	res := Rank(Input{Policy: p, Book: cost.DefaultCatalogue(), Now: now})
	supply := cost.SupplyTypes(p, cost.DefaultCatalogue())
	if len(res.Ranked) != len(supply) || len(supply) < 50 {
		t.Fatalf("ranked %d of a supply of %d", len(res.Ranked), len(supply))
	}
	if len(res.Chosen) != 10 {
		t.Fatalf("chose %v, want 10", res.Chosen)
	}
	perFamily := map[string]int{}
	for _, c := range res.Chosen {
		perFamily[family(c)]++
	}
	for f, n := range perFamily {
		if n > 3 {
			t.Errorf("%d types of %s in %v", n, f, res.Chosen)
		}
	}
	for _, r := range res.Ranked {
		if r.SpotPrice == 0 || strings.HasPrefix(r.InstanceType, "g") || strings.HasPrefix(r.InstanceType, "p") {
			t.Errorf("%+v: every type of the supply has a Spot price in %s, and no GPUs", r, region)
		}
	}
	checkResult(t, res, nil)
}

// TestRankProperties checks, on random supplies, scores, histories, exclusions and
// previous choices, that the choice is stable (fed back as Previous it comes out the
// same), never below the target when the supply has that many types, never excluded,
// and diversified whenever the supply has enough families.
func TestRankProperties(t *testing.T) {
	iterations := 3000
	if n, err := strconv.Atoi(os.Getenv("SPOTRANK_ITERATIONS")); err == nil {
		iterations = n
	}
	rng := rand.New(rand.NewPCG(13, 4))
	letters := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}
	for iter := range iterations {
		b := book{}
		var families []string
		for i := range 1 + rng.IntN(9) {
			f := letters[i] + "1"
			families = append(families, f)
			price := float64(rng.IntN(4)) * 0.001 // 0: unpriced
			b.family(f, 1+rng.IntN(len(sizes)), price)
		}
		all := b.InstanceTypes()
		scores := map[string]int32{}
		for _, f := range families {
			if s := int32(rng.IntN(11)); s > 0 {
				for _, ty := range all {
					if family(ty) == f {
						scores[ty] = s
					}
				}
			}
		}
		pick := func(p float64) []string {
			var out []string
			for _, ty := range all {
				if rng.Float64() < p {
					out = append(out, ty)
				}
			}
			return out
		}
		var history []v1alpha1.SpotPoolHistory
		for _, ty := range pick(0.2) {
			history = append(history, v1alpha1.SpotPoolHistory{InstanceType: ty, Score: []string{"0.5", "1", "2.5", "4"}[rng.IntN(4)],
				ScoredAt: metav1.NewTime(now.Add(-time.Duration(rng.IntN(180)) * time.Minute))})
		}
		p := policy(v1alpha1.LeastInterrupted, int32(1+rng.IntN(30)))
		excluded := pick(0.1)
		in := Input{Policy: p, Book: b, Scores: scores, History: history, HalfLife: time.Hour, Excluded: excluded,
			Previous: pick(rng.Float64() / 2), Now: now}
		first := Rank(in)
		in.Previous = first.Chosen
		again := Rank(in)
		if !slices.Equal(again.Chosen, first.Chosen) {
			t.Fatalf("iteration %d: not stable: chose %v, then %v from it (input %+v)", iter, first.Chosen, again.Chosen, in)
		}
		candidates := len(all) - len(excluded)
		target := max(int(*p.Spec.Spot.Interruptions.MinInstanceTypes), MinChosen)
		if len(first.Chosen) != min(target, candidates) {
			t.Fatalf("iteration %d: chose %d of %d candidates, target %d", iter, len(first.Chosen), candidates, target)
		}
		perFamily := map[string]int{}
		var cpu, chosenCPU int
		var mem, chosenMem float64
		for _, r := range first.Ranked {
			if !r.Excluded {
				cpu, mem = max(cpu, r.VCPU), max(mem, r.MemoryGiB)
			}
			if r.Chosen {
				chosenCPU, chosenMem = max(chosenCPU, r.VCPU), max(chosenMem, r.MemoryGiB)
				perFamily[family(r.InstanceType)]++
			}
		}
		if chosenCPU != cpu || chosenMem != mem {
			t.Fatalf("iteration %d: chose %v, at most %d vCPUs and %g GiB; the candidates have %d and %g", iter, first.Chosen, chosenCPU, chosenMem, cpu, mem)
		}
		// Enough families: the first turn (at most PerFamily of each) fills the target.
		firstTurn := 0
		for _, f := range families {
			n := 0
			for _, ty := range all {
				if family(ty) == f && !slices.Contains(excluded, ty) {
					n++
				}
			}
			firstTurn += min(n, first.PerFamily)
		}
		for f, n := range perFamily {
			// The largest types may add one to their families.
			if firstTurn >= target && n > first.PerFamily+2 {
				t.Fatalf("iteration %d: %d types of %s in %v, at most %d", iter, n, f, first.Chosen, first.PerFamily)
			}
		}
		checkResult(t, first, excluded)
	}
}

func TestRankDefaultsUnsetFields(t *testing.T) {
	// An undefaulted policy: strategy CostOptimized, minInstanceTypes 5.
	p := &v1alpha1.ClusterPolicy{}
	p.Spec.Cluster.Region = region
	p.Spec.Instances.Architectures = []string{"amd64"}
	if res := Rank(Input{Policy: p, Book: fiveFamilies()}); res.Strategy != v1alpha1.CostOptimized || res.Chosen != nil || len(res.Ranked) != 25 {
		t.Errorf("unset strategy: %+v", res)
	}
	p.Spec.Spot.Strategy = v1alpha1.LeastInterrupted
	p.Spec.Spot.Interruptions.MinInstanceTypes = nil
	if res := Rank(Input{Policy: p, Book: fiveFamilies()}); res.Target != 10 || !slices.Equal(res.Chosen, offlineChoice) {
		t.Errorf("unset minInstanceTypes: %+v", res)
	}
	p.Spec.Spot.Interruptions.MinInstanceTypes = ptr.To(int32(12))
	if res := Rank(Input{Policy: p, Book: fiveFamilies()}); res.Target != 12 || res.PerFamily != 4 {
		t.Errorf("minInstanceTypes 12: target %d, per family %d", res.Target, res.PerFamily)
	}
}
