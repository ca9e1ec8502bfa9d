package cost

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// CostReportedCondition on the ClusterPolicy says whether the nodes could be priced;
// the cost controller owns it and status.cost.
const CostReportedCondition = "CostReported"

// Reasons of CostReported.
const (
	// PricedReason: every node was priced.
	PricedReason = "Priced"
	// PartlyPricedReason: some nodes have no price and are left out of the figures.
	PartlyPricedReason = "PartlyPriced"
	// PricingFailedReason: no figures could be computed.
	PricingFailedReason = "PricingFailed"
	// NoNodesReason: the cluster has no nodes to price.
	NoNodesReason = "NoNodes"
)

// Bounds of the attribution lists in status.cost.
const (
	maxStatusNamespaces = 20
	maxStatusWorkloads  = 50
)

// usd formats money the way status.cost holds it.
func usd(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) }

// statusOf turns a report into status.cost.
func statusOf(r *cost.Report, prices string, now time.Time) v1alpha1.CostStatus {
	s := v1alpha1.CostStatus{
		ObservedTime: metav1.NewTime(now.Truncate(time.Second)), Prices: prices,
		Nodes: int32(r.Nodes), SpotNodes: int32(r.SpotNodes), //nolint:gosec // node counts
		Replicas: int32(r.Replicas), SpotReplicas: int32(r.SpotReplicas), //nolint:gosec // pod counts
		MonthlyPotential: usd(r.MonthlyPotential), MonthlyActual: usd(r.MonthlyCost), MonthlySavings: usd(r.MonthlySavings),
		SpotSavings: usd(r.Savings.Spot), CommitmentSavings: usd(r.Savings.Commitments),
	}
	if r.Replicas > 0 {
		s.SpotPercent = int32(r.SpotReplicas * 100 / r.Replicas) //nolint:gosec // a percentage
	}
	if r.MonthlyUnusedCommitment > 0 {
		s.MonthlyUnusedCommitment = usd(r.MonthlyUnusedCommitment)
	}
	for _, a := range r.Namespaces[:min(len(r.Namespaces), maxStatusNamespaces)] {
		s.Namespaces = append(s.Namespaces, v1alpha1.CostShare{Namespace: a.Namespace, MonthlyCost: usd(a.MonthlyCost), MonthlySavings: usd(a.MonthlySavings)})
	}
	for _, a := range r.Workloads[:min(len(r.Workloads), maxStatusWorkloads)] {
		s.Workloads = append(s.Workloads, v1alpha1.CostShare{Namespace: a.Namespace, Workload: a.Workload, MonthlyCost: usd(a.MonthlyCost), MonthlySavings: usd(a.MonthlySavings)})
	}
	return s
}

// sameFigures reports whether two statuses hold the same figures (observedTime aside):
// the status is written only when they differ, so a steady cluster is not rewritten.
func sameFigures(a *v1alpha1.CostStatus, b v1alpha1.CostStatus) bool {
	if a == nil {
		return false
	}
	x := a.DeepCopy()
	x.ObservedTime = b.ObservedTime
	return equalJSON(x, &b)
}

// condition says how the pass went.
func condition(nodes, unpriced int, prices string, r *cost.Report, err, liveErr error) (metav1.ConditionStatus, string, string) {
	switch {
	case err != nil:
		return metav1.ConditionFalse, PricingFailedReason, "cannot price the nodes: " + err.Error()
	case nodes == 0:
		return metav1.ConditionTrue, NoNodesReason, "the cluster has no nodes to price"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d nodes priced (%s prices): $%s/month, $%s/month less than all On-Demand", r.Nodes, prices, usd(r.MonthlyCost), usd(r.MonthlySavings))
	if liveErr != nil {
		fmt.Fprintf(&b, "; %v", liveErr)
	}
	if unpriced > 0 {
		fmt.Fprintf(&b, "; %d nodes of instance types without a price are left out (add them with --prices)", unpriced)
		return metav1.ConditionTrue, PartlyPricedReason, b.String()
	}
	return metav1.ConditionTrue, PricedReason, b.String()
}
