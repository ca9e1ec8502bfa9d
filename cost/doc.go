// Package cost estimates what a cluster costs per month and what its Spot /
// On-Demand split, commitments and scheduled scale-down save, and attributes the cost
// to namespaces and workloads. It is pure: prices come from a PriceBook (the embedded
// catalogue, a file, or live prices the caller fetched), and it reads no clock and
// calls no API. `ballast estimate`, `ballast plan` and the runtime cost controller all
// price through it, so that they agree on the same cluster.
//
// # Model
//
// A month is 730 hours. A node costs its hourly price for every hour it runs: Spot
// nodes the Spot price, On-Demand nodes the On-Demand price except for the share of
// the hour a commitment covers, which costs the commitment's price.
//
//   - Potential (MonthlyPotential): every node priced On-Demand, running all month,
//     with no commitment and no scale-down. The baseline, as vendors define it.
//   - Cost (MonthlyCost): what the nodes actually cost.
//   - Savings (MonthlySavings) = potential - cost, broken down (SavingsBreakdown) into
//     Spot ((On-Demand - Spot price) x the hours Spot nodes run), Commitments
//     ((On-Demand - the covered share's commitment price) x the hours On-Demand nodes
//     run) and ScaleDown (On-Demand price x the node-hours the scheduled scale-down
//     does not run).
//
// For every node, potential = cost + Spot + Commitments + ScaleDown. Reports round
// money to cents once per total and apportion the parts to the rounded totals (largest
// remainder), so that the breakdown adds up to the savings, and the namespaces, the
// workloads and the pools to the cost and savings, exactly to the cent.
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
// Unused applies the same coverage to the nodes running now and says how many more
// On-Demand instances each commitment would cover (the commitments controller sizes
// the committed NodePool with it).
//
// A scheduled scale-down runs only Schedule.MinNodes nodes for Schedule.IdleFraction
// of the month: On-Demand nodes first (they hold the base On-Demand replicas, which
// stay), then Spot nodes, in node order.
//
// # From a cluster
//
// FromCluster turns a cluster's Nodes and Pods (and, optionally, ReplicaSets,
// Deployments and StatefulSets) into a Workload: nodes with their capacity type
// (Karpenter's, EKS managed node groups' or Ballast's label), zone, allocatable CPU,
// memory and GPUs, and the pods bound to them; and the workloads and DaemonSets.
// ReadSnapshot streams a `kubectl get -o yaml` or `-o json` snapshot into the same
// conversion, one object at a time, keeping only the fields it reads; Collector does
// the same for objects listed page by page from a live cluster; the cost controller
// calls FromCluster with the objects of its cache, then Estimate.
//
// # Attribution
//
// Each node's monthly cost (and savings) is shared out to its pods by weight = the
// average of the pod's shares of the node's allocatable CPU and memory, and of its
// GPUs on a node that has GPUs. What no pod requested, 1 - the sum of the weights,
// goes to the Idle entry, so that namespaces add up to the total and unused capacity is
// visible. DaemonSet and static pods are attributed like any pod but are not replicas
// in the Spot share.
//
// # Placement (EstimateForPolicy)
//
// Each workload's replicas are split by its effective distribution (annotation >
// most specific rule > cluster default; base On-Demand first, then the On-Demand
// percentage of the rest rounded up; SpotReady keeps single replicas On-Demand; Spot
// disabled sends all On-Demand). On-Demand replicas fill nodes of the policy's
// Reserved Instance types first (up to the count it may use; GPU replicas only on GPU
// types and the others only on types without GPUs). The other replicas without GPUs
// go first-fit-decreasing onto the one allowed instance type without GPUs per capacity
// type whose packing costs least; replicas requesting NVIDIA GPUs (nvidia.com/gpu),
// workload by workload, onto the allowed type with enough GPUs whose packing costs
// least. GPU replicas no allowed, priced type has room for are left out of the
// estimate with a note, as are workloads requesting accelerators the model does not
// know (amd.com/gpu, AWS Neuron, NVIDIA MIG slices). Nodes offer what Karpenter's AWS
// provider computes as allocatable (see Allocatable), less the DaemonSet pods.
package cost
