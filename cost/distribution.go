package cost

import (
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// EffectiveDistribution resolves the split of a workload exactly as the distributor
// does, with the shared model in package split: its annotations win over the most
// specific matching rule of its namespace, which wins over the cluster default.
// Invalid annotations are ignored and listed in Rule.Ignored; the error is an invalid
// rule selector.
func EffectiveDistribution(policy *v1alpha1.ClusterPolicy, rules []*v1alpha1.WorkloadDistributionRule, app *App) (split.Rule, error) {
	return split.Resolve(policy, rules, split.Workload{
		Namespace: app.Namespace, Name: app.Name, Labels: app.Labels, Annotations: app.Annotations,
	})
}

// replicasSplit returns how many of replicas the rule runs On-Demand and on Spot
// (split.Rule.Target, in ints).
func replicasSplit(r split.Rule, replicas int) (onDemand, spot int) {
	if replicas <= 0 {
		return 0, 0
	}
	n := int32(min(replicas, 1<<30)) //nolint:gosec // bounded above
	t := r.Target(n)
	return int(t.OnDemand), int(t.Spot)
}
