// Package spotrank ranks a cluster's Spot supply (the instance types its policy
// allows) for the cluster's Spot strategy, and chooses the types the Spot NodePool
// offers under LeastInterrupted. Rank is pure, like cost and render: the caller passes
// the prices, the Spot placement scores, the interruption history and the time.
// Scores gets the placement scores through a cloud.PlacementScoreSource. The
// interruption controller writes the choice to
// status.interruptions.preferredInstanceTypes (render.Steer adds it to the Spot
// NodePool as an instance-type In requirement), and `ballast plan` shows it next to
// the other strategy's.
//
// # CostOptimized
//
// Types rank by Spot price per vCPU, cheapest first (to three significant digits:
// closer prices are noise, as Spot prices move by more every hour; then the cheaper
// instance, the smaller, the name; types without a Spot price in the region last): the
// order in which Karpenter's price-capacity-optimized allocation buys them. Nothing is
// chosen: the Spot NodePool keeps every type the policy allows, so that Karpenter can
// buy the cheapest pools that have capacity, and its rendering does not change.
//
// # LeastInterrupted
//
// Types rank by
//
//	score = placement - InterruptionPenalty x interruptions
//
// highest first, then as for CostOptimized. placement is the type's Spot placement
// score (1 to 10; NeutralPlacement, 5, when unknown, e.g. offline); interruptions is
// the type's interruption history (status.interruptions.pools: an interruption warning
// counts 1, a rebalance recommendation 0.5), decayed to now (halved every half-life)
// and summed over zones, each counting InterruptionPenalty (1) point.
//
// The Spot NodePool then offers the Target best types,
// max(spec.spot.interruptions.minInstanceTypes, MinChosen), or all of them when the
// supply (less the types excluded now, which are never chosen) has no more. The
// choice is
//
//   - diversified: at most a third of the types (PerFamily) from one instance family
//     (m6i, c7g, ...), so that a family being reclaimed cannot take the whole Spot
//     supply with it; only when the supply has too few families does a family get
//     more, in turns (the best PerFamily types of every family before any family's
//     next ones);
//   - large enough: it holds exactly one type with both the most vCPUs and the most
//     memory of the supply (or, when no type has both, one with the most vCPUs and one
//     with the most memory), the best ranked of them, whatever its rank among the
//     others, so that every pod that fits the supply still fits a chosen type instead
//     of waiting for Spot capacity the choice left out; the other types of those sizes
//     come in only when the supply has too few others;
//   - spread over every zone: the requirement names instance types only, so every zone
//     the policy allows stays and Karpenter keeps spreading Spot nodes over them.
//
// # Hysteresis
//
// The choice is an instance-type In requirement, and Karpenter replaces the nodes of a
// type that leaves it as drifted: every change costs node replacements. So a type
// chosen last time (Input.Previous) keeps its place unless it is excluded now, or it
// fell out of the best 2 x Target of the diversified ranking, or a type that could take
// its place scores more than HysteresisMargin (1.5) points above it; the same margin
// keeps the largest type chosen. One step of the placement score, which AWS's answers
// often move by from one call to the next, or one fresh interruption, never changes the
// list; two do. The price of this is a choice that lags the ranking: a type can stay
// chosen while one slightly better is not, until the gap passes the margin. Acute
// trouble does not wait for the margin: a pool being reclaimed is excluded right away
// by interruption steering.
//
// Fed its own choice as Previous, with nothing else changed, Rank chooses the same
// types again.
package spotrank
