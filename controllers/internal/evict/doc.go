// Package evict is the one way Ballast's runtime controllers remove a pod: through the
// Eviction API with the pod's UID as precondition, so that PodDisruptionBudgets apply
// and a pod replaced under the same name is never touched; never a pod Karpenter must
// not disrupt; every attempt counted in ballast_evictions_total.
package evict
