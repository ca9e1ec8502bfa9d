package distribution

import (
	"context"
	"maps"
	"slices"

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

// splitReport is what one pass observed of a workload.
type splitReport struct {
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
func (r *Reconciler) writeStatus(ctx context.Context, w *Workload, policy *v1alpha1.ClusterPolicy, rule split.Rule, p splitReport) error {
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

// upsert replaces or adds the workload's entry and reports whether anything changed.
// The list is bounded by a ranking that does not depend on time, so that a steady
// cluster with more workloads than fit settles: workloads whose split is not exact (or
// that carry a message) rank before settled ones, then by kind, namespace and name. A
// new entry that ranks after every listed one when the list is full is not listed
// (nothing is written); one that ranks before takes the place of the last-ranked.
func upsert(list []v1alpha1.WorkloadPlacement, entry v1alpha1.WorkloadPlacement, now metav1.Time) ([]v1alpha1.WorkloadPlacement, bool) {
	for i, e := range list {
		if sameWorkload(e, entry) {
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
	if len(list) < maxStatusWorkloads {
		return append(append([]v1alpha1.WorkloadPlacement{}, list...), entry), true
	}
	last := 0
	for i := range list {
		if rankBefore(list[last], list[i]) {
			last = i
		}
	}
	if !rankBefore(entry, list[last]) {
		return list, false
	}
	out := append([]v1alpha1.WorkloadPlacement{}, list...)
	out[last] = entry
	return out, true
}

// rankBefore orders entries for the bounded list: not exact first, then by key.
func rankBefore(a, b v1alpha1.WorkloadPlacement) bool {
	if sa, sb := settled(a), settled(b); sa != sb {
		return !sa
	}
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// settled: the observed split is the desired one and there is nothing to say.
func settled(e v1alpha1.WorkloadPlacement) bool {
	return e.Observed.OnDemand == e.Desired.OnDemand && e.Observed.Spot == e.Desired.Spot && e.Message == ""
}

func sameWorkload(a, b v1alpha1.WorkloadPlacement) bool {
	return a.Kind == b.Kind && a.Namespace == b.Namespace && a.Name == b.Name
}

// removeStatus removes a deleted workload's entry from the status of the objects that
// may list it: the ClusterPolicy and the rules of its namespace.
func (r *Reconciler) removeStatus(ctx context.Context, namespace, name string) error {
	gone := v1alpha1.WorkloadPlacement{Kind: r.Kind, Namespace: namespace, Name: name}
	policy, err := ClusterPolicyFor(ctx, r.Client, r.Cluster)
	if err != nil {
		return err
	}
	var objs []client.Object
	if policy != nil {
		objs = append(objs, policy)
	}
	rules, err := RulesIn(ctx, r.Client, namespace)
	if err != nil {
		return err
	}
	for _, rule := range rules {
		objs = append(objs, rule)
	}
	for _, obj := range objs {
		workloads := func(o client.Object) *[]v1alpha1.WorkloadPlacement {
			if p, ok := o.(*v1alpha1.ClusterPolicy); ok {
				return &p.Status.Workloads
			}
			return &o.(*v1alpha1.WorkloadDistributionRule).Status.Workloads
		}
		if !slices.ContainsFunc(*workloads(obj), func(e v1alpha1.WorkloadPlacement) bool { return sameWorkload(e, gone) }) {
			continue
		}
		key := client.ObjectKeyFromObject(obj)
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			fresh := obj.DeepCopyObject().(client.Object)
			if err := r.Client.Get(ctx, key, fresh); err != nil {
				return client.IgnoreNotFound(err)
			}
			base := fresh.DeepCopyObject().(client.Object)
			list := slices.DeleteFunc(slices.Clone(*workloads(fresh)), func(e v1alpha1.WorkloadPlacement) bool { return sameWorkload(e, gone) })
			if len(list) == len(*workloads(fresh)) {
				return nil
			}
			*workloads(fresh) = list
			return r.Client.Status().Patch(ctx, fresh, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func equalPlacement(a, b v1alpha1.WorkloadPlacement) bool {
	return a.Kind == b.Kind && a.Namespace == b.Namespace && a.Name == b.Name && a.Replicas == b.Replicas &&
		a.Desired == b.Desired && a.Observed == b.Observed && a.Message == b.Message && maps.Equal(a.Reasons, b.Reasons)
}
