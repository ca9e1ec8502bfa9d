package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkloadDistributionRuleSpec overrides the cluster's default distribution for the
// workloads of its namespace, optionally narrowed by a label selector.
type WorkloadDistributionRuleSpec struct {
	// Clusters the rule applies to, by ClusterPolicy cluster name; every cluster of the
	// policy repository when empty.
	// +kubebuilder:validation:MaxItems=50
	// +optional
	Clusters []string `json:"clusters,omitempty"`

	// WorkloadSelector narrows the rule to workloads (Deployments, StatefulSets) with
	// these labels; every workload of the namespace when empty. A rule with more
	// selector requirements is more specific and wins.
	// +optional
	WorkloadSelector *metav1.LabelSelector `json:"workloadSelector,omitempty"`

	// Strategy overrides the cluster's Spot strategy for placement.
	// +optional
	Strategy Strategy `json:"strategy,omitempty"`

	DistributionSpec `json:",inline"`
}

// WorkloadDistributionRuleStatus is what the distributor observed for the rule.
type WorkloadDistributionRuleStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions of the rule.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Workloads lists the split of the workloads this rule governs (at most 200).
	// +kubebuilder:validation:MaxItems=200
	// +optional
	Workloads []WorkloadPlacement `json:"workloads,omitempty"`
}

// WorkloadDistributionRule sets the Spot / On-Demand split of the workloads in its
// namespace.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=wdr,categories=ballast
// +kubebuilder:printcolumn:name="On-Demand %",type=integer,JSONPath=`.spec.onDemandPercent`
// +kubebuilder:printcolumn:name="Base",type=integer,JSONPath=`.spec.baseOnDemand`
// +kubebuilder:printcolumn:name="Strategy",type=string,JSONPath=`.spec.strategy`
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.spec.selector`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type WorkloadDistributionRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec WorkloadDistributionRuleSpec `json:"spec"`
	// +optional
	Status WorkloadDistributionRuleStatus `json:"status,omitempty"`
}

// WorkloadDistributionRuleList is a list of WorkloadDistributionRule.
// +kubebuilder:object:root=true
type WorkloadDistributionRuleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []WorkloadDistributionRule `json:"items"`
}
