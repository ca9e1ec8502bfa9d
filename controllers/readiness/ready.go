package readiness

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/controllers/internal/placement"
	"github.com/ballast-dev/ballast/controllers/internal/status"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// ReadyCondition is the kstatus summary condition.
const ReadyCondition = "Ready"

// Reasons of Ready.
const (
	// ServingReason: the runtime serves the object and no runtime step fails.
	ServingReason = "Serving"
	// PricingFailedReason: the cost controller cannot price the cluster.
	PricingFailedReason = "PricingFailed"
)

// Conditions of the other controllers that Ready reads.
const (
	costReported     = "CostReported"
	spotAvailable    = "SpotAvailable"
	commitmentsReady = "CommitmentsReady"
	webhookPlacing   = placement.Condition
)

// PolicyReady sums up a ClusterPolicy: Ready is False while a runtime step fails
// (pricing; Ballast's webhook not placing pods, WebhookPlacing False, whose reason
// Ready takes: evictions are paused; with commitments enabled, the committed NodePool: CommitmentsReady False,
// whose reason Ready takes, e.g. DiscoveryFailed), True otherwise; the message says
// where Spot and the savings stand. Falling back to On-Demand is Ballast working:
// Ready stays True and the message says so. The message leaves out what moves with
// every pod (each workload's split is in status.workloads), so that Ready is not
// rewritten at each placement. Bin-packing has no condition: what it did and what
// blocks it is in status.binPacking and events, and a node it keeps is no failure.
func PolicyReady(p *v1alpha1.ClusterPolicy) (metav1.ConditionStatus, string, string) {
	if c := status.Find(p.Status.Conditions, costReported); c != nil && c.Status == metav1.ConditionFalse {
		return metav1.ConditionFalse, PricingFailedReason, c.Message
	}
	if c := status.Find(p.Status.Conditions, webhookPlacing); c != nil && c.Status == metav1.ConditionFalse {
		return metav1.ConditionFalse, c.Reason, c.Message
	}
	if c := status.Find(p.Status.Conditions, commitmentsReady); c != nil && c.Status == metav1.ConditionFalse &&
		p.Spec.Commitments != nil && p.Spec.Commitments.Enabled {
		return metav1.ConditionFalse, c.Reason, "commitments: " + c.Message
	}
	var parts []string
	if f := p.Status.Fallback; f != nil {
		switch f.State {
		case v1alpha1.FallbackAvailable:
			parts = append(parts, "Spot available")
		case v1alpha1.FallbackFallenBack:
			parts = append(parts, fmt.Sprintf("Spot short: %d replicas fell back to On-Demand", f.Replicas))
		default:
			parts = append(parts, "Spot "+string(f.State))
		}
	}
	if c := p.Status.Cost; c != nil {
		if c.Replicas > 0 {
			parts = append(parts, fmt.Sprintf("%d%% of %d replicas on Spot", c.SpotPercent, c.Replicas))
		}
		parts = append(parts, fmt.Sprintf("$%s/month, saving $%s/month against all On-Demand", c.MonthlyActual, c.MonthlySavings))
	}
	if len(parts) == 0 {
		return metav1.ConditionTrue, ServingReason, "served by the Ballast runtime"
	}
	return metav1.ConditionTrue, ServingReason, strings.Join(parts, "; ")
}

// RuleReady sums up a WorkloadDistributionRule: True once the runtime serves it, with
// how many workloads it governs (their splits are in status.workloads).
func RuleReady(r *v1alpha1.WorkloadDistributionRule) (metav1.ConditionStatus, string, string) {
	if n := len(r.Status.Workloads); n > 0 {
		return metav1.ConditionTrue, ServingReason, fmt.Sprintf("governs %d workload(s)", n)
	}
	return metav1.ConditionTrue, ServingReason, "governs no workload yet"
}
