package interruption

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Reasons of a notice, as status.interruptions and events name them.
const (
	// SpotInterruptionReason: EC2 will reclaim the instance in two minutes.
	SpotInterruptionReason = "SpotInterruption"
	// RebalanceRecommendationReason: the instance is at elevated risk of interruption.
	RebalanceRecommendationReason = "RebalanceRecommendation"
)

// Bounds of status.interruptions, matching the API's MaxItems.
const (
	maxExclusions = 100
	maxPools      = 100
	maxRecent     = 200
	// recentFor is how long a counted notice is remembered, so that a redelivery or
	// the same notice from a second signal (the queue and Karpenter's events) counts
	// once. EC2 sends one interruption warning per instance; SQS redelivers within
	// minutes.
	recentFor = time.Hour
	// forgetBelow drops a pool from the history once its score decays below it.
	forgetBelow = 0.05
)

// DefaultHalfLife is how quickly the interruption history fades: a notice counts half
// as much after a day.
const DefaultHalfLife = 24 * time.Hour

// weight is what one notice adds to its pool's score.
func weight(reason string) float64 {
	if reason == RebalanceRecommendationReason {
		return 0.5
	}
	return 1
}

// Notice is one instance's interruption warning or rebalance recommendation, with the
// pool (instance type and zone) of the node it concerns.
type Notice struct {
	InstanceID   string
	Reason       string
	InstanceType string
	Zone         string
	// Time is when AWS sent the notice.
	Time time.Time
}

// Settings are what steering follows.
type Settings struct {
	// ExcludeFor is how long a reclaimed type stays out; zero turns steering off.
	ExcludeFor time.Duration
	// Floor is the fewest instance types the Spot NodePool keeps.
	Floor int
	// HalfLife of the history score.
	HalfLife time.Duration
}

// decayed is score s, computed at at, as of now.
func decayed(s float64, at, now time.Time, halfLife time.Duration) float64 {
	if halfLife <= 0 || !now.After(at) {
		return s
	}
	return s * math.Exp2(-float64(now.Sub(at))/float64(halfLife))
}

// PoolScore is a pool's history score as of now.
func PoolScore(p v1alpha1.SpotPoolHistory, now time.Time, halfLife time.Duration) float64 {
	s, err := strconv.ParseFloat(p.Score, 64)
	if err != nil {
		return 0
	}
	return decayed(s, p.ScoredAt.Time, now, halfLife)
}

func formatScore(s float64) string {
	return strconv.FormatFloat(s, 'f', 3, 64)
}

// record adds n to st: once per instance and reason, into the history of its pool and,
// when steering is on and the exclusion would not already be over, as an exclusion of
// its pool until n.Time + ExcludeFor. It reports whether n was new.
func record(st *v1alpha1.InterruptionsStatus, n Notice, now time.Time, s Settings) bool {
	for _, r := range st.Recent {
		if r.InstanceID == n.InstanceID && r.Reason == n.Reason {
			return false
		}
	}
	st.Recent = append(st.Recent, v1alpha1.InterruptionNotice{InstanceID: n.InstanceID, Reason: n.Reason, Seen: metav1.NewTime(now.Truncate(time.Second))})

	at := metav1.NewTime(now.Truncate(time.Second))
	i := slices.IndexFunc(st.Pools, func(p v1alpha1.SpotPoolHistory) bool {
		return p.InstanceType == n.InstanceType && p.Zone == n.Zone
	})
	if i < 0 {
		st.Pools = append(st.Pools, v1alpha1.SpotPoolHistory{InstanceType: n.InstanceType, Zone: n.Zone, Score: formatScore(0), ScoredAt: at})
		i = len(st.Pools) - 1
	}
	p := &st.Pools[i]
	p.Score = formatScore(PoolScore(*p, now, s.HalfLife) + weight(n.Reason))
	p.ScoredAt = at
	if n.Reason == SpotInterruptionReason {
		p.Interruptions++
	} else {
		p.Rebalances++
	}
	if n.Time.After(p.LastSeen.Time) {
		p.LastSeen = metav1.NewTime(n.Time.Truncate(time.Second))
	}

	until := n.Time.Add(s.ExcludeFor)
	if s.ExcludeFor <= 0 || !until.After(now) {
		return true
	}
	j := slices.IndexFunc(st.Exclusions, func(e v1alpha1.SpotExclusion) bool {
		return e.InstanceType == n.InstanceType && e.Zone == n.Zone
	})
	if j < 0 {
		st.Exclusions = append(st.Exclusions, v1alpha1.SpotExclusion{InstanceType: n.InstanceType, Zone: n.Zone})
		j = len(st.Exclusions) - 1
	}
	e := &st.Exclusions[j]
	if n.Time.Before(e.Since.Time) && !e.Since.IsZero() {
		return true
	}
	e.Reason = n.Reason
	e.Since = metav1.NewTime(n.Time.Truncate(time.Second))
	e.Until = metav1.NewTime(until.Truncate(time.Second))
	return true
}

// tidy drops what is over (exclusions past their end, notices older than recentFor,
// pools whose score faded), sorts every list and bounds it.
func tidy(st *v1alpha1.InterruptionsStatus, now time.Time, s Settings) {
	st.Exclusions = slices.DeleteFunc(st.Exclusions, func(e v1alpha1.SpotExclusion) bool { return !e.Until.After(now) })
	slices.SortStableFunc(st.Exclusions, func(a, b v1alpha1.SpotExclusion) int {
		return cmp.Or(b.Since.Compare(a.Since.Time), cmp.Compare(a.InstanceType, b.InstanceType), cmp.Compare(a.Zone, b.Zone))
	})
	st.Exclusions = st.Exclusions[:min(len(st.Exclusions), maxExclusions)]

	st.Recent = slices.DeleteFunc(st.Recent, func(r v1alpha1.InterruptionNotice) bool { return now.Sub(r.Seen.Time) > recentFor })
	if n := len(st.Recent); n > maxRecent {
		st.Recent = slices.Delete(st.Recent, 0, n-maxRecent)
	}

	st.Pools = slices.DeleteFunc(st.Pools, func(p v1alpha1.SpotPoolHistory) bool { return PoolScore(p, now, s.HalfLife) < forgetBelow })
	slices.SortStableFunc(st.Pools, func(a, b v1alpha1.SpotPoolHistory) int {
		return cmp.Or(cmp.Compare(PoolScore(b, now, s.HalfLife), PoolScore(a, now, s.HalfLife)), cmp.Compare(a.InstanceType, b.InstanceType), cmp.Compare(a.Zone, b.Zone))
	})
	st.Pools = st.Pools[:min(len(st.Pools), maxPools)]
}

// decide sets which exclusions go into the Spot NodePool: those already in it first
// (an exclusion in force is not taken back before it ends, so the NodePool does not
// flap), then the newest, each as long as supply (the instance types the NodePool
// offers without steering) keeps at least the floor; the rest stay in the status with
// Applied false. A type excluded for one reclaimed pool is excluded in every zone:
// Karpenter's requirements cannot leave out one type in one zone only.
func decide(st *v1alpha1.InterruptionsStatus, supply []string, floor int) {
	offered := map[string]bool{}
	for _, t := range supply {
		offered[t] = true
	}
	left := len(offered)
	excluded := map[string]bool{}
	order := make([]int, len(st.Exclusions))
	for i := range order {
		order[i] = i
	}
	inForce := func(i int) bool { return slices.Contains(st.ExcludedInstanceTypes, st.Exclusions[i].InstanceType) }
	// Exclusions are sorted newest first; a stable sort keeps that within each group.
	slices.SortStableFunc(order, func(a, b int) int {
		switch fa, fb := inForce(a), inForce(b); {
		case fa && !fb:
			return -1
		case fb && !fa:
			return 1
		}
		return 0
	})
	for _, i := range order {
		e := &st.Exclusions[i]
		switch {
		case excluded[e.InstanceType]:
			e.Applied = true
		case !offered[e.InstanceType]:
			// Not offered anyway (the policy changed since): nothing to leave out.
			e.Applied = false
		case left-1 >= floor:
			excluded[e.InstanceType] = true
			left--
			e.Applied = true
		default:
			e.Applied = false
		}
	}
	st.ExcludedInstanceTypes = nil
	for t := range excluded {
		st.ExcludedInstanceTypes = append(st.ExcludedInstanceTypes, t)
	}
	slices.Sort(st.ExcludedInstanceTypes)
}

// nextChange is when the first exclusion ends (zero when none will).
func nextChange(st *v1alpha1.InterruptionsStatus) time.Time {
	var next time.Time
	for _, e := range st.Exclusions {
		if next.IsZero() || e.Until.Before(&metav1.Time{Time: next}) {
			next = e.Until.Time
		}
	}
	return next
}

// empty reports whether st holds nothing worth a status.
func empty(st *v1alpha1.InterruptionsStatus) bool {
	return len(st.ExcludedInstanceTypes) == 0 && len(st.PreferredInstanceTypes) == 0 && len(st.Exclusions) == 0 &&
		len(st.Pools) == 0 && len(st.Recent) == 0
}
