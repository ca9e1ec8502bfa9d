package readiness

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

func TestPolicyReady(t *testing.T) {
	enabledCommitments := v1alpha1.ClusterPolicySpec{Commitments: &v1alpha1.CommitmentsSpec{Enabled: true, Source: v1alpha1.CommitmentsFromAWS}}
	for _, tc := range []struct {
		name       string
		spec       v1alpha1.ClusterPolicySpec
		status     v1alpha1.ClusterPolicyStatus
		want       metav1.ConditionStatus
		reason     string
		msgContain []string
	}{
		{name: "nothing reported yet", want: metav1.ConditionTrue, reason: ServingReason, msgContain: []string{"served"}},
		{
			name: "pricing fails",
			status: v1alpha1.ClusterPolicyStatus{Conditions: []metav1.Condition{
				{Type: costReported, Status: metav1.ConditionFalse, Reason: "PricingFailed", Message: "cannot price the nodes: boom"}}},
			want: metav1.ConditionFalse, reason: PricingFailedReason, msgContain: []string{"boom"},
		},
		{
			name: "fallen back is still ready, and says so",
			status: v1alpha1.ClusterPolicyStatus{
				Fallback: &v1alpha1.FallbackStatus{State: v1alpha1.FallbackFallenBack, Replicas: 4},
				Cost:     &v1alpha1.CostStatus{Replicas: 10, SpotPercent: 40, MonthlyActual: "100.00", MonthlySavings: "50.00"},
				Workloads: []v1alpha1.WorkloadPlacement{
					{Desired: v1alpha1.PlacementCounts{OnDemand: 1, Spot: 3}, Observed: v1alpha1.PlacementCounts{OnDemand: 3, Spot: 1, Fallback: 2}},
					{Desired: v1alpha1.PlacementCounts{OnDemand: 1, Spot: 1}, Observed: v1alpha1.PlacementCounts{OnDemand: 2}},
				},
			},
			want: metav1.ConditionTrue, reason: ServingReason,
			msgContain: []string{"4 replicas fell back", "40% of 10 replicas on Spot", "saving $50.00/month"},
		},
		{
			name: "commitments cannot be read: not ready, with their reason",
			spec: enabledCommitments,
			status: v1alpha1.ClusterPolicyStatus{Conditions: []metav1.Condition{{Type: commitmentsReady, Status: metav1.ConditionFalse,
				Reason: "DiscoveryFailed", Message: "cannot discover the commitments: AccessDenied"}}},
			want: metav1.ConditionFalse, reason: "DiscoveryFailed", msgContain: []string{"commitments: cannot discover", "AccessDenied"},
		},
		{
			name: "commitments applied: ready",
			spec: enabledCommitments,
			status: v1alpha1.ClusterPolicyStatus{Conditions: []metav1.Condition{{Type: commitmentsReady, Status: metav1.ConditionTrue,
				Reason: "Applied", Message: "committed NodePool allows m5.large"}}},
			want: metav1.ConditionTrue, reason: ServingReason,
		},
		{
			name: "commitments disabled: a condition left from before does not count",
			status: v1alpha1.ClusterPolicyStatus{Conditions: []metav1.Condition{{Type: commitmentsReady, Status: metav1.ConditionFalse,
				Reason: "DiscoveryFailed", Message: "old"}}},
			want: metav1.ConditionTrue, reason: ServingReason,
		},
		{
			name: "the webhook does not place pods: evictions paused",
			status: v1alpha1.ClusterPolicyStatus{Conditions: []metav1.Condition{{Type: webhookPlacing, Status: metav1.ConditionFalse,
				Reason: "WebhookNotPlacing", Message: "evictions paused for 5m0s"}}},
			want: metav1.ConditionFalse, reason: "WebhookNotPlacing", msgContain: []string{"evictions paused"},
		},
		{
			name: "the webhook places pods again",
			status: v1alpha1.ClusterPolicyStatus{Conditions: []metav1.Condition{{Type: webhookPlacing, Status: metav1.ConditionTrue,
				Reason: "WebhookPlacing", Message: "evictions resume"}}},
			want: metav1.ConditionTrue, reason: ServingReason,
		},
		{
			name: "pricing fails and commitments too: pricing first",
			spec: enabledCommitments,
			status: v1alpha1.ClusterPolicyStatus{Conditions: []metav1.Condition{
				{Type: commitmentsReady, Status: metav1.ConditionFalse, Reason: "DiscoveryFailed", Message: "AccessDenied"},
				{Type: costReported, Status: metav1.ConditionFalse, Reason: "PricingFailed", Message: "boom"}}},
			want: metav1.ConditionFalse, reason: PricingFailedReason, msgContain: []string{"boom"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, reason, msg := PolicyReady(&v1alpha1.ClusterPolicy{Spec: tc.spec, Status: tc.status})
			if s != tc.want || reason != tc.reason {
				t.Fatalf("Ready = %s/%s (%s), want %s/%s", s, reason, msg, tc.want, tc.reason)
			}
			for _, m := range tc.msgContain {
				if !strings.Contains(msg, m) {
					t.Errorf("message %q lacks %q", msg, m)
				}
			}
		})
	}
}

func TestRuleReady(t *testing.T) {
	s, _, msg := RuleReady(&v1alpha1.WorkloadDistributionRule{})
	if s != metav1.ConditionTrue || !strings.Contains(msg, "no workload") {
		t.Fatalf("empty rule: %s %q", s, msg)
	}
	r := &v1alpha1.WorkloadDistributionRule{Status: v1alpha1.WorkloadDistributionRuleStatus{Workloads: []v1alpha1.WorkloadPlacement{
		{Desired: v1alpha1.PlacementCounts{OnDemand: 2, Spot: 2}, Observed: v1alpha1.PlacementCounts{OnDemand: 2, Spot: 2}},
	}}}
	if _, _, msg := RuleReady(r); msg != "governs 1 workload(s)" {
		t.Fatalf("message %q", msg)
	}
}
