package commitments

import (
	"context"
	"errors"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/controllers/internal/clusterpolicy"
	"github.com/ballast-dev/ballast/controllers/internal/coverage"
	"github.com/ballast-dev/ballast/controllers/internal/status"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// FieldManager owns the committed NodePool, status.commitments and the
// CommitmentsReady condition.
const FieldManager = "ballast-commitments"

// DefaultInterval is how often the commitments are read again when nothing changes.
const DefaultInterval = 5 * time.Minute

// PoolChangedReason is the Normal event on the ClusterPolicy when the committed
// NodePool is created, deleted or its limits change; a failed pass is a Warning
// with the reason of CommitmentsReady (e.g. DiscoveryFailed), once per failure.
const PoolChangedReason = "CommittedPoolChanged"

// Reconciler keeps the committed NodePool of one cluster.
type Reconciler struct {
	// Client reads nodes, NodePools and the ClusterPolicy (usually from a cache) and
	// applies the NodePool and the status.
	Client client.Client
	// Recorder records events on the ClusterPolicy; none when nil.
	Recorder events.EventRecorder
	// Cluster is the ClusterPolicy cluster name the controller serves.
	Cluster string
	// Discover returns the Reserved Instances and Savings Plans of the account in a
	// region, for commitments with source Discover; nil until wired to AWS, and then
	// the CommitmentsReady condition says discovery is not configured.
	Discover coverage.Discover
	// Prices is the price book (rates and instance shapes); the built-in catalogue
	// when nil.
	Prices cost.PriceBook
	// Interval between passes; DefaultInterval when zero.
	Interval time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// +kubebuilder:rbac:groups=ballast.dev,resources=clusterpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=ballast.dev,resources=clusterpolicies/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=karpenter.sh,resources=nodepools,verbs=get;list;watch;create;patch;delete

// Reconcile runs one pass: commitments, nodes, the committed pool, the status.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	policy, err := clusterpolicy.For(ctx, r.Client, r.Cluster)
	if err != nil {
		return reconcile.Result{}, err
	}
	name := PoolName(r.Cluster)
	if !coverage.Enabled(policy) {
		gone, err := r.deletePool(ctx, name)
		if gone && policy != nil {
			r.event(policy, corev1.EventTypeNormal, PoolChangedReason, "deleted the committed NodePool "+name+": commitments are disabled")
		}
		if err != nil || policy == nil {
			return reconcile.Result{}, err
		}
		// The node pools' committed pools launch no more; empty ones go.
		var nodes corev1.NodeList
		if err := r.Client.List(ctx, &nodes); err != nil {
			return reconcile.Result{}, err
		}
		changes, err := r.applySiblings(ctx, nil, nodes.Items, shapes(r.book()))
		for _, c := range changes {
			r.event(policy, corev1.EventTypeNormal, PoolChangedReason, c)
		}
		return reconcile.Result{}, err
	}
	now := r.now()
	obs, err := r.observe(ctx, policy, now)
	var cond metav1.Condition
	switch {
	case err != nil:
		// The pool and status.commitments keep the last good answer.
		s, reason, msg := failed(err)
		cond = status.Condition(policy.Status.Conditions, ReadyCondition, s, reason, msg, policy.Generation, now)
	default:
		change, err := r.applyPool(ctx, name, obs)
		if err != nil {
			s, reason, msg := failed(err)
			cond = status.Condition(policy.Status.Conditions, ReadyCondition, s, reason, msg, policy.Generation, now)
			break
		}
		if change != "" {
			r.event(policy, corev1.EventTypeNormal, PoolChangedReason, change)
		}
		changes, err := r.applySiblings(ctx, obs.siblings, obs.nodes, obs.shapes)
		for _, c := range changes {
			r.event(policy, corev1.EventTypeNormal, PoolChangedReason, c)
		}
		if err != nil {
			s, reason, msg := failed(err)
			cond = status.Condition(policy.Status.Conditions, ReadyCondition, s, reason, msg, policy.Generation, now)
			break
		}
		cond = status.Condition(policy.Status.Conditions, ReadyCondition, metav1.ConditionTrue, AppliedReason, obs.message(), policy.Generation, now)
	}
	if cond.Status == metav1.ConditionFalse && !status.Same(policy.Status.Conditions, cond) {
		// Once per failure: a failure that repeats leaves the condition as it is.
		r.event(policy, corev1.EventTypeWarning, cond.Reason, cond.Message)
	}
	fields := map[string]any{}
	if err == nil {
		st := statusOf(obs.unused, now)
		if !sameStatus(policy.Status.Commitments, st) {
			m, err := status.ToMap(st)
			if err != nil {
				return reconcile.Result{}, err
			}
			fields["commitments"] = m
		}
	}
	if len(fields) > 0 || !status.Same(policy.Status.Conditions, cond) {
		if policy.Status.Commitments != nil && fields["commitments"] == nil {
			// Keep the field this manager owns: an apply without it would remove it.
			m, err := status.ToMap(policy.Status.Commitments)
			if err != nil {
				return reconcile.Result{}, err
			}
			fields["commitments"] = m
		}
		if err := status.Apply(ctx, r.Client, v1alpha1.GroupVersion.WithKind("ClusterPolicy"), client.ObjectKey{Name: policy.Name}, FieldManager, fields, cond); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{RequeueAfter: r.interval()}, nil
}

// observation is what one pass read and computed.
type observation struct {
	unused   cost.UnusedCommitment
	onDemand *karpv1.NodePool
	pool     poolSpec
	// siblings are the committed pools of the pools of spec.nodePools with
	// commitments; nodes and shapes what they were planned from.
	siblings []sibling
	nodes    []corev1.Node
	shapes   cost.ShapeBook
}

// observe reads the commitments, the nodes and the On-Demand NodePool and computes
// the committed pool.
func (r *Reconciler) observe(ctx context.Context, policy *v1alpha1.ClusterPolicy, now time.Time) (*observation, error) {
	c, err := coverage.Read(ctx, policy, r.Discover, now)
	if err != nil {
		return nil, err
	}
	region := policy.Spec.Cluster.Region
	var nodes corev1.NodeList
	if err := r.Client.List(ctx, &nodes); err != nil {
		return nil, err
	}
	in := cost.Cluster{}
	for _, n := range nodes.Items {
		if n.Labels[corev1.LabelInstanceTypeStable] != "" || n.Labels[corev1.LabelInstanceType] != "" {
			in.Nodes = append(in.Nodes, n)
		}
	}
	w, err := cost.FromCluster(in)
	if err != nil {
		return nil, err
	}
	book := r.book()
	unused, err := cost.Unused(c, w.Nodes, region, book, cost.SupplyTypes(policy, book))
	if err != nil {
		return nil, err
	}
	var od karpv1.NodePool
	if err := r.Client.Get(ctx, client.ObjectKey{Name: render.NodePoolName(r.Cluster, v1alpha1.CapacityOnDemand)}, &od); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, errNoOnDemandPool
		}
		return nil, err
	}
	// The pools of spec.nodePools take their reservations first; the default
	// supply's committed pool gets the rest. status.commitments reports them all.
	rest := cost.UnusedCommitment{Reserved: slices.Clone(unused.Reserved), SavingsPlans: unused.SavingsPlans}
	sib, err := r.siblings(ctx, policy, &rest, nodes.Items, shapes(book))
	if err != nil {
		return nil, err
	}
	pool, err := plan(rest, own(nodes.Items, PoolName(r.Cluster)), shapes(book))
	if err != nil {
		return nil, err
	}
	return &observation{unused: unused, onDemand: &od, pool: pool, siblings: sib, nodes: nodes.Items, shapes: shapes(book)}, nil
}

func (r *Reconciler) book() cost.PriceBook {
	if r.Prices != nil {
		return r.Prices
	}
	return cost.DefaultCatalogue()
}

func shapes(book cost.PriceBook) cost.ShapeBook {
	if s, ok := book.(cost.ShapeBook); ok {
		return s
	}
	return cost.DefaultCatalogue()
}

var errNoOnDemandPool = errors.New("the rendered On-Demand NodePool does not exist yet; the committed pool copies its template")

func (r *Reconciler) interval() time.Duration {
	if r.Interval > 0 {
		return r.Interval
	}
	return DefaultInterval
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) event(policy *v1alpha1.ClusterPolicy, kind, reason, message string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(policy, nil, kind, reason, "Commitments", "%s", message)
	}
}
