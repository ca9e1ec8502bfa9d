// Package binpacking empties underused Ballast-managed nodes (binPacking.podEviction):
// a node whose requested CPU and memory stay below the policy's thresholds for a
// stable period is drained, through the shared evictor, once a simulation shows that
// every pod it runs fits on the other nodes; Karpenter then removes the empty node.
// A node that covers a commitment is never emptied (commitments.go).
//
// plan.go is pure (candidates and the fit simulation, table-tested); controller.go
// observes, taints, evicts and reports in status.binPacking.
package binpacking
