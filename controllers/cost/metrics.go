package cost

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/metrics"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// series remembers the attribution label sets set last time, so that those of
// namespaces and workloads that are gone are deleted.
type series struct {
	namespaces map[string]bool
	workloads  map[[2]string]bool
}

// record sets the cluster's cost series from the report.
func (s *series) record(cluster string, r *cost.Report) {
	metrics.CostPotential.WithLabelValues(cluster).Set(r.MonthlyPotential)
	metrics.CostActual.WithLabelValues(cluster).Set(r.MonthlyCost)
	metrics.CostSavings.WithLabelValues(cluster, "spot").Set(r.Savings.Spot)
	metrics.CostSavings.WithLabelValues(cluster, "commitments").Set(r.Savings.Commitments)
	metrics.UnusedCommitment.WithLabelValues(cluster).Set(r.MonthlyUnusedCommitment)
	metrics.Nodes.WithLabelValues(cluster, v1alpha1.CapacitySpot).Set(float64(r.SpotNodes))
	metrics.Nodes.WithLabelValues(cluster, v1alpha1.CapacityOnDemand).Set(float64(r.Nodes - r.SpotNodes))
	share := 0.0
	if r.Replicas > 0 {
		share = float64(r.SpotReplicas) / float64(r.Replicas)
	}
	metrics.SpotShare.WithLabelValues(cluster).Set(share)

	namespaces := map[string]bool{}
	other := [2]float64{}
	for i, a := range r.Namespaces {
		if i >= metrics.MaxNamespaceSeries {
			other[0] += a.MonthlyCost
			other[1] += a.MonthlySavings
			continue
		}
		namespaces[a.Namespace] = true
		metrics.NamespaceCost.WithLabelValues(cluster, a.Namespace).Set(a.MonthlyCost)
		metrics.NamespaceSavings.WithLabelValues(cluster, a.Namespace).Set(a.MonthlySavings)
	}
	if len(r.Namespaces) > metrics.MaxNamespaceSeries {
		namespaces[metrics.Other] = true
		metrics.NamespaceCost.WithLabelValues(cluster, metrics.Other).Set(other[0])
		metrics.NamespaceSavings.WithLabelValues(cluster, metrics.Other).Set(other[1])
	}
	workloads := map[[2]string]bool{}
	other = [2]float64{}
	for i, a := range r.Workloads {
		if i >= metrics.MaxWorkloadSeries {
			other[0] += a.MonthlyCost
			other[1] += a.MonthlySavings
			continue
		}
		workloads[[2]string{a.Namespace, a.Workload}] = true
		metrics.WorkloadCost.WithLabelValues(cluster, a.Namespace, a.Workload).Set(a.MonthlyCost)
		metrics.WorkloadSavings.WithLabelValues(cluster, a.Namespace, a.Workload).Set(a.MonthlySavings)
	}
	if len(r.Workloads) > metrics.MaxWorkloadSeries {
		k := [2]string{metrics.Other, metrics.Other}
		workloads[k] = true
		metrics.WorkloadCost.WithLabelValues(cluster, k[0], k[1]).Set(other[0])
		metrics.WorkloadSavings.WithLabelValues(cluster, k[0], k[1]).Set(other[1])
	}
	for ns := range s.namespaces {
		if !namespaces[ns] {
			metrics.NamespaceCost.DeleteLabelValues(cluster, ns)
			metrics.NamespaceSavings.DeleteLabelValues(cluster, ns)
		}
	}
	for k := range s.workloads {
		if !workloads[k] {
			metrics.WorkloadCost.DeleteLabelValues(cluster, k[0], k[1])
			metrics.WorkloadSavings.DeleteLabelValues(cluster, k[0], k[1])
		}
	}
	s.namespaces, s.workloads = namespaces, workloads
}

// forget deletes every cost series of the cluster (its policy is gone).
func (s *series) forget(cluster string) {
	labels := prometheus.Labels{"cluster": cluster}
	for _, v := range []*prometheus.GaugeVec{metrics.CostPotential, metrics.CostActual, metrics.CostSavings, metrics.UnusedCommitment,
		metrics.Nodes, metrics.SpotShare, metrics.NamespaceCost, metrics.NamespaceSavings, metrics.WorkloadCost, metrics.WorkloadSavings} {
		v.DeletePartialMatch(labels)
	}
	s.namespaces, s.workloads = nil, nil
}
