package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every Ballast API object.
	GroupVersion = schema.GroupVersion{Group: "ballast.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the Ballast kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the Ballast kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kind names, as they appear in policy documents.
const (
	ClusterPolicyKind            = "ClusterPolicy"
	WorkloadDistributionRuleKind = "WorkloadDistributionRule"
	PolicySourceKind             = "PolicySource"
)
