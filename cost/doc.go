// Package cost estimates what a cluster costs per month and what its Spot /
// On-Demand split and commitments save, and attributes the cost to namespaces and
// workloads. It is pure: prices come from a PriceBook (the embedded catalogue, a file,
// or live prices the caller fetched), and it reads no clock and calls no API.
//
// # Model
//
// A node costs its hourly price for every hour it runs: Spot nodes the Spot price,
// On-Demand nodes the On-Demand price except for the share of the hour a commitment
// covers. A month is 730 hours. The potential cost prices the same node-hours
// On-Demand; savings = potential - actual.
//
// Commitments (ClusterPolicy spec.commitments with source Git; those discovered
// through the AWS API are unknown offline and left out) cover On-Demand node-hours,
// hour by hour, in node order: Reserved Instances first (regional ones size-flexible
// within their family by normalization factor, zonal ones their type only) at the
// Reserved price, then EC2 Instance Savings Plans (their family, Reserved price), then
// Compute Savings Plans (any type, Savings Plan price), each plan spending its hourly
// commitment on the nodes with the largest discount first. The cluster may use
// maxUtilizationPercent of each commitment; what it leaves unused is reported as
// MonthlyUnusedCommitment and not added to its cost (it is paid whoever uses it).
//
// A scheduled scale-down runs only Schedule.MinNodes nodes for Schedule.IdleFraction
// of the month: On-Demand nodes first (they hold the base On-Demand replicas, which
// stay), then Spot nodes, in node order.
//
// # Attribution
//
// Each node's monthly cost (and savings) is shared out to its pods by weight = the
// average of the pod's share of the node's allocatable CPU and of its allocatable
// memory. What no pod requested, 1 - the sum of the weights, goes to the Idle entry,
// so that namespaces add up to the total and unused capacity is visible. DaemonSet
// pods are attributed like any pod but are not replicas in the Spot share.
//
// # Placement (EstimateForPolicy)
//
// Each workload's replicas are split by its effective distribution (annotation >
// most specific rule > cluster default; base On-Demand first, then the On-Demand
// percentage of the rest rounded up; SpotReady keeps single replicas On-Demand; Spot
// disabled sends all On-Demand). On-Demand replicas fill nodes of the policy's
// Reserved Instance types first (up to the count it may use), the rest go
// first-fit-decreasing onto the one allowed instance type per capacity type whose
// packing costs least. Nodes offer what Karpenter's AWS provider computes as
// allocatable (see Allocatable), less the DaemonSet pods.
package cost
