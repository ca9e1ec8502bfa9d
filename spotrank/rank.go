package spotrank

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// The rules of the LeastInterrupted choice (see the package documentation).
const (
	// MinChosen is the fewest instance types LeastInterrupted chooses when the supply
	// has that many, whatever spec.spot.interruptions.minInstanceTypes says: fewer
	// types are fewer Spot pools to fall back on when some are reclaimed.
	MinChosen = 10
	// NeutralPlacement is the placement score of a type whose score is unknown: the
	// middle of AWS's 1-10 scale, so that an unknown type neither wins nor loses
	// against known ones by its score alone.
	NeutralPlacement = 5
	// InterruptionPenalty is how many points of placement score one interruption of
	// the history (decayed) costs.
	InterruptionPenalty = 1.0
	// HysteresisMargin is how many points more than a chosen type another type must
	// score to take its place.
	HysteresisMargin = 1.5
)

// Input is what Rank ranks and chooses from.
type Input struct {
	// Policy is the cluster's defaulted ClusterPolicy: its spec.instances (the
	// supply), spec.cluster.region (the prices), spec.spot.strategy and
	// spec.spot.interruptions.minInstanceTypes count.
	Policy *v1alpha1.ClusterPolicy
	// Book prices the types and, as a cost.ShapeBook, says which types exist and how
	// many vCPUs they have (the default catalogue's shapes when it is not one); the
	// supply is cost.SupplyTypes(Policy, Book).
	Book cost.PriceBook
	// Scores are the Spot placement scores by instance type (1 to 10, the mean over
	// zones; see Scores). A type without one, or with one out of range, is unknown.
	Scores map[string]int32
	// History is status.interruptions.pools: per instance type and zone, a score as of
	// ScoredAt, halved every HalfLife.
	History []v1alpha1.SpotPoolHistory
	// HalfLife is the half-life of the History scores; zero or less leaves them as
	// they are.
	HalfLife time.Duration
	// Excluded are the types excluded now
	// (status.interruptions.excludedInstanceTypes): never chosen.
	Excluded []string
	// Previous is the list chosen last time, so that the choice changes only for a
	// clear reason (see the package documentation).
	Previous []string
	// Now is the time the History decays to.
	Now time.Time
}

// Ranked is one instance type of the supply, with what its rank comes from.
type Ranked struct {
	InstanceType string
	// VCPU is the number of vCPUs of the type, and MemoryGiB its memory.
	VCPU      int
	MemoryGiB float64
	// Placement is the Spot placement score, 1 to 10; 0 when unknown (it then counts
	// as NeutralPlacement).
	Placement int32
	// Interruptions is the interruption history of the type, decayed to Input.Now and
	// summed over zones.
	Interruptions float64
	// SpotPrice is the Spot price in the policy's region in USD per hour, and
	// PricePerVCPU the same per vCPU; both 0 when the book has no Spot price.
	SpotPrice, PricePerVCPU float64
	// Score is the ranking key: for LeastInterrupted the placement score (neutral
	// when unknown) less the interruption penalty, highest first; for CostOptimized
	// PricePerVCPU, lowest first.
	Score float64
	// Excluded says the type is excluded now (Input.Excluded).
	Excluded bool
	// Chosen says the type is in Result.Chosen.
	Chosen bool
}

// Result is the ranking and the choice.
type Result struct {
	// Strategy is the policy's strategy, which the ranking is for.
	Strategy v1alpha1.Strategy
	// Ranked is every type of the supply, best first for the strategy.
	Ranked []Ranked
	// Chosen, for LeastInterrupted, are the types the Spot NodePool offers, best
	// first; nil for CostOptimized, whose NodePool offers every type of the supply.
	Chosen []string
	// Target is how many types LeastInterrupted chooses when the supply has them,
	// and PerFamily the most it chooses of one instance family when the supply has
	// enough families; both 0 for CostOptimized.
	Target, PerFamily int
}

// Rank ranks the Spot supply of in.Policy for its strategy and, for LeastInterrupted,
// chooses the types its Spot NodePool offers; see the package documentation for the
// rules.
func Rank(in Input) Result {
	policy := in.Policy
	strategy := policy.Spec.Spot.Strategy
	if strategy == "" {
		strategy = v1alpha1.DefaultStrategy
	}
	shapes, ok := in.Book.(cost.ShapeBook)
	if !ok {
		shapes = cost.DefaultCatalogue()
	}
	region := policy.Spec.Cluster.Region
	history := decayed(in.History, in.HalfLife, in.Now)
	supply := cost.SupplyTypes(policy, in.Book)
	ranked := make([]Ranked, 0, len(supply))
	for _, t := range supply {
		r := Ranked{InstanceType: t, Interruptions: history[t], Excluded: slices.Contains(in.Excluded, t)}
		if s := in.Scores[t]; s >= 1 && s <= 10 {
			r.Placement = s
		}
		if s, ok := shapes.Shape(t); ok {
			r.VCPU, r.MemoryGiB = s.VCPU, s.MemoryGiB
		}
		if p, ok := in.Book.Price(region, t, cost.Spot); ok && p > 0 {
			r.SpotPrice = p
			if r.VCPU > 0 {
				r.PricePerVCPU = p / float64(r.VCPU)
			}
		}
		if strategy == v1alpha1.LeastInterrupted {
			r.Score = float64(placement(r.Placement)) - InterruptionPenalty*r.Interruptions
		} else {
			r.Score = r.PricePerVCPU
		}
		ranked = append(ranked, r)
	}
	if strategy != v1alpha1.LeastInterrupted {
		slices.SortFunc(ranked, func(a, b Ranked) int { return cheaper(&a, &b) })
		return Result{Strategy: strategy, Ranked: ranked}
	}
	slices.SortFunc(ranked, func(a, b Ranked) int { return lessInterrupted(&a, &b) })

	minTypes := v1alpha1.DefaultMinInstanceTypes
	if m := policy.Spec.Spot.Interruptions.MinInstanceTypes; m != nil {
		minTypes = *m
	}
	res := Result{Strategy: strategy, Ranked: ranked, Target: max(int(minTypes), MinChosen)}
	res.PerFamily = max(1, res.Target/3)
	for _, i := range choose(ranked, in.Previous, res.Target, res.PerFamily) {
		ranked[i].Chosen = true
		res.Chosen = append(res.Chosen, ranked[i].InstanceType)
	}
	return res
}

// choose returns the indexes in ranked (sorted for LeastInterrupted) of the types
// chosen, in ranked's order: the largest types (see largest), then the first of the
// diversified ranking of the others up to target, where a type of the previous choice
// scores HysteresisMargin more while it stays in the best 2 x target of the
// diversified ranking without that bonus.
func choose(ranked []Ranked, previous []string, target, perFamily int) []int {
	var candidates []int
	for i, r := range ranked {
		if !r.Excluded {
			candidates = append(candidates, i)
		}
	}
	if len(candidates) <= target {
		return candidates
	}
	was := func(i int) bool { return slices.Contains(previous, ranked[i].InstanceType) }
	forced, rest, others := largest(ranked, candidates, was)
	fresh := slices.Concat(diversify(ranked, slices.Concat(forced, rest), perFamily), others)
	incumbent := make([]bool, len(ranked))
	for pos, i := range fresh {
		incumbent[i] = was(i) && pos < 2*target
	}
	effective := func(i int) float64 {
		if incumbent[i] {
			return ranked[i].Score + HysteresisMargin
		}
		return ranked[i].Score
	}
	// Stable: equal effective scores keep the ranking's order (price, then name).
	byEffective := func(a, b int) int {
		return cmp.Or(cmp.Compare(effective(b), effective(a)), compareBool(incumbent[b], incumbent[a]))
	}
	slices.SortStableFunc(rest, byEffective)
	slices.SortStableFunc(others, byEffective)
	// The other types of the largest sizes only when the rest are too few.
	order := slices.Concat(diversify(ranked, slices.Concat(forced, rest), perFamily), others)
	chosen := order[:target]
	slices.Sort(chosen)
	return chosen
}

// largest splits the candidates (in ranked's order) into the largest types, chosen
// whatever their rank, the rest, and the other types of the largest sizes, chosen only
// when the rest are too few. So that every pod that fits a type of the supply still
// fits a chosen one, instead of waiting for Spot capacity the choice left out, the
// choice holds exactly one type with both the most vCPUs and the most memory of any
// candidate, or when no type has both, one with the most vCPUs and one with the most
// memory. Each is the best ranked of its kind, unless a type of the previous choice
// (was) of that kind scores no more than HysteresisMargin below it: then the best
// ranked of those stays. Leaving the other types of those sizes out is what keeps the
// choice stable: which of them is the largest type never moves another one in or out.
func largest(ranked []Ranked, candidates []int, was func(int) bool) (forced, rest, others []int) {
	var cpu int
	var mem float64
	for _, i := range candidates {
		cpu, mem = max(cpu, ranked[i].VCPU), max(mem, ranked[i].MemoryGiB)
	}
	maxCPU := func(i int) bool { return ranked[i].VCPU == cpu }
	maxMem := func(i int) bool { return ranked[i].MemoryGiB == mem }
	pick := func(kind func(int) bool) int {
		best := candidates[slices.IndexFunc(candidates, kind)]
		for _, i := range candidates {
			if kind(i) && was(i) && ranked[i].Score+HysteresisMargin >= ranked[best].Score {
				return i
			}
		}
		return best
	}
	if both := func(i int) bool { return maxCPU(i) && maxMem(i) }; slices.ContainsFunc(candidates, both) {
		forced = []int{pick(both)}
	} else {
		forced = []int{pick(maxCPU), pick(maxMem)}
		slices.Sort(forced)
	}
	for _, i := range candidates {
		switch {
		case slices.Contains(forced, i):
		case maxCPU(i) || maxMem(i):
			others = append(others, i)
		default:
			rest = append(rest, i)
		}
	}
	return forced, rest, others
}

// diversify reorders order (indexes into ranked) in turns: the first perFamily types
// of every instance family, in order, then the next perFamily of every family, and so
// on. Its first n types are then the best n with at most perFamily of one family, when
// the supply has enough families, and as evenly spread over families as it allows
// when not.
func diversify(ranked []Ranked, order []int, perFamily int) []int {
	seen := map[string]int{}
	turn := make(map[int]int, len(order))
	for _, i := range order {
		f := family(ranked[i].InstanceType)
		turn[i] = seen[f] / perFamily
		seen[f]++
	}
	out := slices.Clone(order)
	slices.SortStableFunc(out, func(a, b int) int { return cmp.Compare(turn[a], turn[b]) })
	return out
}

// family is the instance family of an instance type: m6i for m6i.large.
func family(instanceType string) string {
	f, _, _ := strings.Cut(instanceType, ".")
	return f
}

// placement is the placement score a type counts with: its own, or NeutralPlacement.
func placement(p int32) int32 {
	if p == 0 {
		return NeutralPlacement
	}
	return p
}

// decayed sums the interruption history of each instance type over its zones, every
// score halved for each half-life between its ScoredAt and now. Scores that are not
// positive decimals count nothing.
func decayed(history []v1alpha1.SpotPoolHistory, halfLife time.Duration, now time.Time) map[string]float64 {
	out := map[string]float64{}
	for _, p := range history {
		s, err := strconv.ParseFloat(p.Score, 64)
		if err != nil || !(s > 0) || math.IsInf(s, 0) {
			continue
		}
		if age := now.Sub(p.ScoredAt.Time); halfLife > 0 && age > 0 {
			s *= math.Exp2(-age.Seconds() / halfLife.Seconds())
		}
		out[p.InstanceType] += s
	}
	return out
}

// cheaper orders types by Spot price per vCPU to three significant digits (closer
// prices are noise: prices are rounded, and Spot prices move by more every hour), then
// by Spot price (the smaller instance first), then by size, then by name; an unknown
// price comes after every known one.
func cheaper(a, b *Ranked) int {
	return cmp.Or(comparePrice(significant(a.PricePerVCPU), significant(b.PricePerVCPU)), comparePrice(a.SpotPrice, b.SpotPrice),
		cmp.Compare(a.VCPU, b.VCPU), cmp.Compare(a.InstanceType, b.InstanceType))
}

// significant rounds a positive price to three significant digits.
func significant(p float64) float64 {
	if p <= 0 {
		return p
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(p, 'e', 2, 64), 64)
	return r
}

// lessInterrupted orders types by score, highest first, then as cheaper does.
func lessInterrupted(a, b *Ranked) int {
	return cmp.Or(cmp.Compare(b.Score, a.Score), cheaper(a, b))
}

// comparePrice compares two prices, 0 (unknown) after any other.
func comparePrice(a, b float64) int {
	switch {
	case a == b:
		return 0
	case a == 0:
		return 1
	case b == 0:
		return -1
	}
	return cmp.Compare(a, b)
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
