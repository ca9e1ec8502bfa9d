package limits

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

	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// SetupWithManager registers the controller and the pod index it needs. Every event
// (the policy, a NodePool, a NodeClaim, a pod becoming or ceasing to be
// unschedulable) enqueues the one request for the cluster.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Pods == nil {
		pods, err := podstore.ForManager(ctx, mgr.GetCache())
		if err != nil {
			return err
		}
		r.Pods = pods
	}
	if err := r.Pods.AddIndex(UnschedulableIndex, IndexUnschedulable); err != nil {
		return err
	}
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: r.Cluster}}}
	})
	pendingChanged := predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return unschedulable(e.Object) },
		UpdateFunc:  func(e event.UpdateEvent) bool { return unschedulable(e.ObjectOld) != unschedulable(e.ObjectNew) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return unschedulable(e.Object) },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("limits").
		Watches(&v1alpha1.ClusterPolicy{}, one).
		Watches(&karpv1.NodePool{}, one, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetLabels()[v1alpha1.ClusterLabel] == r.Cluster
		}))).
		Watches(&karpv1.NodeClaim{}, one).
		Watches(&corev1.Pod{}, one, builder.WithPredicates(pendingChanged)).
		Complete(r)
}
