package distribution

import (
	"context"
	"errors"
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
// ClusterPolicy (its default distribution). The entry is written only when it changed,
// at once or with others in the next flush (see statusBatch).
func (r *Reconciler) writeStatus(ctx context.Context, w *Workload, policy *v1alpha1.ClusterPolicy, rule split.Rule, p splitReport) error {
	entry := v1alpha1.WorkloadPlacement{
		Kind: w.Kind, Namespace: w.Namespace, Name: w.Name, Replicas: w.Replicas,
		Desired:  v1alpha1.PlacementCounts{OnDemand: p.target.OnDemand, Spot: p.target.Spot},
		Observed: p.observed,
		Reasons:  p.reasons,
		Message:  p.message,
	}
	// The governing object: the most specific rule selecting the workload, else the policy.
	var obj client.Object = policy
	if rule.Governing != nil {
		obj = rule.Governing
	}
	t := targetOf(obj)
	// Nothing to write when the cached object lists the entry as it is (and no other
	// entry of the workload waits).
	if _, changed := upsert(*t.workloads(obj), entry, metav1.Time{}); !changed && !r.statusBatch.waiting(t, idOf(entry)) {
		return nil
	}
	return r.record(ctx, t, pendingEntry{entry: entry, now: metav1.NewTime(r.now())})
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
	r.statusBatch.drop(idOf(gone))
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
	var errs []error
	for _, obj := range objs {
		// A removal for every object, listed or not: it also outranks an entry of the
		// workload put back by a failed flush.
		t := targetOf(obj)
		if err := r.record(ctx, t, pendingEntry{entry: gone, remove: true}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func equalPlacement(a, b v1alpha1.WorkloadPlacement) bool {
	return a.Kind == b.Kind && a.Namespace == b.Namespace && a.Name == b.Name && a.Replicas == b.Replicas &&
		a.Desired == b.Desired && a.Observed == b.Observed && a.Message == b.Message && maps.Equal(a.Reasons, b.Reasons)
}
