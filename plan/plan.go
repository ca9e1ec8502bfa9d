package plan

import (
	"github.com/ballast-dev/ballast/policies"
)

// ScenarioAnnotation on a ClusterPolicy names the file describing the cluster's
// workload for cost estimates (a cost scenario or a snapshot of nodes and pods),
// relative to the directory of the ClusterPolicy's file and inside the repository.
// `ballast plan` prices that workload under the base's and the head's policy.
const ScenarioAnnotation = "ballast.dev/cost-scenario"

// Plan is everything a plan reports about a policy change.
type Plan struct {
	// Base and Head name the two revisions for people, e.g. "main (1a2b3c4)". Base is
	// empty when there is no base: the plan then shows the head alone.
	Base, Head string
	// Clusters are the clusters with a ClusterPolicy at the base or at the head, sorted
	// by name.
	Clusters []Cluster
	// Changes are the rendered objects that differ (see Diff).
	Changes []Change
	// Findings are the validation findings at the head.
	Findings policies.Findings
	// Notes are short remarks shown under the table, e.g. why there is no diff.
	Notes []string
	// Footer ends the plan in small print, e.g. the Ballast version.
	Footer string
	// Prices names the prices the cost estimates used (cost.Report.Prices).
	Prices string
}

// Cluster is one cluster's part of the plan.
type Cluster struct {
	Name string
	// InBase and InHead say whether the cluster has a ClusterPolicy at each revision.
	InBase, InHead bool
	// Before and After are the cost estimates under the base's and the head's policy;
	// nil when not estimated.
	Before, After *Cost
	// CostSource says what workload the estimates are for, e.g. the scenario file.
	CostSource string
	// CostNote explains a missing estimate, or qualifies one.
	CostNote string
	// SpotPools is what the two Spot strategies make of the cluster's Spot supply
	// under the head's policy; nil when not shown (Spot disabled, no valid head).
	SpotPools *SpotPools
}

// SpotPools shows what each Spot strategy makes of a cluster's Spot supply (the
// spotrank package): the policy's strategy and the other, side by side.
type SpotPools struct {
	// Strategy is the policy's strategy, CostOptimized or LeastInterrupted.
	Strategy string
	// Supply is how many instance types the policy allows for Spot, of those the
	// price catalogue knows.
	Supply int
	// Cheapest are the first types of the supply by Spot price per vCPU:
	// CostOptimized's NodePool offers every type of the supply, and Karpenter buys
	// these first.
	Cheapest []SpotPool
	// Chosen are the only types LeastInterrupted's NodePool offers, best first.
	Chosen []SpotPool
	// PerFamily is the most types of one instance family in Chosen when the supply
	// has enough families.
	PerFamily int
	// Note says where the placement scores and interruption history came from, or
	// that they are unknown.
	Note string
}

// SpotPool is one instance type of a cluster's Spot supply.
type SpotPool struct {
	InstanceType string
	// Placement is the Spot placement score, 1 to 10; 0 when unknown.
	Placement int32
	// PricePerVCPU is the Spot price per vCPU-hour in US dollars; 0 when unknown.
	PricePerVCPU float64
}

// Cost is a cluster's estimated monthly cost under one revision's policy.
type Cost struct {
	// Monthly is what the nodes cost per month, in US dollars.
	Monthly float64
	// Potential is what the same nodes would cost On-Demand, every one running all
	// month, without commitments or scale-down.
	Potential float64
	// Savings is Potential - Monthly.
	Savings float64
	// SpotShare is the fraction (0-1) of the workload's replicas on Spot (of the nodes,
	// for a workload of bare nodes).
	SpotShare float64
	// Nodes is the number of nodes.
	Nodes int
}
