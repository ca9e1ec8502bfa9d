package distribution

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ballast-dev/ballast/metrics"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// recordSplit sets the workload's desired and observed split series.
func (r *Reconciler) recordSplit(w *Workload, observed v1alpha1.PlacementCounts, target split.Counts) {
	set := func(capacity, which string, n int32) {
		metrics.WorkloadReplicas.WithLabelValues(w.Namespace, w.Kind, w.Name, capacity, which).Set(float64(n))
	}
	set(v1alpha1.CapacityOnDemand, "desired", target.OnDemand)
	set(v1alpha1.CapacitySpot, "desired", target.Spot)
	set(v1alpha1.CapacityOnDemand, "observed", observed.OnDemand)
	set(v1alpha1.CapacitySpot, "observed", observed.Spot)
	// Fallback replicas count as Spot in the split: they are not drift.
	drift := observed.OnDemand - observed.Fallback - target.OnDemand
	metrics.WorkloadDrift.WithLabelValues(w.Namespace, w.Kind, w.Name).Set(float64(max(drift, -drift)))
}

// forgetSplit deletes the series of a workload that is gone or out of scope.
func forgetSplit(kind, namespace, name string) {
	labels := prometheus.Labels{"namespace": namespace, "kind": kind, "workload": name}
	metrics.WorkloadReplicas.DeletePartialMatch(labels)
	metrics.WorkloadDrift.DeletePartialMatch(labels)
}
