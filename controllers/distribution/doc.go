// Package distribution splits every matched workload's replicas between Spot and
// On-Demand capacity: a base of On-Demand replicas, then a percentage of the rest. A
// mutating webhook places each new pod, and a reconciler evicts surplus replicas of the
// over-represented class until the observed split equals the target.
package distribution
