// Package metrics holds every ballast_* Prometheus collector, registered once on
// controller-runtime's registry (served on the controller's --metrics-addr).
//
// Cardinality is bounded by what Ballast serves: the cluster label has one value per
// controller; namespace and workload labels are only set for opted-in namespaces and
// the workloads in them, and their series are deleted when the workload or namespace
// goes away or leaves the scope; cost attribution keeps at most MaxWorkloadSeries
// workloads (the most costly) and MaxNamespaceSeries namespaces, the rest summed
// into the "(other)" series. Reason, cause, state and capacity-type labels take a
// fixed set of values.
package metrics
