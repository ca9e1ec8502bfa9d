package distribution

import (
	"context"
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// maxStatusWorkloads bounds the workloads listed in one object's status.
const maxStatusWorkloads = 200

// NoReason counts the pods of a workload that Ballast did not place (admitted while
// the webhook was unreachable, or created before the namespace opted in).
const NoReason = "none"

// placement is what one pass observed of a workload.
type placement struct {
	observed v1alpha1.PlacementCounts
	target   split.Counts
	reasons  map[string]int32
	message  string
}

// writeStatus records the workload's desired and observed split on the object that
// governs it: the most specific WorkloadDistributionRule selecting it, else the
// ClusterPolicy (its default distribution). It writes only when the entry changed,
// and only status.workloads, by a merge patch that fails on a concurrent change (then
// retried on the fresh object): the fields other controllers own are never rewritten.
func (r *Reconciler) writeStatus(ctx context.Context, w *Workload, policy *v1alpha1.ClusterPolicy, rule split.Rule, p placement) error {
	entry := v1alpha1.WorkloadPlacement{
		Kind: w.Kind, Namespace: w.Namespace, Name: w.Name, Replicas: w.Replicas,
		Desired:  v1alpha1.PlacementCounts{OnDemand: p.target.OnDemand, Spot: p.target.Spot},
		Observed: p.observed,
		Reasons:  p.reasons,
		Message:  p.message,
	}
	now := metav1.NewTime(r.now())
	// The governing object: the most specific rule selecting the workload, else the policy.
	var obj client.Object = policy
	workloads := func(o client.Object) *[]v1alpha1.WorkloadPlacement {
		return &o.(*v1alpha1.ClusterPolicy).Status.Workloads
	}
	if governing := rule.Governing; governing != nil {
		obj = governing
		workloads = func(o client.Object) *[]v1alpha1.WorkloadPlacement {
			return &o.(*v1alpha1.WorkloadDistributionRule).Status.Workloads
		}
	}
	key := client.ObjectKeyFromObject(obj)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fresh := obj.DeepCopyObject().(client.Object)
		if err := r.Client.Get(ctx, key, fresh); err != nil {
			return client.IgnoreNotFound(err)
		}
		list, changed := upsert(*workloads(fresh), entry, now)
		if !changed {
			return nil
		}
		base := fresh.DeepCopyObject().(client.Object)
		*workloads(fresh) = list
		return r.Client.Status().Patch(ctx, fresh, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
}

// upsert replaces or adds the workload's entry, keeping the list bounded (the entries
// updated longest ago go first), and reports whether anything changed.
func upsert(list []v1alpha1.WorkloadPlacement, entry v1alpha1.WorkloadPlacement, now metav1.Time) ([]v1alpha1.WorkloadPlacement, bool) {
	for i, e := range list {
		if e.Kind == entry.Kind && e.Namespace == entry.Namespace && e.Name == entry.Name {
			entry.LastUpdateTime = e.LastUpdateTime
			if equalPlacement(e, entry) {
				return list, false
			}
			entry.LastUpdateTime = &now
			out := append([]v1alpha1.WorkloadPlacement{}, list...)
			out[i] = entry
			return out, true
		}
	}
	entry.LastUpdateTime = &now
	out := append(list, entry)
	if len(out) > maxStatusWorkloads {
		oldest := 0
		for i := range out {
			if out[i].LastUpdateTime.Before(out[oldest].LastUpdateTime) {
				oldest = i
			}
		}
		out = append(out[:oldest], out[oldest+1:]...)
	}
	return out, true
}

func equalPlacement(a, b v1alpha1.WorkloadPlacement) bool {
	return a.Kind == b.Kind && a.Namespace == b.Namespace && a.Name == b.Name && a.Replicas == b.Replicas &&
		a.Desired == b.Desired && a.Observed == b.Observed && a.Message == b.Message && maps.Equal(a.Reasons, b.Reasons)
}
