// Package commitments points On-Demand capacity at the cluster's Reserved Instances
// and Savings Plans first.
//
// For the ClusterPolicy of its cluster with commitments enabled, the controller reads
// the commitments (listed in Git, or from Discover for source Discover) and the
// running nodes, computes with cost.Unused how many more On-Demand instances they
// would cover, and server-side applies (field manager ballast-commitments) the
// NodePool ballast-<cluster>-committed: a copy of the rendered On-Demand NodePool's
// template restricted to On-Demand capacity and the committed instance types, with
// render.CommittedWeight (the highest, so Karpenter tries it first) and spec.limits =
// the capacity of its own nodes plus the unused instances' CPU, memory and node
// count. Its consolidation policy is WhenEmpty: Karpenter removes a committed node
// only when nothing runs on it, never to replace it with a cheaper one, which would
// leave the commitment unused. When nothing is unused and no committed node runs, the
// pool is deleted.
//
// A pool of spec.nodePools with commitments: true gets a committed NodePool of its own,
// <pool>-committed (siblings.go): its template narrowed the same way to the reserved
// types its requirements allow, one weight above it, labelled ballast.dev/committed-for.
// The pools take the reservations in policy order before the default supply's pool.
//
// The pools carry the cluster label but not the source label: the PolicySource's
// prune (which deletes only what its inventory lists) and the limits controller
// (which owns spec.limits of rendered pools only) leave it alone, so the cluster's
// total limits do not bound it; the commitment does. The controller owns
// status.commitments and the CommitmentsReady condition of the ClusterPolicy, and
// records an event when the pool is created, deleted or its limits change, and a
// Warning once per failure.
package commitments
