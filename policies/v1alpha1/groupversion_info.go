package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every Ballast API object.
	GroupVersion = schema.GroupVersion{Group: "ballast.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the Ballast kinds with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the Ballast kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kind names, as they appear in policy documents.
const (
	ClusterPolicyKind            = "ClusterPolicy"
	WorkloadDistributionRuleKind = "WorkloadDistributionRule"
	PolicySourceKind             = "PolicySource"
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&ClusterPolicy{}, &ClusterPolicyList{},
		&WorkloadDistributionRule{}, &WorkloadDistributionRuleList{},
		&PolicySource{}, &PolicySourceList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
