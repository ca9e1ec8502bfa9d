// Package e2e holds the end-to-end suites that run against a whole cluster on one
// machine (localcluster): real API server, controller-manager, scheduler, kwok nodes and
// Karpenter with its kwok cloud provider.
package e2e
