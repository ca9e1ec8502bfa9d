package binpacking

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// SetupWithManager registers the controller: one request for the cluster, enqueued by
// a change of its ClusterPolicy's spec and otherwise every Interval.
func (r *Reconciler) SetupWithManager(_ context.Context, mgr ctrl.Manager) error {
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: r.Cluster}}}
	})
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		p, ok := o.(*v1alpha1.ClusterPolicy)
		return ok && p.Spec.Cluster.Name == r.Cluster
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("binpacking").
		Watches(&v1alpha1.ClusterPolicy{}, one, builder.WithPredicates(ours, predicate.GenerationChangedPredicate{})).
		Complete(r)
}
