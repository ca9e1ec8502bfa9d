package commitments

import (
	"errors"
	"math"
	"strconv"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/controllers/internal/coverage"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// ReadyCondition on the ClusterPolicy says whether the committed NodePool follows the
// commitments; the commitments controller owns it and status.commitments.
const ReadyCondition = "CommitmentsReady"

// Reasons of CommitmentsReady.
const (
	// AppliedReason: the committed pool matches the commitments and the nodes.
	AppliedReason = "Applied"
	// DiscoveryNotConfiguredReason: source Discover, but no discovery is wired in.
	DiscoveryNotConfiguredReason = "DiscoveryNotConfigured"
	// DiscoveryFailedReason: discovery failed; the last good answer is kept.
	DiscoveryFailedReason = "DiscoveryFailed"
	// OnDemandPoolMissingReason: the rendered On-Demand pool is not there to copy.
	OnDemandPoolMissingReason = "OnDemandPoolMissing"
	// FailedReason: anything else went wrong; the last good answer is kept.
	FailedReason = "Failed"
)

// Bound of the lists in status.commitments.
const maxStatusEntries = 50

// failed is the condition for an error.
func failed(err error) (metav1.ConditionStatus, string, string) {
	var d coverage.DiscoveryError
	switch {
	case errors.Is(err, coverage.ErrNotConfigured):
		return metav1.ConditionFalse, DiscoveryNotConfiguredReason, err.Error()
	case errors.As(err, &d):
		return metav1.ConditionFalse, DiscoveryFailedReason, err.Error() + "; the committed NodePool keeps its last limits"
	case errors.Is(err, errNoOnDemandPool):
		return metav1.ConditionFalse, OnDemandPoolMissingReason, err.Error()
	}
	return metav1.ConditionFalse, FailedReason, err.Error() + "; the committed NodePool keeps its last limits"
}

// statusOf turns the unused commitment into status.commitments.
func statusOf(u cost.UnusedCommitment, now time.Time) *v1alpha1.CommitmentsStatus {
	s := &v1alpha1.CommitmentsStatus{ObservedTime: metav1.NewTime(now.Truncate(time.Second))}
	for _, r := range u.Reserved[:min(len(u.Reserved), maxStatusEntries)] {
		s.ReservedInstances = append(s.ReservedInstances, v1alpha1.ReservedInstanceUsage{
			InstanceType: r.InstanceType, Zone: r.Zone,
			Committed: int32(r.Count),                  //nolint:gosec // instance counts
			Used:      int32(math.Ceil(r.Used - 1e-9)), //nolint:gosec // instance counts
			Unused:    int32(r.Unused),                 //nolint:gosec // instance counts
		})
	}
	for _, sp := range u.SavingsPlans[:min(len(u.SavingsPlans), maxStatusEntries)] {
		s.SavingsPlans = append(s.SavingsPlans, v1alpha1.SavingsPlanUsage{
			Type: sp.Type, Family: sp.Family, CommittedPerHour: perHour(sp.Usable), UsedPerHour: perHour(sp.Used),
		})
	}
	return s
}

func perHour(x float64) string { return strconv.FormatFloat(max(x, 0), 'f', 4, 64) }

// sameStatus reports whether two statuses hold the same figures (observedTime aside),
// so that a steady cluster's status is not rewritten.
func sameStatus(a, b *v1alpha1.CommitmentsStatus) bool {
	if a == nil || b == nil {
		return a == b
	}
	x := a.DeepCopy()
	x.ObservedTime = b.ObservedTime
	return apiequality.Semantic.DeepEqual(x, b)
}
