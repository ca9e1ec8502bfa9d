package distribution

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ballast-dev/ballast/controllers/internal/placement"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/controllers/internal/status"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// The drift reconciler moves a replica by evicting it and trusting the webhook to
// place its replacement in the class that is short. When the API server cannot reach
// the webhook, the replacement arrives unplaced and the reconciler would evict again,
// forever. The placement watch (controllers/internal/placement), shared with every
// evicting controller, stops that; this file feeds it and reports its verdict.

// PlacementManager is the field manager of the ClusterPolicy's WebhookPlacing
// condition.
const PlacementManager = "ballast-placement"

// NewPlacementWatch returns the cluster's placement watch, judging pods as the
// distributor does: the pods Ballast places or would place are evidence, and a pod is
// placed when it carries Ballast's placement reason.
func NewPlacementWatch() *placement.Watch {
	return &placement.Watch{Candidate: movable, Placed: placed}
}

// placementWatch is r.Placement, or one of the reconciler's own.
func (r *Reconciler) placementWatch() *placement.Watch {
	r.placementOnce.Do(func() {
		if r.Placement == nil {
			r.Placement = NewPlacementWatch()
		}
	})
	return r.Placement
}

// observePlacement restores the watch from the policy's condition once, and looks at
// the workload's pods for evidence that a pause can end.
func (r *Reconciler) observePlacement(ctx context.Context, policy *v1alpha1.ClusterPolicy, w *Workload, pods []*podstore.Pod) {
	watch := r.placementWatch()
	if !watch.Restored() {
		if c := status.Find(policy.Status.Conditions, placement.Condition); c != nil && c.Status == metav1.ConditionFalse {
			watch.Restore(false, c.LastTransitionTime.Time, r.now())
		} else {
			watch.Restore(true, time.Time{}, r.now())
		}
	}
	if v := watch.Observe(pods); v.Changed {
		r.reportPlacement(ctx, policy, w, v)
	}
}

// reportPlacement writes a change of the cluster-wide verdict: the ClusterPolicy's
// WebhookPlacing condition, and an event on the workload that showed it.
func (r *Reconciler) reportPlacement(ctx context.Context, policy *v1alpha1.ClusterPolicy, w *Workload, v placement.Verdict) {
	s, reason, eventType := metav1.ConditionTrue, placement.PlacingReason, corev1.EventTypeNormal
	if !v.Placing {
		s, reason, eventType = metav1.ConditionFalse, placement.NotPlacingReason, corev1.EventTypeWarning
	}
	r.event(w, nil, eventType, reason, "%s", v.Message)
	cond := status.Condition(policy.Status.Conditions, placement.Condition, s, reason, v.Message, policy.Generation, r.now())
	if err := status.Apply(ctx, r.Client, v1alpha1.GroupVersion.WithKind("ClusterPolicy"), client.ObjectKeyFromObject(policy), PlacementManager, nil, cond); err != nil {
		logf.FromContext(ctx).Error(err, "failed to report whether the webhook places pods")
	}
}
