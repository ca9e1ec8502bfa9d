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
	var list v1alpha1.ClusterPolicyList
	if err := c.List(ctx, &list); err != nil {
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
	var list v1alpha1.WorkloadDistributionRuleList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	out := make([]*v1alpha1.WorkloadDistributionRule, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}
