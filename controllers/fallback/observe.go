package fallback

import (
	"context"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// Pod roles, indexed so that a pass lists only the pods it acts on.
const (
	// RoleIndex is the field index of pods by their role in fallback.
	RoleIndex = "ballast.dev/fallback-role"
	// RolePendingSpot: placed on Spot by Ballast, not scheduled yet.
	RolePendingSpot = "pending-spot"
	// RoleFallback: placed On-Demand by Ballast because Spot was short.
	RoleFallback = "fallback"
)

// InsufficientCapacityReason is the reason of Karpenter's events when a launch fails
// for insufficient capacity (on the NodeClaim, and on each pod it was meant for).
const InsufficientCapacityReason = "InsufficientCapacityError"

// reasonAnnotation and the Spot label are what the webhook writes on a placed pod.
const reasonAnnotation = "ballast.dev/reason"

// IndexRole is the indexer of RoleIndex.
func IndexRole(pod *podstore.Pod) []string {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	reason := pod.Annotations[reasonAnnotation]
	switch {
	case reason == string(split.ReasonFallback):
		return []string{RoleFallback}
	case reason != "" && pod.Labels[v1alpha1.CapacityLabel] == v1alpha1.CapacitySpot && pod.Spec.NodeName == "":
		return []string{RolePendingSpot}
	}
	return nil
}

// pendingSince is when the pod started to wait: when the scheduler first reported it
// unschedulable, else its creation.
func pendingSince(pod *podstore.Pod) (time.Time, bool) {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return c.LastTransitionTime.Time, true
		}
	}
	return pod.CreationTimestamp.Time, false
}

// eventTime is the last time an event was observed.
func eventTime(e *corev1.Event) time.Time {
	t := e.LastTimestamp.Time
	if e.Series != nil && e.Series.LastObservedTime.After(t) {
		t = e.Series.LastObservedTime.Time
	}
	if e.EventTime.After(t) {
		t = e.EventTime.Time
	}
	if t.IsZero() {
		t = e.FirstTimestamp.Time
	}
	if t.IsZero() {
		t = e.CreationTimestamp.Time
	}
	return t
}

// spotPools returns the names of the cluster's Spot NodePools that Ballast rendered.
func spotPools(ctx context.Context, c client.Reader, cluster string) ([]string, error) {
	var list karpv1.NodePoolList
	if err := c.List(ctx, &list, client.MatchingLabels{v1alpha1.ClusterLabel: cluster}); err != nil {
		return nil, err
	}
	var out []string
	for _, np := range list.Items {
		if np.Spec.Template.Labels[v1alpha1.CapacityLabel] == v1alpha1.CapacitySpot {
			out = append(out, np.Name)
		}
	}
	return out, nil
}

// capacityFailures reads Karpenter's insufficient-capacity events: the last time per
// pod UID, and the last failure of a NodeClaim of one of the Spot pools (Karpenter
// names NodeClaims after their NodePool).
func capacityFailures(ctx context.Context, c client.Reader, pools []string) (map[string]time.Time, time.Time, error) {
	var events corev1.EventList
	if err := c.List(ctx, &events); err != nil {
		return nil, time.Time{}, err
	}
	byPod := map[string]time.Time{}
	var claims time.Time
	for i := range events.Items {
		e := &events.Items[i]
		if e.Reason != InsufficientCapacityReason {
			continue
		}
		t := eventTime(e)
		switch e.InvolvedObject.Kind {
		case "Pod":
			if t.After(byPod[string(e.InvolvedObject.UID)]) {
				byPod[string(e.InvolvedObject.UID)] = t
			}
		case "NodeClaim":
			if slices.ContainsFunc(pools, func(p string) bool { return strings.HasPrefix(e.InvolvedObject.Name, p+"-") }) && t.After(claims) {
				claims = t
			}
		}
	}
	return byPod, claims, nil
}

// lastSpotLaunch is when Karpenter last launched a Spot NodeClaim of one of the pools
// (its Launched condition turned true), of those still there. A launch after a capacity
// failure means Karpenter found another Spot offering (another zone or instance type):
// the shortage was of one pool, which Karpenter routes around by itself.
func lastSpotLaunch(ctx context.Context, c client.Reader, pools []string) (time.Time, error) {
	var last time.Time
	for _, pool := range pools {
		var claims karpv1.NodeClaimList
		if err := c.List(ctx, &claims, client.MatchingLabels{karpv1.NodePoolLabelKey: pool}); err != nil {
			return time.Time{}, err
		}
		for i := range claims.Items {
			nc := &claims.Items[i]
			if nc.DeletionTimestamp != nil {
				continue
			}
			if cond := nc.StatusConditions().Get(karpv1.ConditionTypeLaunched); cond != nil && cond.IsTrue() && cond.LastTransitionTime.After(last) {
				last = cond.LastTransitionTime.Time
			}
		}
	}
	return last, nil
}
