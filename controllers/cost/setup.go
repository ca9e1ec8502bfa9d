package cost

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// SetupWithManager registers the controller: the policy of the cluster, and a node
// coming, going or changing capacity type, enqueue the one request for the cluster;
// otherwise it prices every Interval.
func (r *Reconciler) SetupWithManager(_ context.Context, mgr ctrl.Manager) error {
	if r.Prices == nil {
		r.Prices = &Prices{}
	}
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: r.Cluster}}}
	})
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		p, ok := o.(*v1alpha1.ClusterPolicy)
		return ok && p.Spec.Cluster.Name == r.Cluster
	})
	nodeChanged := predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return true },
		DeleteFunc: func(event.DeleteEvent) bool { return true },
		UpdateFunc: func(e event.UpdateEvent) bool {
			for _, k := range []string{corev1.LabelInstanceTypeStable, "karpenter.sh/capacity-type", v1alpha1.CapacityLabel} {
				if e.ObjectOld.GetLabels()[k] != e.ObjectNew.GetLabels()[k] {
					return true
				}
			}
			return false
		},
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("cost").
		// The spec only: the status is written by this and other controllers, and
		// reacting to every write would run a pass per write.
		Watches(&v1alpha1.ClusterPolicy{}, one, builder.WithPredicates(ours, predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Node{}, one, builder.WithPredicates(nodeChanged)).
		Complete(r)
}
