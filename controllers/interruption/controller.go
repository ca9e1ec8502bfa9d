package interruption

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/cloud"
	"github.com/ballast-dev/ballast/controllers/internal/clusterpolicy"
	"github.com/ballast-dev/ballast/controllers/internal/status"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// FieldManager owns status.interruptions and, on the Spot NodePool, the steering
// annotation, the requirements and the disruption budgets (shared with the
// PolicySource's apply, which writes the same values: see render.Steer).
const FieldManager = "ballast-interruptions"

// SpotToSpotMinimum is the fewest instance types Karpenter needs in a Spot NodePool
// to replace a Spot node with a cheaper Spot node (Spot-to-Spot consolidation).
const SpotToSpotMinimum = 15

// Events on the ClusterPolicy.
const (
	// ExcludedReason: an instance type left the Spot NodePool because its pool is
	// being reclaimed.
	ExcludedReason = "SpotPoolExcluded"
	// HeldReason: an exclusion was not made because it would leave fewer instance
	// types than the floor.
	HeldReason = "SpotExclusionHeld"
	// ReturnedReason: an excluded instance type is offered again.
	ReturnedReason = "SpotPoolReturned"
)

// Reconciler records the interruption notices of one cluster's Spot nodes and keeps
// its Spot NodePool steered away from the pools being reclaimed. Handle takes notices
// (from Ballast's queue or from Karpenter's events); Reconcile ends exclusions on time
// and repairs the NodePool when something else rewrote it. Both serialise on one lock
// and read the ClusterPolicy and the NodePool from the API server, not a cache, so
// that a notice right after another never works from a stale status.
type Reconciler struct {
	// Client finds nodes and NodeClaims (a cache, indexed by instance ID) and writes.
	Client client.Client
	// API reads the ClusterPolicy and the NodePool without a cache.
	API client.Reader
	// Recorder records events on the ClusterPolicy; none when nil.
	Recorder events.EventRecorder
	// Cluster is the ClusterPolicy cluster name the controller serves.
	Cluster string
	// Shapes is the catalogue the Spot supply is counted from (the built-in one when
	// nil).
	Shapes cost.ShapeBook
	// Book prices the Spot supply of LeastInterrupted clusters for the ranking (the
	// built-in catalogue when nil).
	Book cost.PriceBook
	// Scores answers Spot placement scores for the ranking (a
	// cloud.CachedPlacementScores); without it, every score is unknown.
	Scores cloud.PlacementScoreSource
	// RankEvery is how often a LeastInterrupted cluster's supply is ranked again;
	// DefaultRankEvery when zero.
	RankEvery time.Duration
	// HalfLife of the interruption history; DefaultHalfLife when zero.
	HalfLife time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu         sync.Mutex
	lastRanked time.Time
}

// +kubebuilder:rbac:groups=ballast.dev,resources=clusterpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=ballast.dev,resources=clusterpolicies/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=karpenter.sh,resources=nodeclaims,verbs=get;list;watch
// +kubebuilder:rbac:groups=karpenter.sh,resources=nodepools,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=get;list;watch

// Reconcile ends the exclusions that are over and keeps the NodePool steered.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	next, err := r.update(ctx, nil)
	if err != nil || next.IsZero() {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: max(next.Sub(r.now()), time.Second)}, nil
}

// Notify records the notices of one kind (SpotInterruptionReason or
// RebalanceRecommendationReason) AWS sent at at for instances: each that is a Spot
// node of the cluster counts in the history of its pool and excludes the pool's
// instance type; other instances change nothing. Notify may be called twice for one
// notice: a notice counts once per instance and reason.
func (r *Reconciler) Notify(ctx context.Context, reason string, instanceIDs []string, at time.Time) error {
	var notices []Notice
	for _, id := range instanceIDs {
		n, ok, err := r.notice(ctx, id, reason, at)
		if err != nil {
			return err
		}
		if ok {
			notices = append(notices, n)
		}
	}
	if len(notices) == 0 {
		return nil
	}
	_, err := r.update(ctx, notices)
	return err
}

// notice finds the Spot node (or NodeClaim, when the node is gone or not registered)
// of an instance and makes the notice for its pool.
func (r *Reconciler) notice(ctx context.Context, instanceID, reason string, at time.Time) (Notice, bool, error) {
	var nodes corev1.NodeList
	if err := r.Client.List(ctx, &nodes, client.MatchingFields{InstanceIndex: instanceID}); err != nil {
		return Notice{}, false, fmt.Errorf("failed to find the node of instance %s: %w", instanceID, err)
	}
	labels := map[string]string{}
	switch {
	case len(nodes.Items) > 0:
		labels = nodes.Items[0].Labels
	default:
		var claims karpv1.NodeClaimList
		if err := r.Client.List(ctx, &claims, client.MatchingFields{InstanceIndex: instanceID}); err != nil {
			return Notice{}, false, fmt.Errorf("failed to find the NodeClaim of instance %s: %w", instanceID, err)
		}
		if len(claims.Items) > 0 {
			labels = claims.Items[0].Labels
		}
	}
	n, ok := noticeFor(labels, instanceID, reason, at)
	return n, ok, nil
}

// noticeFor makes the notice of a node with labels, if it is a Spot node.
func noticeFor(labels map[string]string, instanceID, reason string, at time.Time) (Notice, bool) {
	t := labels[corev1.LabelInstanceTypeStable]
	if labels[karpv1.CapacityTypeLabelKey] != karpv1.CapacityTypeSpot || t == "" {
		return Notice{}, false
	}
	return Notice{InstanceID: instanceID, Reason: reason, InstanceType: t, Zone: labels[corev1.LabelTopologyZone], Time: at}, true
}

// InstanceIndex indexes nodes and NodeClaims by the instance ID of their provider ID.
const InstanceIndex = "ballast.instanceID"

// InstanceID is the instance ID a provider ID names: its last path segment
// (aws:///eu-west-1a/i-0123 names i-0123; kwok://node-1 names node-1).
func InstanceID(providerID string) string {
	if providerID == "" {
		return ""
	}
	return providerID[strings.LastIndex(providerID, "/")+1:]
}

// indexInstance is the InstanceIndex of a node or a NodeClaim.
func indexInstance(o client.Object) []string {
	var id string
	switch x := o.(type) {
	case *corev1.Node:
		id = InstanceID(x.Spec.ProviderID)
	case *karpv1.NodeClaim:
		id = InstanceID(x.Status.ProviderID)
	}
	if id == "" {
		return nil
	}
	return []string{id}
}

// update records notices (none for a plain pass), ends what is over, decides the
// exclusions and writes the status and the NodePool where they changed. It returns
// when the next exclusion ends.
func (r *Reconciler) update(ctx context.Context, notices []Notice) (time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	policy, err := clusterpolicy.For(ctx, r.API, r.Cluster)
	if err != nil || policy == nil {
		return time.Time{}, err
	}
	now := r.now()
	spec := policy.DeepCopy()
	spec.Default()
	settings, err := r.settings(spec)
	if err != nil {
		return time.Time{}, err
	}
	before := policy.Status.Interruptions
	st := &v1alpha1.InterruptionsStatus{}
	if before != nil {
		st = before.DeepCopy()
	}
	for _, n := range notices {
		record(st, n, now, settings)
	}
	tidy(st, now, settings)
	r.rank(ctx, spec, st, now, settings.HalfLife)

	pool, err := r.spotPool(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if pool == nil || (spec.Spec.Spot.Enabled != nil && !*spec.Spec.Spot.Enabled) {
		decide(st, nil, settings.Floor)
	} else {
		decide(st, r.supply(pool, st), settings.Floor)
	}
	if err := r.writeStatus(ctx, policy, before, st); err != nil {
		return time.Time{}, err
	}
	if pool != nil {
		if err := r.steer(ctx, pool, st); err != nil {
			return time.Time{}, err
		}
	}
	r.report(policy, before, st, notices, now)
	next := nextChange(st)
	if len(st.PreferredInstanceTypes) > 0 {
		if again := r.lastRanked.Add(r.rankEvery()); next.IsZero() || again.Before(next) {
			next = again
		}
	}
	return next, nil
}

// settings reads the policy's steering settings (defaulted).
func (r *Reconciler) settings(p *v1alpha1.ClusterPolicy) (Settings, error) {
	in := p.Spec.Spot.Interruptions
	excludeFor, err := in.ExcludeFor.Parse()
	if err != nil {
		return Settings{}, fmt.Errorf("spec.spot.interruptions.excludeFor: %w", err)
	}
	floor := int(*in.MinInstanceTypes)
	if p.Spec.BinPacking.SpotToSpotConsolidation {
		floor = max(floor, SpotToSpotMinimum)
	}
	halfLife := r.HalfLife
	if halfLife <= 0 {
		halfLife = DefaultHalfLife
	}
	return Settings{ExcludeFor: excludeFor, Floor: floor, HalfLife: halfLife}, nil
}

// spotPool reads the cluster's Spot NodePool; nil when there is none.
func (r *Reconciler) spotPool(ctx context.Context) (*karpv1.NodePool, error) {
	var np karpv1.NodePool
	err := r.API.Get(ctx, client.ObjectKey{Name: render.NodePoolName(r.Cluster, v1alpha1.CapacitySpot)}, &np)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read the Spot NodePool: %w", err)
	}
	return &np, nil
}

// supply is what the Spot NodePool offers without exclusions: the types its
// requirements (without steering) allow, among the preferred ones when there are.
func (r *Reconciler) supply(pool *karpv1.NodePool, st *v1alpha1.InterruptionsStatus) []string {
	shapes := r.Shapes
	if shapes == nil {
		shapes = cost.DefaultCatalogue()
	}
	seen := make([]string, 0, len(st.Exclusions))
	for _, e := range st.Exclusions {
		seen = append(seen, e.InstanceType)
	}
	types := Supply(render.Unsteered(pool), shapes, seen...)
	if len(st.PreferredInstanceTypes) > 0 {
		types = slices.DeleteFunc(types, func(t string) bool { return !slices.Contains(st.PreferredInstanceTypes, t) })
	}
	return types
}

// writeStatus applies status.interruptions when it changed.
// When nothing is left, the field is removed with a merge patch: an apply of an
// empty object would be an empty status, which the API refuses.
func (r *Reconciler) writeStatus(ctx context.Context, policy *v1alpha1.ClusterPolicy, before, st *v1alpha1.InterruptionsStatus) error {
	if empty(st) {
		if before == nil {
			return nil
		}
		patch := client.RawPatch(types.MergePatchType, []byte(`{"status":{"interruptions":null}}`))
		if err := r.Client.Status().Patch(ctx, &v1alpha1.ClusterPolicy{ObjectMeta: metav1.ObjectMeta{Name: policy.Name}}, patch); err != nil {
			return fmt.Errorf("failed to clear status.interruptions: %w", err)
		}
		return nil
	}
	if apiequality.Semantic.DeepEqual(before, st) {
		return nil
	}
	m, err := status.ToMap(st)
	if err != nil {
		return err
	}
	fields := map[string]any{"interruptions": m}
	if err := status.Apply(ctx, r.Client, v1alpha1.GroupVersion.WithKind(v1alpha1.ClusterPolicyKind), client.ObjectKey{Name: policy.Name}, FieldManager, fields); err != nil {
		return fmt.Errorf("failed to write status.interruptions: %w", err)
	}
	return nil
}

// steer applies the steering of st to the Spot NodePool when the live one differs.
func (r *Reconciler) steer(ctx context.Context, live *karpv1.NodePool, st *v1alpha1.InterruptionsStatus) error {
	want := live.DeepCopy()
	render.Steer(want, st)
	annotation, steered := want.Annotations[render.SteeringAnnotation]
	if _, was := live.Annotations[render.SteeringAnnotation]; was && !steered {
		// The PolicySource may own the annotation too, and an apply without it would
		// leave its old value: write one that names nothing.
		annotation, steered = "{}", true
	}
	if apiequality.Semantic.DeepEqual(want.Spec.Template.Spec.Requirements, live.Spec.Template.Spec.Requirements) &&
		apiequality.Semantic.DeepEqual(want.Spec.Disruption.Budgets, live.Spec.Disruption.Budgets) &&
		annotation == live.Annotations[render.SteeringAnnotation] {
		return nil
	}
	reqs, err := toList(want.Spec.Template.Spec.Requirements)
	if err != nil {
		return err
	}
	budgets, err := toList(want.Spec.Disruption.Budgets)
	if err != nil {
		return err
	}
	meta := map[string]any{"name": live.Name}
	if steered {
		meta["annotations"] = map[string]any{render.SteeringAnnotation: annotation}
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": meta,
		"spec": map[string]any{
			"template":   map[string]any{"spec": map[string]any{"requirements": reqs}},
			"disruption": map[string]any{"budgets": budgets},
		},
	}}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("failed to steer NodePool %s: %w", live.Name, err)
	}
	return nil
}

// toList converts a typed list to its unstructured form.
func toList[T any](items []T) ([]any, error) {
	out := make([]any, 0, len(items))
	for i := range items {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// report records events and metrics for what changed.
func (r *Reconciler) report(policy *v1alpha1.ClusterPolicy, before, after *v1alpha1.InterruptionsStatus, notices []Notice, now time.Time) {
	var was []string
	held := map[string]bool{}
	if before != nil {
		was = before.ExcludedInstanceTypes
		for _, e := range before.Exclusions {
			if !e.Applied {
				held[e.InstanceType] = true
			}
		}
	}
	for _, t := range after.ExcludedInstanceTypes {
		if !slices.Contains(was, t) {
			r.event(policy, corev1.EventTypeNormal, ExcludedReason, fmt.Sprintf("instance type %s is left out of the Spot NodePool until %s: %s", t, until(after, t).UTC().Format(time.RFC3339), why(after, t)))
		}
	}
	for _, t := range was {
		if !slices.Contains(after.ExcludedInstanceTypes, t) {
			r.event(policy, corev1.EventTypeNormal, ReturnedReason, fmt.Sprintf("instance type %s is offered by the Spot NodePool again", t))
		}
	}
	for _, e := range after.Exclusions {
		if !e.Applied && !held[e.InstanceType] && !slices.Contains(after.ExcludedInstanceTypes, e.InstanceType) {
			held[e.InstanceType] = true
			r.event(policy, corev1.EventTypeWarning, HeldReason, fmt.Sprintf("instance type %s (%s in %s) stays in the Spot NodePool: leaving it out would leave fewer instance types than the floor (spec.spot.interruptions.minInstanceTypes)", e.InstanceType, e.Reason, e.Zone))
		}
	}
	observe(r.Cluster, after, notices, now, r.halfLife())
	if len(notices) > 0 {
		log.Log.WithName("interruption").Info("recorded interruption notices", "cluster", r.Cluster, "notices", len(notices), "excluded", after.ExcludedInstanceTypes)
	}
}

// until is when the exclusion of type t ends (the latest of its pools).
func until(st *v1alpha1.InterruptionsStatus, t string) time.Time {
	var u time.Time
	for _, e := range st.Exclusions {
		if e.InstanceType == t && e.Until.After(u) {
			u = e.Until.Time
		}
	}
	return u
}

// why says which notice excluded type t.
func why(st *v1alpha1.InterruptionsStatus, t string) string {
	for _, e := range st.Exclusions {
		if e.InstanceType == t {
			return fmt.Sprintf("%s in %s at %s", e.Reason, e.Zone, e.Since.UTC().Format(time.RFC3339))
		}
	}
	return ""
}

func (r *Reconciler) halfLife() time.Duration {
	if r.HalfLife > 0 {
		return r.HalfLife
	}
	return DefaultHalfLife
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) event(policy *v1alpha1.ClusterPolicy, kind, reason, message string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(policy, nil, kind, reason, "Steer", "%s", message)
	}
}
