package split

import (
	"fmt"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Reason says why a pod was placed where it was; it is written to the pod's
// ballast.dev/reason annotation.
type Reason string

const (
	// ReasonBase: one of the first baseOnDemand replicas, always On-Demand.
	ReasonBase Reason = "base"
	// ReasonSplit: placed by the onDemandPercent split of the replicas above the base.
	ReasonSplit Reason = "split"
	// ReasonFallback: meant for Spot, placed On-Demand because Spot capacity is short.
	ReasonFallback Reason = "fallback"
	// ReasonOverride: the workload keeps itself off Spot (ballast.dev/spot: never), the
	// cluster has Spot disabled, SpotReady keeps a single replica On-Demand, or no
	// NodePool the pod can land on offers the capacity type the split chose.
	ReasonOverride Reason = "override"
)

// Rule is the effective distribution of one workload after precedence (workload
// annotations > most specific namespaced rule > cluster default).
type Rule struct {
	BaseOnDemand    int32                 `json:"baseOnDemand"`
	OnDemandPercent int32                 `json:"onDemandPercent"`
	Selector        v1alpha1.SpotSelector `json:"selector"`
	Strategy        v1alpha1.Strategy     `json:"strategy"`
	// NoSpot keeps every replica On-Demand: ballast.dev/spot: never on the workload, or
	// Spot disabled for the cluster.
	NoSpot bool `json:"spotNever,omitempty"`
	// Source says where the rule came from, for status, events and plans: "cluster
	// default", "rule NS/NAME", with " + annotations" when annotations override it and
	// " (Spot disabled)" when the cluster disables Spot.
	Source string `json:"source"`
	// Governing is the rule that selected the workload, or nil for the cluster default.
	Governing *v1alpha1.WorkloadDistributionRule `json:"-"`
	// Ignored lists invalid annotations, which placement ignores.
	Ignored []string `json:"ignored,omitempty"`
}

// Counts is a number of replicas per capacity class.
type Counts struct {
	OnDemand int32 `json:"onDemand"`
	Spot     int32 `json:"spot"`
}

// Total is the number of replicas counted.
func (c Counts) Total() int32 { return c.OnDemand + c.Spot }

// Add counts one replica of the capacity class.
func (c *Counts) Add(capacity string) {
	if capacity == v1alpha1.CapacitySpot {
		c.Spot++
	} else {
		c.OnDemand++
	}
}

// String formats the counts as "3 on-demand / 7 spot".
func (c Counts) String() string {
	return fmt.Sprintf("%d on-demand / %d spot", c.OnDemand, c.Spot)
}

// SpotAllowed reports whether the workload may use Spot at this replica count: not
// when Spot is never allowed, nor for a single replica under SpotReady.
func (r Rule) SpotAllowed(replicas int32) bool {
	if r.NoSpot {
		return false
	}
	return r.Selector != v1alpha1.SpotReady || replicas > 1
}

// Target is the split the rule asks for at a replica count. The first baseOnDemand
// replicas are On-Demand; of the rest, onDemandPercent percent rounded UP are
// On-Demand (rounding favours the safer class, as EC2 Auto Scaling rounds its
// On-Demand percentage above base), and the remainder runs on Spot:
//
//	onDemand = min(replicas, base) + ceil((replicas - min(replicas, base)) * percent / 100)
//
// e.g. 10 replicas, base 2, 30%: 2 + ceil(8 * 0.3) = 2 + 3 = 5 On-Demand, 5 Spot.
func (r Rule) Target(replicas int32) Counts {
	if replicas <= 0 {
		return Counts{}
	}
	if !r.SpotAllowed(replicas) {
		return Counts{OnDemand: replicas}
	}
	base := min(replicas, max(r.BaseOnDemand, 0))
	od := base + ceilPercent(replicas-base, r.OnDemandPercent)
	return Counts{OnDemand: od, Spot: replicas - od}
}

// ceilPercent is ceil(n * percent / 100) in integers.
func ceilPercent(n, percent int32) int32 {
	percent = min(max(percent, 0), 100)
	return int32((int64(n)*int64(percent) + 99) / 100) //nolint:gosec // at most n
}

// Decision is where a new pod goes.
type Decision struct {
	Capacity string
	Reason   Reason
}

// Decide places a new pod of a workload that wants replicas replicas and already has
// the current placements (pods admitted and not terminating, the new pod excluded).
// The pod takes the class that is furthest below its target, On-Demand first, so
// that sequential decisions converge on Target; when both classes are at or above
// target (a surge during a rollout), it goes where the share is lowest relative to the
// target, On-Demand on a tie.
func Decide(r Rule, replicas int32, current Counts) Decision {
	if !r.SpotAllowed(replicas) {
		return Decision{Capacity: v1alpha1.CapacityOnDemand, Reason: ReasonOverride}
	}
	target := r.Target(replicas)
	base := min(replicas, max(r.BaseOnDemand, 0))
	switch {
	case current.OnDemand < base:
		return Decision{Capacity: v1alpha1.CapacityOnDemand, Reason: ReasonBase}
	case current.OnDemand < target.OnDemand:
		return Decision{Capacity: v1alpha1.CapacityOnDemand, Reason: ReasonSplit}
	case current.Spot < target.Spot:
		return Decision{Capacity: v1alpha1.CapacitySpot, Reason: ReasonSplit}
	}
	// Surge (a rollout, or a replacement admitted before the cache saw the pod it
	// replaces): a class the rule gives nothing never gets the extra pod; otherwise
	// compare current/target shares without division, a tie going On-Demand.
	if target.OnDemand == 0 {
		return Decision{Capacity: v1alpha1.CapacitySpot, Reason: ReasonSplit}
	}
	if target.Spot > 0 && int64(current.Spot)*int64(target.OnDemand) < int64(current.OnDemand)*int64(target.Spot) {
		return Decision{Capacity: v1alpha1.CapacitySpot, Reason: ReasonSplit}
	}
	return Decision{Capacity: v1alpha1.CapacityOnDemand, Reason: ReasonSplit}
}

// DecideOrdinal places the pod with the given ordinal of a StatefulSet so that every
// ordinal always gets the same class: ordinals below baseOnDemand are On-Demand, and of
// the ordinals above the base the k-th (0-based) is On-Demand exactly when
// ceil((k+1) * percent / 100) > ceil(k * percent / 100). Any prefix of ordinals
// 0..n-1 then holds exactly Target(n), so pod web-0 is On-Demand whenever
// baseOnDemand >= 1 and scaling never reshuffles classes.
func DecideOrdinal(r Rule, replicas int32, ordinal int32) Decision {
	if !r.SpotAllowed(replicas) {
		return Decision{Capacity: v1alpha1.CapacityOnDemand, Reason: ReasonOverride}
	}
	if ordinal < max(r.BaseOnDemand, 0) {
		return Decision{Capacity: v1alpha1.CapacityOnDemand, Reason: ReasonBase}
	}
	k := ordinal - max(r.BaseOnDemand, 0)
	if ceilPercent(k+1, r.OnDemandPercent) > ceilPercent(k, r.OnDemandPercent) {
		return Decision{Capacity: v1alpha1.CapacityOnDemand, Reason: ReasonSplit}
	}
	return Decision{Capacity: v1alpha1.CapacitySpot, Reason: ReasonSplit}
}

// Fallback turns a decision for Spot into one for On-Demand with ReasonFallback, for
// when Spot capacity is short; other decisions stay. The replica is still meant for
// Spot: it counts as Spot in the split, so that nothing "corrects" it while Spot is
// short, and reverse fallback moves it back once Spot returns.
func Fallback(d Decision) Decision {
	if d.Capacity != v1alpha1.CapacitySpot {
		return d
	}
	return Decision{Capacity: v1alpha1.CapacityOnDemand, Reason: ReasonFallback}
}

// Surplus says how many replicas of which class must move for the observed split to
// equal the target: the class that has more than its target, and by how much (at most
// what the other class lacks, so a workload that is merely short of replicas is left
// to its controller). It returns "" when the split is exact or cannot be improved by
// moving replicas.
func Surplus(r Rule, replicas int32, observed Counts) (capacity string, n int32) {
	target := r.Target(replicas)
	switch {
	case observed.OnDemand > target.OnDemand && observed.Spot < target.Spot:
		return v1alpha1.CapacityOnDemand, min(observed.OnDemand-target.OnDemand, target.Spot-observed.Spot)
	case observed.Spot > target.Spot && observed.OnDemand < target.OnDemand:
		return v1alpha1.CapacitySpot, min(observed.Spot-target.Spot, target.OnDemand-observed.OnDemand)
	}
	return "", 0
}
