// Package readiness sums up what the runtime controllers report on a ClusterPolicy
// and its WorkloadDistributionRules into the kstatus Ready condition and
// status.observedGeneration, which `kubectl get`, kstatus, Flux and Argo CD read. It
// owns only those two fields; the conditions it reads (SpotAvailable, CostReported,
// CommitmentsReady) belong to the fallback, cost and commitments controllers.
package readiness
