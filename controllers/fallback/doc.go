// Package fallback keeps Spot replicas from waiting for Spot capacity that cannot be
// had, and brings them back once it can.
//
// Detection reads Karpenter's own signals: Ballast-placed Spot replicas that stay
// unschedulable after Karpenter reported insufficient capacity for them (its
// InsufficientCapacityError events on the pods and on the NodeClaims of Ballast's Spot
// NodePools). A shortage of one zone or instance family never gets that far: Karpenter
// moves to other Spot offerings by itself and the replicas schedule. When replicas have
// waited spot.fallback.after, the cluster falls back: the webhook places replicas meant
// for Spot On-Demand (reason fallback; they still count as Spot in the split), and the
// controller replaces the Spot replicas still Pending (never a Running pod), so their
// controllers recreate them and the webhook places them On-Demand.
//
// Every spot.fallback.reverseInterval, inside maintenance windows that allow
// ReverseFallback when there are such windows, and when no capacity failure happened
// recently (and, where AWS is configured, the Spot placement score is good), the return
// starts: a bounded number of fallback replicas at a time are evicted (PodDisruption
// Budgets and karpenter.sh/do-not-disrupt respected) and come back on Spot; the next
// batch waits until the last one is scheduled. With commitments enabled, replicas on
// nodes that cover a commitment go last, and such a node keeps its last workload pod
// (reverse.go): emptied, Karpenter would remove it and the commitment would go unused,
// while the replica runs there prepaid. Those kept do not hold up the end of the
// return; once a kept replica's node no longer covers a commitment it returns too. When the returning replicas find Spot
// short again, the cluster falls back at once and the next attempt waits twice as long
// as the last (the backoff, in status), so a flapping Spot market never turns into a
// loop of evictions.
//
// The state lives in the ClusterPolicy's status.fallback (server-side apply, field
// manager ballast-fallback), where the webhook reads it from its cache and where it
// survives restarts.
package fallback
