package readiness

import (
	"context"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ballast-dev/ballast/controllers/internal/status"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// FieldManager owns Ready and status.observedGeneration.
const FieldManager = "ballast-readiness"

// Reconciler writes Ready on the ClusterPolicy of the cluster and the rules that
// apply to it.
type Reconciler struct {
	// Client reads the objects (usually from a cache) and applies their status.
	Client client.Client
	// Cluster is the ClusterPolicy cluster name the controller serves.
	Cluster string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// +kubebuilder:rbac:groups=ballast.dev,resources=clusterpolicies/status;workloaddistributionrules/status,verbs=get;patch

// SetupWithManager registers one controller for ClusterPolicies and one for rules.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		p, ok := o.(*v1alpha1.ClusterPolicy)
		return ok && p.Spec.Cluster.Name == r.Cluster
	})
	if err := ctrl.NewControllerManagedBy(mgr).Named("readiness-clusterpolicy").
		For(&v1alpha1.ClusterPolicy{}, builder.WithPredicates(ours)).
		Complete(reconcile.Func(r.reconcilePolicy)); err != nil {
		return err
	}
	applies := predicate.NewPredicateFuncs(func(o client.Object) bool {
		w, ok := o.(*v1alpha1.WorkloadDistributionRule)
		return ok && (len(w.Spec.Clusters) == 0 || slices.Contains(w.Spec.Clusters, r.Cluster))
	})
	return ctrl.NewControllerManagedBy(mgr).Named("readiness-rule").
		For(&v1alpha1.WorkloadDistributionRule{}, builder.WithPredicates(applies)).
		Complete(reconcile.Func(r.reconcileRule))
}

func (r *Reconciler) reconcilePolicy(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var p v1alpha1.ClusterPolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &p); err != nil || p.Spec.Cluster.Name != r.Cluster {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	s, reason, msg := PolicyReady(&p)
	return reconcile.Result{}, r.apply(ctx, v1alpha1.GroupVersion.WithKind("ClusterPolicy"), req.NamespacedName, p.Status.Conditions, p.Status.ObservedGeneration, p.Generation, s, reason, msg)
}

func (r *Reconciler) reconcileRule(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var w v1alpha1.WorkloadDistributionRule
	if err := r.Client.Get(ctx, req.NamespacedName, &w); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if len(w.Spec.Clusters) > 0 && !slices.Contains(w.Spec.Clusters, r.Cluster) {
		return reconcile.Result{}, nil
	}
	s, reason, msg := RuleReady(&w)
	return reconcile.Result{}, r.apply(ctx, v1alpha1.GroupVersion.WithKind("WorkloadDistributionRule"), req.NamespacedName, w.Status.Conditions, w.Status.ObservedGeneration, w.Generation, s, reason, msg)
}

// apply writes Ready and observedGeneration when either changed.
func (r *Reconciler) apply(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey, current []metav1.Condition, observed, generation int64, s metav1.ConditionStatus, reason, msg string) error {
	cond := status.Condition(current, ReadyCondition, s, reason, msg, generation, r.now())
	if observed == generation && status.Same(current, cond) {
		return nil
	}
	return status.Apply(ctx, r.Client, gvk, key, FieldManager, map[string]any{"observedGeneration": generation}, cond)
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
