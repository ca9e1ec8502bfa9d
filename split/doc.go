// Package split is Ballast's one model of the Spot / On-Demand split: which rule
// governs a workload (workload annotations > most specific namespaced rule > cluster
// default), how many of its replicas run On-Demand and on Spot, and where the next
// replica goes. The admission webhook, the drift reconciler, the validator and the
// cost estimate all use it, so that what `ballast estimate` plans is what the cluster
// does. It is pure: no client, no clock.
package split
