package fallback

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// CacheOptions restricts the cache of Events to Karpenter's insufficient-capacity
// events: the only ones the controller reads, and a small share of a busy cluster's.
func CacheOptions() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&corev1.Event{}: {Field: fields.OneTermEqualSelector("reason", InsufficientCapacityReason)},
	}
}

// SetupWithManager registers the controller and the pod index it reads. Every event
// (the policy, an insufficient-capacity event, a pod taking or leaving a fallback
// role or becoming unschedulable) enqueues the one request for the cluster.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Pods == nil {
		pods, err := podstore.ForManager(ctx, mgr.GetCache())
		if err != nil {
			return err
		}
		r.Pods = pods
	}
	if err := r.Pods.AddIndex(RoleIndex, IndexRole); err != nil {
		return err
	}
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: r.Cluster}}}
	})
	role := func(o client.Object) string {
		p, ok := podstore.Of(o)
		if !ok {
			return ""
		}
		if keys := IndexRole(p); len(keys) > 0 {
			_, unschedulable := pendingSince(p)
			if unschedulable {
				return keys[0] + "+unschedulable"
			}
			return keys[0]
		}
		return ""
	}
	roleChanged := predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return role(e.Object) != "" },
		UpdateFunc: func(e event.UpdateEvent) bool { return role(e.ObjectOld) != role(e.ObjectNew) },
		DeleteFunc: func(e event.DeleteEvent) bool { return role(e.Object) != "" },
	}
	capacity := predicate.NewPredicateFuncs(func(o client.Object) bool {
		e, ok := o.(*corev1.Event)
		return ok && e.Reason == InsufficientCapacityReason
	})
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		p, ok := o.(*v1alpha1.ClusterPolicy)
		return ok && p.Spec.Cluster.Name == r.Cluster
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("fallback").
		Watches(&v1alpha1.ClusterPolicy{}, one, builder.WithPredicates(ours)).
		Watches(&corev1.Event{}, one, builder.WithPredicates(capacity)).
		Watches(&corev1.Pod{}, one, builder.WithPredicates(roleChanged)).
		Complete(r)
}
