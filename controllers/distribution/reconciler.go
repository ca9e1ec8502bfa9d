package distribution

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ballast-dev/ballast/controllers/internal/evict"
	"github.com/ballast-dev/ballast/controllers/internal/placement"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/controllers/internal/scope"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// Event reasons.
const (
	EvictedReason         = "RebalancedReplica"
	EvictionBlockedReason = "EvictionBlocked"
	// WebhookNotPlacingReason: replacements of evicted replicas arrived unplaced, so
	// evictions pause instead of looping.
	WebhookNotPlacingReason = placement.NotPlacingReason
)

// Drift correction evicts pods of workloads in opted-in namespaces (any namespace may
// opt in) and reports each workload's split in the status of its rule or policy.
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups=ballast.dev,resources=clusterpolicies/status;workloaddistributionrules/status,verbs=get;update;patch
// Events are recorded through events.k8s.io (controller-runtime's recorder) and
// core/v1 (Flux's recorder, used for PolicySources).
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// Reconciler corrects the split of one kind of workload (Deployments or StatefulSets)
// after the fact: when the observed split differs from the target (a scale-down
// removed the wrong replicas, pods were admitted while the webhook was down, a rule
// changed), it evicts surplus replicas of the over-represented class through the
// Eviction API, a bounded number per pass, respecting PodDisruptionBudgets,
// maintenance windows and karpenter.sh/do-not-disrupt. The workload's controller
// replaces each evicted pod, and the webhook places the replacement in the class that
// is short.
//
// It acts only where the webhook does: in namespaces in Scope, on pods Ballast placed
// or would place. Pods that choose their capacity type themselves are counted as what
// they are and never evicted. It evicts only when binPacking.podEviction.enabled, and
// pauses when the replacements of its last evictions arrived without Ballast's
// placement (the webhook is not reachable), so that it can never evict in a loop.
type Reconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	// Pods reads the workloads' pods from the cache's store, without copies; through
	// Client when nil.
	Pods podstore.Reader
	// Kind is KindDeployment or KindStatefulSet.
	Kind string
	// Cluster is the ClusterPolicy cluster name this controller serves.
	Cluster string
	// Scope says which namespaces are placed.
	Scope scope.Scope
	// RequeueAfter is how soon a workload that is not yet exact is looked at again.
	RequeueAfter time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// API writes the placement ledgers (uncached); when nil, evictions are not recorded
	// in them.
	API client.Client
	// Placement is the cluster's placement watch, shared with the other evicting
	// controllers (NewPlacementWatch); one of the reconciler's own when nil.
	Placement *placement.Watch

	// StatusInterval is how often the status flusher (RunStatusFlusher) writes the
	// entries that waited; DefaultStatusInterval when zero.
	StatusInterval time.Duration

	statusBatch   statusBatch
	placementOnce sync.Once
	// pools are the cluster's NodePools as read through Client, compiled for matching.
	pools nodePools
}

// poolsLimit says why the split does not apply to the pods of a template because of
// the NodePools they can land on, or "" when it does (or when the NodePools cannot be
// read or none fits: the webhook leaves such pods unplaced, and the placement watch
// pauses evictions whose replacements arrive unplaced).
func (r *Reconciler) poolsLimit(ctx context.Context, spec *corev1.PodSpec) string {
	fit, err := r.pools.fit(ctx, r.Client, r.Cluster, spec)
	switch {
	case err != nil, fit.Pools == 0, fit.Splittable():
		return ""
	case !fit.Ballast:
		return "the pod template targets NodePools Ballast does not manage"
	case !fit.Spot:
		return "no NodePool the pod template can land on offers Spot"
	default:
		return "no NodePool the pod template can land on offers On-Demand"
	}
}

// Reconcile brings one workload's split to its target.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	in, _, err := r.Scope.Check(ctx, r.Client, req.Namespace)
	if err != nil || !in {
		if err == nil {
			forgetSplit(r.Kind, req.Namespace, req.Name)
		}
		return reconcile.Result{}, err
	}
	w, err := r.workload(ctx, req)
	if apierrors.IsNotFound(err) {
		r.placementWatch().Forget(req.String())
		forgetSplit(r.Kind, req.Namespace, req.Name)
		return reconcile.Result{}, r.removeStatus(ctx, req.Namespace, req.Name)
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	policy, err := ClusterPolicyFor(ctx, r.Client, r.Cluster)
	if err != nil || policy == nil {
		return reconcile.Result{}, err
	}
	rules, err := RulesIn(ctx, r.Client, w.Namespace)
	if err != nil {
		return reconcile.Result{}, err
	}
	rule, err := split.Resolve(policy, rules, w.SplitWorkload())
	if err != nil {
		return reconcile.Result{}, reconcile.TerminalError(err)
	}
	pods, err := w.Pods(ctx, podstore.Or(r.Pods, r.Client))
	if err != nil {
		return reconcile.Result{}, err
	}
	r.observePlacement(ctx, policy, w, pods)
	observed, intended, reasons := r.observe(ctx, pods)
	target := rule.Target(w.Replicas)
	var message string
	victims, stuck, onFallback := r.surplus(w, rule, pods)
	limit := r.poolsLimit(ctx, &w.Template.Spec)
	switch c := chooses(&w.Template.Spec); {
	case c.foreign != "":
		message = "left alone: the pod template requires node label " + c.foreign
		victims = nil
	case c.pinned:
		message = "left alone: the pod template chooses its capacity type itself"
		victims = nil
	case limit != "":
		message = "left alone: " + limit
		victims = nil
	case len(victims) > 0 && FallbackActive(policy) && CapacityOf(victims[0], nil) == v1alpha1.CapacityOnDemand:
		// A replacement would be meant for Spot and placed On-Demand again.
		message = fmt.Sprintf("%d replicas are On-Demand beyond the split; Spot is short, so they move back with reverse fallback", len(victims))
		victims = nil
	case len(victims) > 0:
		message = r.evict(ctx, req.String(), w, policy, victims, pods, intended, target)
	case stuck > 0:
		message = fmt.Sprintf("%d replicas are in the wrong class but choose their capacity type themselves; left alone", stuck)
	case onFallback > 0:
		message = fmt.Sprintf("%d replicas beyond the split are on fallback: they run On-Demand already and move only with reverse fallback", onFallback)
	}
	r.recordSplit(w, observed, target)
	if err := r.writeStatus(ctx, w, policy, rule, splitReport{observed: observed, target: target, reasons: reasons, message: message}); err != nil {
		return reconcile.Result{}, err
	}
	if len(victims) > 0 {
		logf.FromContext(ctx).V(1).Info("split not exact yet", "workload", w.Key(), "observed", intended.String(), "target", target.String())
		return reconcile.Result{RequeueAfter: r.requeueAfter()}, nil
	}
	return reconcile.Result{}, nil
}

func (r *Reconciler) requeueAfter() time.Duration {
	if r.RequeueAfter > 0 {
		return r.RequeueAfter
	}
	return 5 * time.Second
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) workload(ctx context.Context, req reconcile.Request) (*Workload, error) {
	if r.Kind == KindStatefulSet {
		return StatefulSetWorkload(ctx, r.Client, req.Namespace, req.Name)
	}
	return DeploymentWorkload(ctx, r.Client, req.Namespace, req.Name)
}

// observe counts the workload's pods: where they run (observed, with the fallback
// replicas among the On-Demand ones), what they count as in the split (intended:
// fallback replicas as Spot), and why they were placed (reasons).
func (r *Reconciler) observe(ctx context.Context, pods []*podstore.Pod) (observed v1alpha1.PlacementCounts, intended split.Counts, reasons map[string]int32) {
	capacity := NodeCapacity(ctx, r.Client)
	for i := range pods {
		switch CapacityOf(pods[i], capacity) {
		case v1alpha1.CapacitySpot:
			observed.Spot++
		default:
			observed.OnDemand++
		}
		if IsFallback(pods[i]) {
			observed.Fallback++
		}
		intended.Add(IntendedCapacity(pods[i], capacity))
		if reasons == nil {
			reasons = map[string]int32{}
		}
		reasons[cmp.Or(pods[i].Annotations[ReasonAnnotation], NoReason)]++
	}
	return observed, intended, reasons
}

// movable reports whether the reconciler may move a pod: Ballast placed it, or it was
// admitted unplaced (while the webhook was unreachable) and Ballast would place it.
// A pod that chooses its capacity type itself, or requires node labels Ballast does
// not control, stays where it is.
func movable(pod *podstore.Pod) bool {
	if pod.Annotations[ReasonAnnotation] != "" {
		return true
	}
	c := chooses(pod.Spec.PodSpec)
	return !c.pinned && c.foreign == "" && pod.Labels[v1alpha1.CapacityLabel] == ""
}

// placed reports whether Ballast's webhook placed the pod.
func placed(pod *podstore.Pod) bool {
	return pod.Annotations[ReasonAnnotation] != ""
}

// surplus returns the pods to move, best candidates first: for a StatefulSet the pods
// whose class differs from their ordinal's, otherwise the pods of the over-represented
// class (unscheduled before running, newest first). Only movable pods are candidates;
// stuck counts the surplus that is not movable. Fallback replicas are never candidates
// (onFallback counts those in the surplus): they run On-Demand already, so evicting
// one would only bring back an On-Demand replica, and reverse fallback moves them,
// leaving on On-Demand the ones that keep a node covering a commitment busy.
func (r *Reconciler) surplus(w *Workload, rule split.Rule, pods []*podstore.Pod) (victims []*podstore.Pod, stuck, onFallback int) {
	capacity := func(p *podstore.Pod) string { return IntendedCapacity(p, nil) }
	var out []*podstore.Pod
	if w.Kind == KindStatefulSet {
		for i := range pods {
			ord := Ordinal(pods[i], w.Name)
			if ord < 0 || capacity(pods[i]) == split.DecideOrdinal(rule, w.Replicas, ord).Capacity {
				continue
			}
			switch {
			case IsFallback(pods[i]):
				onFallback++
			case movable(pods[i]):
				out = append(out, pods[i])
			default:
				stuck++
			}
		}
		return out, stuck, onFallback
	}
	var c split.Counts
	for i := range pods {
		c.Add(capacity(pods[i]))
	}
	class, n := split.Surplus(rule, w.Replicas, c)
	if n == 0 {
		return nil, 0, 0
	}
	fallback := 0
	for i := range pods {
		if capacity(pods[i]) != class {
			continue
		}
		switch {
		case IsFallback(pods[i]):
			fallback++
		case movable(pods[i]):
			out = append(out, pods[i])
		}
	}
	slices.SortStableFunc(out, func(a, b *podstore.Pod) int {
		if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
			if a.Spec.NodeName == "" {
				return -1
			}
			return 1
		}
		return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
	})
	if len(out) >= int(n) {
		return out[:n], 0, 0
	}
	short := int(n) - len(out)
	onFallback = min(fallback, short)
	return out, short - onFallback, onFallback
}

// evictionLimit is how many pods one pass may evict: the policy's
// binPacking.podEviction.maxEvictionsPerPass, or the API's default; 0 when the policy
// does not enable eviction.
func evictionLimit(policy *v1alpha1.ClusterPolicy) int32 {
	pe := policy.Spec.BinPacking.PodEviction
	if pe == nil || !pe.Enabled {
		return 0
	}
	if pe.MaxEvictionsPerPass != nil {
		return max(*pe.MaxEvictionsPerPass, 1)
	}
	return v1alpha1.DefaultMaxEvictions
}

// evict evicts up to the per-pass bound of victims and returns a status message.
func (r *Reconciler) evict(ctx context.Context, key string, w *Workload, policy *v1alpha1.ClusterPolicy, victims, pods []*podstore.Pod, observed, target split.Counts) string {
	now := r.now()
	limit := evictionLimit(policy)
	if limit == 0 {
		return fmt.Sprintf("%d replicas are in the wrong class; Ballast moves replicas only with binPacking.podEviction.enabled", len(victims))
	}
	if !v1alpha1.OperationAllowed(policy.Spec.MaintenanceWindows, v1alpha1.OperationPodEviction, now) {
		return fmt.Sprintf("waiting for a maintenance window that allows PodEviction to move %d replicas", len(victims))
	}
	v := r.placementWatch().Check(key, pods, now)
	if v.Changed {
		r.reportPlacement(ctx, policy, w, v)
	}
	if v.Paused {
		return v.Message
	}
	evicted := 0
	var blocked []string
	for _, pod := range victims {
		if int32(evicted) >= limit { //nolint:gosec // small
			break
		}
		out := r.recordedEviction(ctx, w, pod, fmt.Sprintf("Eviction of %s blocked by a PodDisruptionBudget; split stays %s instead of %s", pod.Name, observed, target))
		switch out.Result {
		case evict.Evicted:
			evicted++
			r.event(w, pod, corev1.EventTypeNormal, EvictedReason, "Evicted %s (%s) to move the split from %s toward %s",
				pod.Name, CapacityOf(pod, nil), observed, target)
		case evict.Skipped:
			blocked = append(blocked, pod.Name+" (karpenter.sh/do-not-disrupt)")
		case evict.Blocked:
			blocked = append(blocked, pod.Name+" (PodDisruptionBudget)")
			r.event(w, pod, corev1.EventTypeWarning, EvictionBlockedReason, "Eviction of %s blocked by a PodDisruptionBudget; split stays %s instead of %s",
				pod.Name, observed, target)
		case evict.Gone:
			// Gone, or replaced under the same name: nothing to do.
		default:
			blocked = append(blocked, fmt.Sprintf("%s (%v)", pod.Name, out.Err))
		}
	}
	if evicted > 0 {
		r.placementWatch().Evicted(key, pods, now)
	}
	switch {
	case len(blocked) > 0 && evicted == 0:
		return "eviction blocked: " + join(blocked)
	case len(blocked) > 0:
		return fmt.Sprintf("evicted %d replicas; blocked: %s", evicted, join(blocked))
	default:
		return fmt.Sprintf("evicted %d replicas to restore the split", evicted)
	}
}

// recordedEviction evicts pod through the shared evictor, recorded first in its
// workload's ledger as departing (the record is withdrawn when the pod stays), so
// that an admission whose cache still shows the pod places the replacement in its
// place. Without the record, a replacement admitted before the cache sees the eviction
// looks like a surge and may land in the class that already has its share.
func (r *Reconciler) recordedEviction(ctx context.Context, w *Workload, pod *podstore.Pod, blockedNote string) evict.Outcome {
	req := evict.Request{Pod: pod, Cause: evict.CauseDrift, BlockedNote: blockedNote}
	if r.API != nil {
		req.Before = func(ctx context.Context) func(context.Context) {
			if err := Depart(ctx, r.API, w, pod, false); err != nil {
				logf.FromContext(ctx).Error(err, "failed to record a departure in the placement ledger", "pod", client.ObjectKeyFromObject(pod))
			}
			return func(ctx context.Context) { _ = Depart(ctx, r.API, w, pod, true) }
		}
	}
	e := evict.Evictor{Client: r.Client, Recorder: r.Recorder}
	return e.Evict(ctx, req)
}

func join(items []string) string {
	if len(items) > 5 {
		items = append(items[:5:5], fmt.Sprintf("and %d more", len(items)-5))
	}
	return strings.Join(items, ", ")
}

// event records an event on the workload, related to the pod when there is one: one
// event per pod, so that every eviction shows (events of one key are merged into a
// series).
func (r *Reconciler) event(w *Workload, pod *podstore.Pod, eventType, reason, format string, args ...any) {
	if r.Recorder == nil {
		return
	}
	ref := &corev1.ObjectReference{Kind: w.Kind, APIVersion: "apps/v1", Namespace: w.Namespace, Name: w.Name, UID: w.UID}
	if pod == nil {
		r.Recorder.Eventf(ref, nil, eventType, reason, "Rebalance", format, args...)
		return
	}
	related := &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}
	r.Recorder.Eventf(ref, related, eventType, reason, "Rebalance", format, args...)
}
