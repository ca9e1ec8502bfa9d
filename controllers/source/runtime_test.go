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
// realised split (from the policy and the cluster's rules) and the fallback state,
// without what changes on every pass, so that it is committed only on a real change.
func TestRuntimeStatusInStatusFile(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	later := metav1.NewTime(now.Add(30 * time.Minute))
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "prod"},
		Spec:       v1alpha1.ClusterPolicySpec{Cluster: v1alpha1.ClusterIdentity{Name: "prod"}},
		Status: v1alpha1.ClusterPolicyStatus{
			Workloads: []v1alpha1.WorkloadPlacement{{Kind: "Deployment", Namespace: "web", Name: "front", Replicas: 4,
				Desired: v1alpha1.PlacementCounts{OnDemand: 1, Spot: 3}, Observed: v1alpha1.PlacementCounts{OnDemand: 3, Spot: 1, Fallback: 2},
				Message: "evicted 1 replicas", LastUpdateTime: &now}},
			Fallback: &v1alpha1.FallbackStatus{State: v1alpha1.FallbackFallenBack, FallenBackSince: &now, NextReturnAttempt: &later,
				LastCapacityFailure: &now, Replicas: 2, Message: "changes every pass",
				Workloads: []v1alpha1.FallbackWorkload{{Kind: "Deployment", Namespace: "web", Name: "front", Replicas: 2}}},
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
	g := &GitReporter{Runtime: c}
	out, err := yaml.Marshal(g.runtimeStatus(context.Background(), "prod"))
	if err != nil {
		t.Fatal(err)
	}
	want := `fallback:
  nextReturnAttempt: "2026-03-01T12:30:00Z"
  replicas: 2
  since: "2026-03-01T12:00:00Z"
  state: FallenBack
  workloads:
  - kind: Deployment
    name: front
    namespace: web
    replicas: 2
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
}
