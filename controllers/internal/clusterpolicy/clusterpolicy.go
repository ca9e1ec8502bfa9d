// Package clusterpolicy reads what every runtime controller reads first: the
// ClusterPolicy of the cluster the controller serves, and the rules of a namespace.
package clusterpolicy

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// For returns the ClusterPolicy whose spec.cluster.name is cluster, or nil when there
// is none.
func For(ctx context.Context, c client.Reader, cluster string) (*v1alpha1.ClusterPolicy, error) {
	return find(ctx, c, cluster)
}

// ForReading is For without copies when c reads from the manager's cache: the
// policy's lists and maps are the cache's own, for a caller that only reads it (the
// admission webhook, which reads the policy for every pod). A policy's status lists up
// to 350 workloads; a copy of it for each admission is most of what the answer
// allocates.
func ForReading(ctx context.Context, c client.Reader, cluster string) (*v1alpha1.ClusterPolicy, error) {
	return find(ctx, c, cluster, client.UnsafeDisableDeepCopy)
}

func find(ctx context.Context, c client.Reader, cluster string, opts ...client.ListOption) (*v1alpha1.ClusterPolicy, error) {
	var list v1alpha1.ClusterPolicyList
	if err := c.List(ctx, &list, opts...); err != nil {
		return nil, err
	}
	for i := range list.Items {
		if list.Items[i].Spec.Cluster.Name == cluster {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

// Rules returns the WorkloadDistributionRules of a namespace.
func Rules(ctx context.Context, c client.Reader, namespace string) ([]*v1alpha1.WorkloadDistributionRule, error) {
	return rules(ctx, c, client.InNamespace(namespace))
}

// RulesForReading is Rules without copies when c reads from the manager's cache, for
// a caller that only reads them (see ForReading).
func RulesForReading(ctx context.Context, c client.Reader, namespace string) ([]*v1alpha1.WorkloadDistributionRule, error) {
	return rules(ctx, c, client.InNamespace(namespace), client.UnsafeDisableDeepCopy)
}

func rules(ctx context.Context, c client.Reader, opts ...client.ListOption) ([]*v1alpha1.WorkloadDistributionRule, error) {
	var list v1alpha1.WorkloadDistributionRuleList
	if err := c.List(ctx, &list, opts...); err != nil {
		return nil, err
	}
	out := make([]*v1alpha1.WorkloadDistributionRule, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}
