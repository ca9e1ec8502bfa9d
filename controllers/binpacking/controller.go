package binpacking

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
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ballast-dev/ballast/controllers/internal/clusterpolicy"
	"github.com/ballast-dev/ballast/controllers/internal/coverage"
	"github.com/ballast-dev/ballast/controllers/internal/evict"
	"github.com/ballast-dev/ballast/controllers/internal/placement"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/controllers/internal/scope"
	"github.com/ballast-dev/ballast/controllers/internal/status"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// FieldManager owns status.binPacking of the ClusterPolicy.
const FieldManager = "ballast-binpacking"

// Defaults of the Reconciler's timings.
const (
	DefaultInterval     = time.Minute
	DefaultStablePeriod = 5 * time.Minute
	DefaultBackoff      = 30 * time.Minute
)

// Event reasons, on the ClusterPolicy.
const (
	DrainingReason = "DrainingNode"
	BlockedReason  = "BinPackingBlocked"
	PausedReason   = "BinPackingPaused"
	// KeptReason: candidates are kept because they cover a commitment (recorded when
	// the set of kept nodes changes).
	KeptReason = "KeptForCommitment"
)

// Reconciler runs bin-packing passes for one cluster.
type Reconciler struct {
	// Client reads nodes, pods and owners, patches nodes, evicts and applies the status.
	Client   client.Client
	Recorder events.EventRecorder
	// Cluster is the ClusterPolicy cluster name this controller serves.
	Cluster string
	// Interval between passes; StablePeriod a node stays below the thresholds before
	// it is a candidate; Backoff the pause after a replacement went Pending.
	Interval, StablePeriod, Backoff time.Duration
	// Scope says which namespaces Ballast acts on: a node with a pod of any other
	// namespace to move is left alone.
	Scope scope.Scope
	// Discover returns the account's commitments for policies whose commitments have
	// source Discover (the commitments controller's); without it, or when it fails,
	// every On-Demand node a commitment could cover is kept.
	Discover coverage.Discover
	// Prices is the price book for the commitments' coverage; the catalogue when nil.
	Prices cost.PriceBook
	// Placement is the cluster's placement watch: no node is emptied while it says
	// Ballast's webhook is not placing pods (their replacements would lose their
	// placement). Nil: not consulted.
	Placement *placement.Watch
	// Pods reads every pod of the cluster from the cache's store, without copies;
	// through Client when nil.
	Pods podstore.Reader
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups=apps,resources=replicasets;statefulsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=ballast.dev,resources=clusterpolicies/status,verbs=get;patch

// outOfScope names the first pod to move whose namespace is not opted in, or "".
func (r *Reconciler) outOfScope(ctx context.Context, pods []*podstore.Pod) (string, error) {
	seen := map[string]bool{}
	for _, p := range pods {
		in, ok := seen[p.Namespace]
		if !ok {
			var err error
			if in, _, err = r.Scope.Check(ctx, r.Client, p.Namespace); err != nil {
				return "", err
			}
			seen[p.Namespace] = in
		}
		if !in {
			return fmt.Sprintf("pod %s/%s is in a namespace Ballast does not act on", p.Namespace, p.Name), nil
		}
	}
	return "", nil
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Reconcile runs one pass.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	policy, err := clusterpolicy.For(ctx, r.Client, r.Cluster)
	if err != nil || policy == nil {
		return reconcile.Result{}, err
	}
	next := reconcile.Result{RequeueAfter: or(r.Interval, DefaultInterval)}
	nodes, pending, err := r.observe(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	st, err := r.pass(ctx, policy, nodes, pending)
	if err != nil {
		return reconcile.Result{}, err
	}
	if st == nil {
		return next, nil
	}
	m, err := status.ToMap(st)
	if err != nil {
		return reconcile.Result{}, err
	}
	return next, status.Apply(ctx, r.Client, v1alpha1.GroupVersion.WithKind("ClusterPolicy"), client.ObjectKey{Name: policy.Name}, FieldManager, map[string]any{"binPacking": m})
}

// observe lists the nodes with their running pods, and the pods the scheduler could
// not place.
func (r *Reconciler) observe(ctx context.Context) ([]*Node, []*podstore.Pod, error) {
	var nl corev1.NodeList
	if err := r.Client.List(ctx, &nl); err != nil {
		return nil, nil, err
	}
	// Every pod of the cluster, read only (the simulation, evictions and events never
	// change a pod): the cache's own objects, without copies, which would double the
	// controller's memory for the pass. Nodes are copied: a pass patches them.
	all, err := podstore.Or(r.Pods, r.Client).All(ctx)
	if err != nil {
		return nil, nil, err
	}
	byName := map[string]*Node{}
	nodes := make([]*Node, 0, len(nl.Items))
	for i := range nl.Items {
		n := &Node{Node: &nl.Items[i]}
		byName[n.Node.Name] = n
		nodes = append(nodes, n)
	}
	var pending []*podstore.Pod
	for _, p := range all {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if p.Spec.NodeName == "" {
			pending = append(pending, p)
			continue
		}
		if n := byName[p.Spec.NodeName]; n != nil && p.DeletionTimestamp == nil {
			n.Pods = append(n.Pods, p)
		}
	}
	return nodes, pending, nil
}

// pass decides and acts; it returns the status to apply (nil: nothing to report).
func (r *Reconciler) pass(ctx context.Context, policy *v1alpha1.ClusterPolicy, nodes []*Node, pending []*podstore.Pod) (*v1alpha1.BinPackingStatus, error) {
	now := r.now()
	pe := policy.Spec.BinPacking.PodEviction
	prev := policy.Status.BinPacking
	if pe == nil || !pe.Enabled {
		return nil, r.release(ctx, nodes)
	}
	st := &v1alpha1.BinPackingStatus{LastPass: metav1.NewTime(now.Truncate(time.Second))}
	if prev != nil {
		st.LastEviction, st.PausedUntil = prev.LastEviction, prev.PausedUntil
	}
	var managed, candidates []*Node
	for _, n := range nodes {
		if !Managed(n.Node, r.Cluster) {
			continue
		}
		managed = append(managed, n)
		ok, err := r.stable(ctx, n, pe, now)
		if err != nil {
			return nil, err
		}
		if ok || Draining(n.Node) {
			candidates = append(candidates, n)
		}
	}
	Order(candidates)
	// A node already draining is finished first.
	for i, c := range candidates {
		if Draining(c.Node) {
			candidates[0], candidates[i] = candidates[i], candidates[0]
			break
		}
	}
	candidates, kept, err := r.keep(ctx, policy, nodes, candidates, now)
	if err != nil {
		return nil, err
	}
	defer func() { st.Message = withNote(st.Message, kept) }()
	if kept != "" && (prev == nil || !strings.Contains(prev.Message, kept)) {
		r.event(policy, corev1.EventTypeNormal, KeptReason, kept)
	}
	for _, n := range candidates {
		if len(st.Candidates) < 50 {
			st.Candidates = append(st.Candidates, n.Node.Name)
		}
	}
	if st.LastEviction != nil && replacementPending(pending, st.LastEviction.Time) {
		until := metav1.NewTime(now.Add(or(r.Backoff, DefaultBackoff)).Truncate(time.Second))
		st.PausedUntil, st.LastEviction = &until, nil
		st.Message = "a replacement of an evicted pod went Pending: bin-packing paused until " + until.UTC().Format(time.RFC3339)
		r.event(policy, corev1.EventTypeWarning, PausedReason, st.Message)
		return st, r.release(ctx, managed)
	}
	if st.PausedUntil != nil && now.Before(st.PausedUntil.Time) {
		st.Message = "paused until " + st.PausedUntil.UTC().Format(time.RFC3339) + " after a replacement went Pending"
		return st, r.release(ctx, managed)
	}
	if !v1alpha1.OperationAllowed(policy.Spec.MaintenanceWindows, v1alpha1.OperationPodEviction, now) {
		st.Message = "waiting for a maintenance window that allows PodEviction"
		return st, r.release(ctx, managed)
	}
	if r.Placement != nil {
		if ok, msg := r.Placement.Placing(now); !ok {
			st.Message = msg
			return st, r.release(ctx, managed)
		}
	}
	if len(candidates) == 0 {
		st.Message = "no node below the thresholds long enough"
		if kept != "" {
			st.Message = "no node to empty"
		}
		return st, r.release(ctx, managed)
	}
	return st, r.drain(ctx, policy, pe, nodes, candidates, waiting(pending), st, now)
}

// drain empties the first candidate (a node already draining comes first) whose pods
// all fit elsewhere, at most maxEvictionsPerPass pods per pass.
func (r *Reconciler) drain(ctx context.Context, policy *v1alpha1.ClusterPolicy, pe *v1alpha1.PodEvictionSpec, nodes, candidates []*Node, waiting []*podstore.Pod, st *v1alpha1.BinPackingStatus, now time.Time) error {
	limit := v1alpha1.DefaultMaxEvictions
	if pe.MaxEvictionsPerPass != nil {
		limit = max(*pe.MaxEvictionsPerPass, 1)
	}
	targetsOf := targets(nodes, candidates)
	var reasons []string
	var chosen *Node
	var pods []*podstore.Pod
	var onto map[string]string
	for _, c := range candidates {
		movable, why := Movable(c, pe.SingleReplica, func(p *podstore.Pod) (int32, bool) { return r.replicas(ctx, p) })
		if why == "" {
			var err error
			if why, err = r.outOfScope(ctx, movable); err != nil {
				return err
			}
		}
		if why == "" {
			onto, why = Place(movable, waiting, targetsOf(c))
		}
		if why != "" {
			reasons = append(reasons, c.Node.Name+": "+why)
			if err := r.untaint(ctx, c.Node); err != nil {
				return err
			}
			continue
		}
		chosen, pods = c, movable
		break
	}
	if chosen == nil {
		st.Message = "no candidate can be emptied: " + strings.Join(reasons, "; ")
		return nil
	}
	if err := r.taint(ctx, chosen.Node); err != nil {
		return err
	}
	e := &evict.Evictor{Client: r.Client, Recorder: r.Recorder}
	var blocked []string
	for _, p := range pods {
		if st.Evicted >= limit {
			break
		}
		out := e.Evict(ctx, evict.Request{Pod: p, Cause: evict.CauseBinPacking})
		switch out.Result {
		case evict.Evicted:
			st.Evicted++
			log.FromContext(ctx).Info("evicted a pod to empty its node", "pod", client.ObjectKeyFromObject(p), "node", chosen.Node.Name, "simulatedOnto", onto[p.Name], "pendingAccountedFor", len(waiting))
		case evict.Blocked:
			blocked = append(blocked, fmt.Sprintf("%s/%s blocked by PodDisruptionBudget", p.Namespace, p.Name))
		case evict.Failed:
			blocked = append(blocked, fmt.Sprintf("%s/%s: %v", p.Namespace, p.Name, out.Err))
		case evict.Skipped:
			blocked = append(blocked, fmt.Sprintf("%s/%s has karpenter.sh/do-not-disrupt", p.Namespace, p.Name))
		}
	}
	if st.Evicted > 0 {
		t := metav1.NewTime(now.Truncate(time.Second))
		st.LastEviction = &t
		r.event(policy, corev1.EventTypeNormal, DrainingReason, fmt.Sprintf("draining node %s: evicted %d of %d pods (at most %d per pass)", chosen.Node.Name, st.Evicted, len(pods), limit))
	}
	if len(blocked) > 0 {
		st.Message = fmt.Sprintf("node %s: %s", chosen.Node.Name, strings.Join(blocked, ", "))
		r.event(policy, corev1.EventTypeWarning, BlockedReason, st.Message)
		if st.Evicted == 0 {
			return r.untaint(ctx, chosen.Node)
		}
	} else {
		st.Message = fmt.Sprintf("draining node %s: evicted %d pods", chosen.Node.Name, st.Evicted)
	}
	st.Draining = []string{chosen.Node.Name}
	return nil
}

// targets returns, for a candidate, the nodes its pods may move to in the simulation:
// every other node, those that are not candidates first, then the other candidates
// fullest first. Light nodes may so be packed onto each other (six nodes a third
// full end as two); a node being drained is never a target (see Fit).
func targets(nodes, candidates []*Node) func(*Node) []*Node {
	isCandidate := map[string]bool{}
	for _, c := range candidates {
		isCandidate[c.Node.Name] = true
	}
	var others []*Node
	for _, n := range nodes {
		if !isCandidate[n.Node.Name] {
			others = append(others, n)
		}
	}
	fullest := slices.Clone(candidates)
	Order(fullest)
	slices.Reverse(fullest)
	return func(c *Node) []*Node {
		out := slices.Clone(others)
		for _, n := range fullest {
			if n != c {
				out = append(out, n)
			}
		}
		return out
	}
}

// stable reports whether the node has been below the thresholds for the stable
// period, recording the first time it was seen below in a node annotation (removed
// when it is not below any more).
func (r *Reconciler) stable(ctx context.Context, n *Node, pe *v1alpha1.PodEvictionSpec, now time.Time) (bool, error) {
	since, has := n.Node.Annotations[UnderusedSinceAnnotation]
	below := Below(pe, UsageOf(n)) && !Disrupting(n.Node)
	switch {
	case below && !has:
		return false, r.annotate(ctx, n.Node, now.UTC().Format(time.RFC3339))
	case !below && has:
		return false, r.annotate(ctx, n.Node, "")
	case !below:
		return false, nil
	}
	t, err := time.Parse(time.RFC3339, since)
	if err != nil {
		return false, r.annotate(ctx, n.Node, now.UTC().Format(time.RFC3339))
	}
	return now.Sub(t) >= or(r.StablePeriod, DefaultStablePeriod), nil
}

func (r *Reconciler) annotate(ctx context.Context, node *corev1.Node, value string) error {
	// A patch of this one key: the cache holds only Ballast's annotations of a node, so a
	// patch computed from the cached node would delete all of its annotations with the
	// last of Ballast's.
	var v any
	if value != "" {
		v = value
	}
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{UnderusedSinceAnnotation: v}}})
	if err != nil {
		return err
	}
	if err := r.Client.Patch(ctx, node, client.RawPatch(types.MergePatchType, data)); err != nil {
		return fmt.Errorf("failed to annotate node %s: %w", node.Name, err)
	}
	return nil
}

// taint adds Ballast's NoSchedule taint, so that evicted pods are not scheduled back.
func (r *Reconciler) taint(ctx context.Context, node *corev1.Node) error {
	if Draining(node) {
		return nil
	}
	patch := client.MergeFromWithOptions(node.DeepCopy(), client.MergeFromWithOptimisticLock{})
	node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: DrainTaint, Value: "draining", Effect: corev1.TaintEffectNoSchedule})
	if err := r.Client.Patch(ctx, node, patch); err != nil {
		return fmt.Errorf("failed to taint node %s: %w", node.Name, err)
	}
	return nil
}

// untaint removes Ballast's taint: the node is not (or no longer) being emptied.
func (r *Reconciler) untaint(ctx context.Context, node *corev1.Node) error {
	if !Draining(node) || node.DeletionTimestamp != nil {
		return nil
	}
	patch := client.MergeFromWithOptions(node.DeepCopy(), client.MergeFromWithOptimisticLock{})
	var keep []corev1.Taint
	for _, t := range node.Spec.Taints {
		if t.Key != DrainTaint {
			keep = append(keep, t)
		}
	}
	node.Spec.Taints = keep
	if err := r.Client.Patch(ctx, node, patch); err != nil {
		return fmt.Errorf("failed to remove the bin-packing taint of node %s: %w", node.Name, err)
	}
	return nil
}

// release removes Ballast's taint from every node it was emptying.
func (r *Reconciler) release(ctx context.Context, nodes []*Node) error {
	for _, n := range nodes {
		if err := r.untaint(ctx, n.Node); err != nil {
			return err
		}
	}
	return nil
}

// replicas says how many replicas the pod's workload wants; ok is false for a bare
// pod or an owner whose replica count Ballast does not know.
func (r *Reconciler) replicas(ctx context.Context, p *podstore.Pod) (int32, bool) {
	o := metav1.GetControllerOf(p)
	if o == nil {
		return 0, false
	}
	key := client.ObjectKey{Namespace: p.Namespace, Name: o.Name}
	switch o.Kind {
	case "ReplicaSet":
		var rs appsv1.ReplicaSet
		if r.Client.Get(ctx, key, &rs) != nil || rs.Spec.Replicas == nil {
			return 0, false
		}
		return *rs.Spec.Replicas, true
	case "StatefulSet":
		var s appsv1.StatefulSet
		if r.Client.Get(ctx, key, &s) != nil || s.Spec.Replicas == nil {
			return 0, false
		}
		return *s.Spec.Replicas, true
	}
	return 0, false
}

// replacementPending reports whether a pod became unschedulable after the last
// eviction: a replacement found no room, so the simulation was wrong.
// waiting returns the pending pods the scheduler has still to place (not those being
// deleted).
func waiting(pending []*podstore.Pod) []*podstore.Pod {
	var out []*podstore.Pod
	for _, p := range pending {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func replacementPending(pending []*podstore.Pod, since time.Time) bool {
	for i := range pending {
		for _, c := range pending[i].Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable &&
				!c.LastTransitionTime.Time.Before(since) {
				return true
			}
		}
	}
	return false
}

func (r *Reconciler) event(policy *v1alpha1.ClusterPolicy, kind, reason, message string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(policy, nil, kind, reason, "BinPacking", "%s", message)
	}
}
