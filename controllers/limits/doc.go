// Package limits keeps a cluster's NodePools within the total its ClusterPolicy sets.
//
// Karpenter enforces a limit per NodePool, and Ballast renders several NodePools per
// cluster (Spot, On-Demand, later the committed pool). Copying the total into each
// would let the cluster grow to several times what the user wrote; splitting it
// statically would leave fallback (every replica On-Demand) short. So this controller
// owns spec.limits of the cluster's NodePools (server-side apply, field manager
// ballast-limits; the PolicySource's render never sets them) and keeps, for every
// resource the total names:
//
//	limit(pool) = usage(pool) + share(pool) * (total - usage(all pools))
//
// where usage is the capacity of the pool's NodeClaims (what Karpenter counts), and the
// shares divide the headroom by the CPU that unschedulable pods headed for each pool
// request, or evenly when nothing is pending. The limits add up to the total at all
// times, so however Karpenter's launches across pools interleave, their sum cannot
// pass it. While a NodeClaim of the cluster is still launching (its capacity unknown),
// limits only go down. When pods have waited for StallAfter with headroom left and no
// pool grew (each share too small for a node), the pool with the most demand gets the
// whole headroom, then after each further StallAfter the next pool with demand, until
// something changes. Near the total, a remainder smaller than one
// node may stay unused, as with a single NodePool at its limit.
package limits
