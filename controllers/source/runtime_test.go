package source

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
)

// TestRuntimeStatusInStatusFile: the status file carries each workload's desired and
// realised split (from the policy and the cluster's rules), the fallback state, the
// savings, the unused commitment and each commitment's utilisation with the strings
// the status holds, and what bin-packing did, without what changes on every pass
// (messages and observation times but bin-packing's, the cost of each namespace).
func TestRuntimeStatusInStatusFile(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	later := metav1.NewTime(now.Add(30 * time.Minute))
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "prod"},
		Spec: v1alpha1.ClusterPolicySpec{Cluster: v1alpha1.ClusterIdentity{Name: "prod"},
			Commitments: &v1alpha1.CommitmentsSpec{Enabled: true, Source: v1alpha1.CommitmentsFromAWS},
			BinPacking:  v1alpha1.BinPackingSpec{PodEviction: &v1alpha1.PodEvictionSpec{Enabled: true}}},
		Status: v1alpha1.ClusterPolicyStatus{
			Commitments: &v1alpha1.CommitmentsStatus{ObservedTime: later,
				ReservedInstances: []v1alpha1.ReservedInstanceUsage{{InstanceType: "m5.large", Committed: 3, Used: 2, Unused: 1},
					{InstanceType: "c5.large", Zone: "eu-west-1a", Committed: 1, Used: 1}},
				SavingsPlans: []v1alpha1.SavingsPlanUsage{{Type: "EC2Instance", Family: "r6i", CommittedPerHour: "0.5000", UsedPerHour: "0.1250"}}},
			BinPacking: &v1alpha1.BinPackingStatus{LastPass: later, Candidates: []string{"node-3"}, Draining: []string{"node-3"}, Evicted: 2,
				LastEviction: &later, Message: "draining node node-3: evicted 2 pods; kept node-1: covers a commitment"},
			Workloads: []v1alpha1.WorkloadPlacement{{Kind: "Deployment", Namespace: "web", Name: "front", Replicas: 4,
				Desired: v1alpha1.PlacementCounts{OnDemand: 1, Spot: 3}, Observed: v1alpha1.PlacementCounts{OnDemand: 3, Spot: 1, Fallback: 2},
				Message: "evicted 1 replicas", LastUpdateTime: &now}},
			Fallback: &v1alpha1.FallbackStatus{State: v1alpha1.FallbackFallenBack, FallenBackSince: &now, NextReturnAttempt: &later,
				LastCapacityFailure: &now, Replicas: 2, Message: "changes every pass",
				Workloads: []v1alpha1.FallbackWorkload{{Kind: "Deployment", Namespace: "web", Name: "front", Replicas: 2}}},
			Cost: &v1alpha1.CostStatus{ObservedTime: later, Prices: "aws", Nodes: 5, SpotNodes: 3, Replicas: 6, SpotReplicas: 4, SpotPercent: 66,
				MonthlyPotential: "1000.00", MonthlyActual: "640.50", MonthlySavings: "359.50", SpotSavings: "300.00", CommitmentSavings: "59.50",
				MonthlyUnusedCommitment: "12.25",
				Namespaces:              []v1alpha1.CostShare{{Namespace: "web", MonthlyCost: "400.00", MonthlySavings: "200.00"}}},
		},
	}
	other := &v1alpha1.WorkloadDistributionRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "elsewhere"},
		Spec:       v1alpha1.WorkloadDistributionRuleSpec{Clusters: []string{"staging"}},
		Status:     v1alpha1.WorkloadDistributionRuleStatus{Workloads: []v1alpha1.WorkloadPlacement{{Kind: "Deployment", Namespace: "shop", Name: "staging-only"}}},
	}
	rule := &v1alpha1.WorkloadDistributionRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cart"},
		Status: v1alpha1.WorkloadDistributionRuleStatus{Workloads: []v1alpha1.WorkloadPlacement{{Kind: "StatefulSet", Namespace: "shop", Name: "cart", Replicas: 2,
			Desired: v1alpha1.PlacementCounts{OnDemand: 2}, Observed: v1alpha1.PlacementCounts{OnDemand: 2}}}},
	}
	c := fake.NewClientBuilder().WithScheme(controlplane.Scheme).WithObjects(policy, rule, other).Build()
	out, err := yaml.Marshal(runtimeStatus(context.Background(), c, "prod"))
	if err != nil {
		t.Fatal(err)
	}
	want := `binPacking:
  draining:
  - node-3
  evicted: 2
  lastEviction: "2026-03-01T12:30:00Z"
  lastPass: "2026-03-01T12:30:00Z"
  message: 'draining node node-3: evicted 2 pods; kept node-1: covers a commitment'
commitments:
  monthlyUnused: "12.25"
  reservedInstances:
  - committed: 3
    instanceType: m5.large
    unused: 1
    used: 2
  - committed: 1
    instanceType: c5.large
    unused: 0
    used: 1
    zone: eu-west-1a
  savingsPlans:
  - committedPerHour: "0.5000"
    family: r6i
    type: EC2Instance
    unusedPerHour: "0.3750"
    usedPerHour: "0.1250"
fallback:
  nextReturnAttempt: "2026-03-01T12:30:00Z"
  replicas: 2
  since: "2026-03-01T12:00:00Z"
  state: FallenBack
  workloads:
  - kind: Deployment
    name: front
    namespace: web
    replicas: 2
savings:
  commitmentSavings: "59.50"
  monthlyActual: "640.50"
  monthlyPotential: "1000.00"
  monthlySavings: "359.50"
  nodes: 5
  prices: aws
  replicas: 6
  spotNodes: 3
  spotPercent: 66
  spotReplicas: 4
  spotSavings: "300.00"
workloads:
- desired:
    onDemand: 2
    spot: 0
  kind: StatefulSet
  name: cart
  namespace: shop
  observed:
    onDemand: 2
    spot: 0
  replicas: 2
- desired:
    onDemand: 1
    spot: 3
  kind: Deployment
  name: front
  namespace: web
  observed:
    fallback: 2
    onDemand: 3
    spot: 1
  replicas: 4
`
	if string(out) != want {
		t.Errorf("runtime status:\n%s\nwant:\n%s", out, want)
	}
	if strings.Contains(string(out), "staging-only") {
		t.Error("a rule of another cluster is in the status file")
	}

	// Commitments and podEviction disabled: what their status still holds from before
	// is left out.
	policy.Spec.Commitments.Enabled, policy.Spec.BinPacking.PodEviction.Enabled = false, false
	c = fake.NewClientBuilder().WithScheme(controlplane.Scheme).WithObjects(policy).Build()
	rs := runtimeStatus(context.Background(), c, "prod")
	if rs.BinPacking != nil || rs.Commitments == nil || rs.Commitments.ReservedInstances != nil || rs.Commitments.SavingsPlans != nil ||
		rs.Commitments.MonthlyUnused != "12.25" {
		t.Errorf("disabled: bin-packing %+v, commitments %+v", rs.BinPacking, rs.Commitments)
	}
}
