// Package v1alpha1 holds the ballast.dev/v1alpha1 API: the policy documents platform
// teams keep in Git (ClusterPolicy, WorkloadDistributionRule) and the PolicySource that
// tells the controller where to find them.
//
// +kubebuilder:object:generate=true
// +groupName=ballast.dev
package v1alpha1
