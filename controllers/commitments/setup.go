package commitments

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
)

// SetupWithManager registers the controller: the policy's spec, a node coming, going
// or changing type, capacity type or pool, and a change of the cluster's NodePools
// enqueue the one request for the cluster; otherwise it looks again every Interval
// (discovered commitments change without an event).
func (r *Reconciler) SetupWithManager(_ context.Context, mgr ctrl.Manager) error {
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
			for _, k := range []string{corev1.LabelInstanceTypeStable, karpv1.CapacityTypeLabelKey, karpv1.NodePoolLabelKey, corev1.LabelTopologyZone} {
				if e.ObjectOld.GetLabels()[k] != e.ObjectNew.GetLabels()[k] {
					return true
				}
			}
			return false
		},
	}
	clusterPools := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetLabels()[v1alpha1.ClusterLabel] == r.Cluster
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("commitments").
		Watches(&v1alpha1.ClusterPolicy{}, one, builder.WithPredicates(ours, predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Node{}, one, builder.WithPredicates(nodeChanged)).
		Watches(&karpv1.NodePool{}, one, builder.WithPredicates(clusterPools, predicate.GenerationChangedPredicate{})).
		Complete(r)
}
