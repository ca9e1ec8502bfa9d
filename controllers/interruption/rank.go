package interruption

import (
	"context"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/spotrank"
)

// DefaultRankEvery is how often the Spot supply of a LeastInterrupted cluster is ranked
// again (placement scores move over hours; the cache keeps calls within AWS's limits).
const DefaultRankEvery = 30 * time.Minute

// rank sets st.PreferredInstanceTypes: for a LeastInterrupted cluster, the types
// spotrank chooses from the placement scores and the history, at most every
// RankEvery (sooner when the list names a type the policy no longer allows); for
// CostOptimized, none. The exclusions are not passed to the ranking: an excluded type
// keeps its place in the list (the NotIn requirement already keeps it out), so that
// its nodes are not replaced as drifted when the exclusion ends.
func (r *Reconciler) rank(ctx context.Context, p *v1alpha1.ClusterPolicy, st *v1alpha1.InterruptionsStatus, now time.Time, halfLife time.Duration) {
	if p.Spec.Spot.Strategy != v1alpha1.LeastInterrupted || (p.Spec.Spot.Enabled != nil && !*p.Spec.Spot.Enabled) {
		st.PreferredInstanceTypes, st.RankedAt = nil, nil
		return
	}
	book := r.book()
	supply := cost.SupplyTypes(p, book)
	stale := slices.ContainsFunc(st.PreferredInstanceTypes, func(t string) bool { return !slices.Contains(supply, t) })
	if len(st.PreferredInstanceTypes) > 0 && !stale && now.Sub(r.lastRanked) < r.rankEvery() {
		return
	}
	var scores map[string]int32
	if r.Scores != nil {
		var err error
		scores, err = spotrank.Scores(ctx, r.Scores, p.Spec.Cluster.Region, supply)
		if err != nil {
			// Stale or partial scores still rank; unknown ones count as neutral.
			log.FromContext(ctx).WithName("interruption").Info("Spot placement scores incomplete; ranking with what is known", "error", err.Error())
		}
	}
	chosen := spotrank.Rank(spotrank.Input{
		Policy: p, Book: book, Scores: scores, History: st.Pools, HalfLife: halfLife,
		Previous: st.PreferredInstanceTypes, Now: now,
	}).Chosen
	r.lastRanked = now
	if !slices.Equal(chosen, st.PreferredInstanceTypes) {
		st.PreferredInstanceTypes = chosen
		st.RankedAt = &metav1.Time{Time: now.Truncate(time.Second)}
	}
}

func (r *Reconciler) book() cost.PriceBook {
	if r.Book != nil {
		return r.Book
	}
	return cost.DefaultCatalogue()
}

func (r *Reconciler) rankEvery() time.Duration {
	if r.RankEvery > 0 {
		return r.RankEvery
	}
	return DefaultRankEvery
}
