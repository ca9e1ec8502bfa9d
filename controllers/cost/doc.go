// Package cost is the runtime cost controller: it prices every node of the cluster
// (On-Demand list price, Spot price, commitment coverage) with the same cost package
// `ballast estimate` uses, and reports potential (all On-Demand), actual and savings,
// attributed to namespaces and workloads, in the ClusterPolicy's status.cost, its
// CostReported condition and the ballast_cost_* metrics.
package cost
