package fallback

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ballast-dev/ballast/controllers/distribution"
	"github.com/ballast-dev/ballast/controllers/internal/clusterpolicy"
	"github.com/ballast-dev/ballast/controllers/internal/coverage"
	"github.com/ballast-dev/ballast/controllers/internal/evict"
	"github.com/ballast-dev/ballast/controllers/internal/placement"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/controllers/internal/scope"
	"github.com/ballast-dev/ballast/controllers/internal/status"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/metrics"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// FieldManager owns status.fallback of the ClusterPolicy.
const FieldManager = "ballast-fallback"

// Event reasons on pods.
const (
	ReplacedReason      = "FallbackReplaced"
	ReturnEvictedReason = "ReturnedToSpot"
	ReturnBlockedReason = "ReturnBlocked"
	// ReturnBatchReason on the ClusterPolicy reports each pass of a return.
	ReturnBatchReason    = "ReturnBatch"
	maxReplacementsPass  = 50
	maxStatusWorkloads   = 100
	defaultEvictionBatch = v1alpha1.DefaultMaxEvictions
)

// Karpenter's events are read cluster-wide, and only those of insufficient capacity
// are cached (see CacheOptions). Pending Spot replicas are deleted (never a scheduled
// pod) so their controllers recreate them On-Demand; fallback replicas return through
// the Eviction API.
// +kubebuilder:rbac:groups="",resources=events,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=delete
// +kubebuilder:rbac:groups=ballast.dev,resources=clusterpolicies/status,verbs=get;update;patch

// Reconciler falls back to On-Demand when Spot capacity is short and returns when it
// recovers, for one cluster. Every request is for the whole cluster.
type Reconciler struct {
	// Client reads from the cache and writes.
	Client   client.Client
	Recorder events.EventRecorder
	// Cluster is the ClusterPolicy cluster name this controller serves.
	Cluster string
	// Scope says which namespaces are placed.
	Scope scope.Scope
	// BestScore, when set, returns the best Spot placement score (1 to 10) for launching
	// capacity instances of any of instanceTypes in region; it is asked before a return.
	BestScore func(ctx context.Context, region string, instanceTypes []string, capacity int32) (int32, error)
	// MinScore is the Spot placement score (1 to 10) a return needs; default 5.
	MinScore int32
	// API reads pods without a cache right before they are replaced, and records
	// departures in the placement ledgers.
	API client.Client
	// CapacityMemory is how long Karpenter does not retry a Spot offering that ran out
	// of capacity (the AWS provider's unavailable-offerings TTL); default 3m.
	CapacityMemory time.Duration
	// Discover returns the account's commitments for policies whose commitments have
	// source Discover (the commitments controller's); without it, or when it fails,
	// every On-Demand node a commitment could cover counts as covering.
	Discover coverage.Discover
	// Prices is the price book for the commitments' coverage; the catalogue when nil.
	Prices cost.PriceBook
	// Placement is the cluster's placement watch: no fallback replica is moved back
	// to Spot while it says Ballast's webhook is not placing pods (the replacement
	// would not be placed on Spot). Nil: not consulted.
	Placement *placement.Watch
	// Pods reads the cluster's pods from the cache's store, without copies, by the
	// role index (SetupWithManager adds it); through Client when nil.
	Pods podstore.Reader
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// pods reads the cluster's pods: Pods, or a Reader listing through Client (no
// manager: tests) with the role index.
func (r *Reconciler) pods() podstore.Reader {
	if r.Pods != nil {
		return r.Pods
	}
	pods := podstore.FromClient(r.Client)
	_ = pods.AddIndex(RoleIndex, IndexRole)
	return pods
}

func (r *Reconciler) memory() time.Duration {
	if r.CapacityMemory > 0 {
		return r.CapacityMemory
	}
	return 3 * time.Minute
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile runs one pass of the state machine and acts on its plan.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	policy, err := clusterpolicy.For(ctx, r.Client, r.Cluster)
	if err != nil || policy == nil {
		return reconcile.Result{}, err
	}
	if s := policy.Spec.Spot.Enabled; s != nil && !*s && policy.Status.Fallback == nil {
		return reconcile.Result{}, nil
	}
	cfg := configOf(policy)
	cfg.Memory = r.memory()
	cfg.BatchGap = 10 * time.Second
	o, err := r.observe(ctx, policy, cfg.Memory)
	if err != nil {
		return reconcile.Result{}, err
	}
	obs := o.Observation
	obs.ReturnAllowed = v1alpha1.OperationAllowed(policy.Spec.MaintenanceWindows, v1alpha1.OperationReverseFallback, obs.Now)
	obs.SpotLikely = true
	plan := Step(policy.Status.Fallback, obs, cfg)
	if plan.ReturnBatch && (policy.Status.Fallback == nil || policy.Status.Fallback.State != v1alpha1.FallbackReturning) {
		// A return is about to start: ask AWS first, when it is configured.
		if likely, why := r.spotLikely(ctx, policy, o); !likely {
			obs.SpotLikely = false
			plan = Step(policy.Status.Fallback, obs, cfg)
			plan.Status.Message += " (" + why + ")"
		}
	}
	plan.Status.Replicas = obs.Fallback
	plan.Status.Workloads = o.Workloads
	changed, err := r.writeStatus(ctx, policy, plan.Status)
	if err != nil {
		return reconcile.Result{}, err
	}
	if plan.Transition != nil {
		r.event(policy, plan.Transition)
	}
	// The webhook reads the state from its cache: let this replica's cache see it
	// before acting, so that replacements are placed by the new state.
	if changed && (plan.ReplacePending || plan.ReturnBatch) {
		r.waitCached(ctx, plan.Status.State)
	}
	if plan.ReplacePending {
		r.replacePending(ctx, o.PendingSpot)
	}
	if plan.ReturnBatch {
		r.returnBatch(ctx, policy, o)
	}
	return reconcile.Result{RequeueAfter: min(max(plan.RequeueAfter, time.Second), time.Minute)}, nil
}

// configOf reads the policy's fallback settings with their defaults.
func configOf(policy *v1alpha1.ClusterPolicy) Config {
	f := policy.Spec.Spot.Fallback
	after, err := orDefault(f.After, v1alpha1.DefaultFallbackAfter).Parse()
	if err != nil || after <= 0 {
		after, _ = v1alpha1.DefaultFallbackAfter.Parse()
	}
	reverse, err := orDefault(f.ReverseInterval, v1alpha1.DefaultReverseInterval).Parse()
	if err != nil || reverse <= 0 {
		reverse, _ = v1alpha1.DefaultReverseInterval.Parse()
	}
	return Config{After: after, ReverseInterval: reverse}
}

func orDefault(d, def v1alpha1.Duration) v1alpha1.Duration {
	if d == "" {
		return def
	}
	return d
}

// observed is one pass's view of the cluster.
type observed struct {
	Observation
	PendingSpot []*podstore.Pod
	Fallback    []*podstore.Pod
	// Return is Fallback in the order a return moves them, without KeptPods, which
	// stay for a commitment (returnOrder).
	Return, KeptPods []*podstore.Pod
	// CoverageUnsure says why the covering nodes are not known exactly ("" when they
	// are).
	CoverageUnsure string
	Workloads      []v1alpha1.FallbackWorkload
}

func (r *Reconciler) observe(ctx context.Context, policy *v1alpha1.ClusterPolicy, memory time.Duration) (*observed, error) {
	o := &observed{Observation: Observation{Now: r.now()}}
	pools, err := spotPools(ctx, r.Client, r.Cluster)
	if err != nil {
		return nil, err
	}
	byPod, claims, err := capacityFailures(ctx, r.Client, pools)
	if err != nil {
		return nil, err
	}
	o.LastCapacityFailure = claims
	launched, err := lastSpotLaunch(ctx, r.Client, pools)
	if err != nil {
		return nil, err
	}
	inScope := map[string]bool{}
	scoped := func(ns string) bool {
		in, seen := inScope[ns]
		if !seen {
			in, _, _ = r.Scope.Check(ctx, r.Client, ns)
			inScope[ns] = in
		}
		return in
	}
	pods := r.pods()
	pending, err := pods.Indexed(ctx, RoleIndex, RolePendingSpot)
	if err != nil {
		return nil, err
	}
	for _, p := range pending {
		if !scoped(p.Namespace) {
			continue
		}
		o.PendingSpot = append(o.PendingSpot, p)
		since, unschedulable := pendingSince(p)
		failed, podFailed := byPod[string(p.UID)]
		if podFailed && failed.After(o.LastCapacityFailure) {
			o.LastCapacityFailure = failed
		}
		// Waiting for Spot that Karpenter could not launch: reported on the pod, or a
		// Spot NodeClaim failed while it waited or shortly before, while Karpenter
		// remembers the failed offerings and does not try them (no new report comes).
		// Karpenter launched Spot capacity after the last failure the pod saw: it routes
		// around a shortage of one zone or instance type, so the wait starts again
		// from that launch (a shortage of Spot as a whole launches nothing).
		lastFailure := claims
		if podFailed && failed.After(lastFailure) {
			lastFailure = failed
		}
		if launched.After(lastFailure) && launched.After(since) {
			since = launched
		}
		if unschedulable && (podFailed || (!claims.IsZero() && !claims.Before(since.Add(-memory)))) {
			o.Short++
			if o.ShortSince.IsZero() || since.Before(o.ShortSince) {
				o.ShortSince = since
			}
		}
	}
	fallback, err := pods.Indexed(ctx, RoleIndex, RoleFallback)
	if err != nil {
		return nil, err
	}
	counts := map[v1alpha1.FallbackWorkload]int32{}
	for _, p := range fallback {
		if !scoped(p.Namespace) {
			continue
		}
		o.Fallback = append(o.Fallback, p)
		counts[r.workloadOf(ctx, p)]++
	}
	o.Observation.PendingSpot = len(o.PendingSpot)
	o.Observation.Fallback = int32(len(o.Fallback)) //nolint:gosec // bounded by the cluster's pods
	for w, n := range counts {
		w.Replicas = n
		o.Workloads = append(o.Workloads, w)
	}
	slices.SortFunc(o.Workloads, func(a, b v1alpha1.FallbackWorkload) int {
		return strings.Compare(a.Namespace+"/"+a.Kind+"/"+a.Name, b.Namespace+"/"+b.Kind+"/"+b.Name)
	})
	if len(o.Workloads) > maxStatusWorkloads {
		o.Workloads = o.Workloads[:maxStatusWorkloads]
	}
	if err := r.protect(ctx, policy, o); err != nil {
		return nil, err
	}
	return o, nil
}

// workloadOf names the workload of a pod (a ReplicaSet's Deployment, when it has one).
func (r *Reconciler) workloadOf(ctx context.Context, pod *podstore.Pod) v1alpha1.FallbackWorkload {
	w := v1alpha1.FallbackWorkload{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name}
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return w
	}
	w.Kind, w.Name = owner.Kind, owner.Name
	if owner.Kind == "ReplicaSet" {
		var rs appsv1.ReplicaSet
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: owner.Name}, &rs); err == nil {
			if dep := metav1.GetControllerOf(&rs); dep != nil && dep.Kind == "Deployment" {
				w.Kind, w.Name = dep.Kind, dep.Name
			}
		}
	}
	return w
}

// spotLikely asks the Spot placement score, when AWS is configured and the cluster's
// Spot instance types are known.
func (r *Reconciler) spotLikely(ctx context.Context, policy *v1alpha1.ClusterPolicy, o *observed) (bool, string) {
	if r.BestScore == nil {
		return true, ""
	}
	types := r.spotInstanceTypes(ctx, policy, o.Fallback)
	if len(types) == 0 {
		return true, ""
	}
	best, err := r.BestScore(ctx, policy.Spec.Cluster.Region, types, max(int32(len(o.Fallback)), 1)) //nolint:gosec // bounded
	if err != nil || best <= 0 {
		logf.FromContext(ctx).Info("Spot placement score unavailable; returning on Karpenter's signals alone", "error", err)
		return true, ""
	}
	threshold := r.MinScore
	if threshold <= 0 {
		threshold = 5
	}
	if best < threshold {
		return false, fmt.Sprintf("Spot placement score %d, below %d", best, threshold)
	}
	return true, ""
}

// spotInstanceTypes are the instance types to ask a placement score for: those the
// policy lists, else those of the nodes the fallback replicas run on (the shapes they
// need), at most maxScoreTypes.
func (r *Reconciler) spotInstanceTypes(ctx context.Context, policy *v1alpha1.ClusterPolicy, fallback []*podstore.Pod) []string {
	const maxScoreTypes = 10
	if inc := policy.Spec.Instances.Include; len(inc) > 0 {
		return slices.Clone(inc[:min(len(inc), maxScoreTypes)])
	}
	var out []string
	for i := range fallback {
		if fallback[i].Spec.NodeName == "" || len(out) >= maxScoreTypes {
			continue
		}
		var node corev1.Node
		if err := r.Client.Get(ctx, client.ObjectKey{Name: fallback[i].Spec.NodeName}, &node); err != nil {
			continue
		}
		if t := node.Labels[corev1.LabelInstanceTypeStable]; t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// SpotAvailableCondition on the ClusterPolicy says whether replicas meant for Spot
// run on Spot; the fallback controller owns it.
const SpotAvailableCondition = "SpotAvailable"

// writeStatus applies status.fallback and the SpotAvailable condition when they
// changed, and reports whether they did.
func (r *Reconciler) writeStatus(ctx context.Context, policy *v1alpha1.ClusterPolicy, st v1alpha1.FallbackStatus) (bool, error) {
	recordFallback(r.Cluster, st, r.now())
	cond := spotCondition(policy, st, r.now())
	if policy.Status.Fallback != nil && sameStatus(*policy.Status.Fallback, st) && status.Same(policy.Status.Conditions, cond) {
		return false, nil
	}
	fb, err := status.ToMap(&st)
	if err != nil {
		return false, err
	}
	key := client.ObjectKey{Name: policy.Name}
	if err := status.Apply(ctx, r.Client, v1alpha1.GroupVersion.WithKind("ClusterPolicy"), key, FieldManager, map[string]any{"fallback": fb}, cond); err != nil {
		return false, err
	}
	return true, nil
}

// spotCondition is SpotAvailable for the state: True while Available, False (with the
// state as the reason) while Spot is short, replicas run On-Demand, or return.
func spotCondition(policy *v1alpha1.ClusterPolicy, st v1alpha1.FallbackStatus, now time.Time) metav1.Condition {
	s := metav1.ConditionFalse
	if st.State == v1alpha1.FallbackAvailable {
		s = metav1.ConditionTrue
	}
	msg := st.Message
	if msg == "" {
		msg = "Spot capacity is " + string(st.State)
	}
	return status.Condition(policy.Status.Conditions, SpotAvailableCondition, s, string(st.State), msg, policy.Generation, now)
}

// recordFallback sets the cluster's fallback series.
func recordFallback(cluster string, st v1alpha1.FallbackStatus, now time.Time) {
	for _, s := range []v1alpha1.FallbackState{v1alpha1.FallbackAvailable, v1alpha1.FallbackShort, v1alpha1.FallbackFallenBack, v1alpha1.FallbackReturning} {
		v := 0.0
		if s == st.State {
			v = 1
		}
		metrics.FallbackState.WithLabelValues(cluster, string(s)).Set(v)
	}
	metrics.FallbackReplicas.WithLabelValues(cluster).Set(float64(st.Replicas))
	since := 0.0
	switch {
	case st.State == v1alpha1.FallbackAvailable:
	case st.FallenBackSince != nil:
		since = float64(st.FallenBackSince.Unix())
	case st.ShortSince != nil:
		since = float64(st.ShortSince.Unix())
	default:
		since = float64(now.Unix())
	}
	metrics.FallbackSince.WithLabelValues(cluster).Set(since)
}

// sameStatus compares statuses as the API server stores them (times in seconds).
func sameStatus(a, b v1alpha1.FallbackStatus) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// waitCached waits briefly until the cache holds the state just written.
func (r *Reconciler) waitCached(ctx context.Context, state v1alpha1.FallbackState) {
	_ = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 2*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := clusterpolicy.For(ctx, r.Client, r.Cluster)
		return err == nil && p != nil && p.Status.Fallback != nil && p.Status.Fallback.State == state, nil
	})
}

// replacePending deletes Pending Spot replicas (never a scheduled pod: the delete
// carries the pod's UID and resourceVersion, so a pod bound meanwhile is left alone),
// so that their controllers recreate them and the webhook places them On-Demand.
func (r *Reconciler) replacePending(ctx context.Context, pods []*podstore.Pod) {
	log := logf.FromContext(ctx)
	slices.SortFunc(pods, func(a, b *podstore.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	for _, p := range pods[:min(len(pods), maxReplacementsPass)] {
		// Read the pod afresh: the scheduler updates pending pods often, and a cached
		// resourceVersion would make the delete's precondition fail.
		if r.API != nil {
			var fresh corev1.Pod
			if err := r.API.Get(ctx, client.ObjectKeyFromObject(p), &fresh); err != nil {
				continue
			}
			p = podstore.FromPod(&fresh)
		}
		if p.Spec.NodeName != "" || p.DeletionTimestamp != nil {
			continue
		}
		out := r.evictor().DeletePending(ctx, evict.Request{Pod: p, Cause: evict.CauseFallback, Before: r.departing(p)})
		switch out.Result {
		case evict.Evicted:
			r.podEvent(p, corev1.EventTypeNormal, ReplacedReason, "Spot capacity is short: replaced, so that the replacement runs On-Demand until Spot returns")
		case evict.Failed:
			log.Error(out.Err, "failed to replace a Pending Spot replica", "pod", client.ObjectKeyFromObject(p))
		}
	}
}

// returnBatch evicts the next fallback replicas in return order (o.Return: those on
// nodes that cover no commitment first; the replicas that keep a covering node busy
// stay), at most maxEvictionsPerPass, through the Eviction API: PodDisruptionBudgets
// apply, and karpenter.sh/do-not-disrupt pods stay.
func (r *Reconciler) returnBatch(ctx context.Context, policy *v1alpha1.ClusterPolicy, o *observed) {
	limit := defaultEvictionBatch
	if pe := policy.Spec.BinPacking.PodEviction; pe != nil && pe.MaxEvictionsPerPass != nil {
		limit = max(*pe.MaxEvictionsPerPass, 1)
	}
	if r.Placement != nil {
		if ok, msg := r.Placement.Placing(r.now()); !ok {
			// The ClusterPolicy's WebhookPlacing condition says so; this repeats every pass.
			logf.FromContext(ctx).V(1).Info("fallback replicas stay On-Demand for now", "reason", msg)
			return
		}
	}
	pods := o.Return
	evicted, blocked := int32(0), 0
	defer func() {
		if evicted > 0 || blocked > 0 {
			msg := fmt.Sprintf("moved %d of %d fallback replicas back to Spot in this pass (at most %d per pass); %d kept by PodDisruptionBudgets",
				evicted, len(pods)+len(o.KeptPods), limit, blocked)
			if len(o.KeptPods) > 0 {
				msg += fmt.Sprintf("; %d stay On-Demand, each the last workload pod of a node that covers a commitment (%s)", len(o.KeptPods), podNames(o.KeptPods))
				if o.CoverageUnsure != "" {
					msg += "; " + o.CoverageUnsure
				}
			}
			r.event(policy, &Transition{Reason: ReturnBatchReason, Message: msg})
		}
	}()
	// A PodDisruptionBudget that refuses one replica of a workload refuses the next
	// too: try the workload again on the next pass.
	refused := map[string]bool{}
	ownerOf := func(p *podstore.Pod) string {
		if o := metav1.GetControllerOf(p); o != nil {
			return string(o.UID)
		}
		return string(p.UID)
	}
	for _, p := range pods {
		if evicted >= limit {
			return
		}
		if refused[ownerOf(p)] {
			continue
		}
		out := r.evictor().Evict(ctx, evict.Request{Pod: p, Cause: evict.CauseReturn, Before: r.departing(p),
			BlockedReason: ReturnBlockedReason, BlockedNote: "a PodDisruptionBudget keeps this fallback replica On-Demand for now"})
		switch out.Result {
		case evict.Evicted:
			evicted++
			r.podEvent(p, corev1.EventTypeNormal, ReturnEvictedReason, "Spot capacity is back: evicted so that the replacement runs on Spot")
		case evict.Blocked:
			blocked++
			refused[ownerOf(p)] = true
		case evict.Failed:
			logf.FromContext(ctx).Error(out.Err, "failed to move a fallback replica back to Spot", "pod", client.ObjectKeyFromObject(p))
		}
	}
}

// departing returns the evictor's Before hook for p: it records in the pod's placement
// ledger that the pod is about to go, so that an admission whose cache still shows it
// does not count it beside its replacement, and withdraws the record when the pod
// stays after all.
func (r *Reconciler) departing(p *podstore.Pod) func(context.Context) func(context.Context) {
	if r.API == nil {
		return nil
	}
	return func(ctx context.Context) func(context.Context) {
		w, err := distribution.WorkloadOf(ctx, distribution.LiveOnMiss(r.Client, r.API), p)
		if err == nil && w != nil {
			err = distribution.Depart(ctx, r.API, w, p, false)
		}
		if err != nil {
			logf.FromContext(ctx).Error(err, "failed to record a departure in the placement ledger", "pod", client.ObjectKeyFromObject(p))
		}
		if w == nil {
			return nil
		}
		return func(ctx context.Context) { _ = distribution.Depart(ctx, r.API, w, p, true) }
	}
}

// evictor is the shared evictor, recording blocked evictions on the pods.
func (r *Reconciler) evictor() *evict.Evictor {
	return &evict.Evictor{Client: r.Client, Recorder: r.Recorder}
}

func (r *Reconciler) event(policy *v1alpha1.ClusterPolicy, t *Transition) {
	if r.Recorder == nil {
		return
	}
	kind := corev1.EventTypeNormal
	if t.Warning {
		kind = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(policy, nil, kind, t.Reason, "Fallback", "%s", t.Message)
}

func (r *Reconciler) podEvent(pod *podstore.Pod, kind, reason, message string) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(pod.Object(), nil, kind, reason, "Fallback", "%s", message)
}

// podNames names at most 5 pods.
func podNames(pods []*podstore.Pod) string {
	var names []string
	for i := range pods[:min(len(pods), 5)] {
		names = append(names, pods[i].Namespace+"/"+pods[i].Name)
	}
	if len(pods) > 5 {
		names = append(names, fmt.Sprintf("and %d more", len(pods)-5))
	}
	return strings.Join(names, ", ")
}
