package distribution

import (
	"github.com/ballast-dev/ballast/metrics"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// recordSplit sets the workload's desired and observed split series.
func (r *Reconciler) recordSplit(w *Workload, observed v1alpha1.PlacementCounts, target split.Counts) {
	// Fallback replicas count as Spot in the split: they are not drift.
	drift := observed.OnDemand - observed.Fallback - target.OnDemand
	metrics.WorkloadSplits.Set(w.Namespace, w.Kind, w.Name, metrics.WorkloadSplit{
		DesiredOnDemand: target.OnDemand, DesiredSpot: target.Spot,
		ObservedOnDemand: observed.OnDemand, ObservedSpot: observed.Spot,
		Drift: max(drift, -drift),
	})
}

// forgetSplit deletes the series of a workload that is gone or out of scope.
func forgetSplit(kind, namespace, name string) {
	metrics.WorkloadSplits.Delete(namespace, kind, name)
}
