package interruption

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
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// SetupWithManager registers the instance index of nodes and NodeClaims and the
// controller: the policy's spec and any change of the Spot NodePool's requirements,
// budgets or steering annotation (another writer) enqueue the one request for the
// cluster; the end of the next exclusion requeues it.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	for _, obj := range []client.Object{&corev1.Node{}, &karpv1.NodeClaim{}} {
		if err := mgr.GetFieldIndexer().IndexField(ctx, obj, InstanceIndex, indexInstance); err != nil {
			return err
		}
	}
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: r.Cluster}}}
	})
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		p, ok := o.(*v1alpha1.ClusterPolicy)
		return ok && p.Spec.Cluster.Name == r.Cluster
	})
	spotPool := render.NodePoolName(r.Cluster, v1alpha1.CapacitySpot)
	steered := predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return e.Object.GetName() == spotPool },
		DeleteFunc: func(event.DeleteEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectNew.GetName() == spotPool && (e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
				e.ObjectOld.GetAnnotations()[render.SteeringAnnotation] != e.ObjectNew.GetAnnotations()[render.SteeringAnnotation])
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("interruption").
		Watches(&v1alpha1.ClusterPolicy{}, one, builder.WithPredicates(ours, predicate.GenerationChangedPredicate{})).
		Watches(&karpv1.NodePool{}, one, builder.WithPredicates(steered)).
		Complete(r)
}
