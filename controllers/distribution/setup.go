package distribution

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// SetupWithManager registers the reconciler: it watches its kind of workload, their
// pods, and the rules and policies that decide their split.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	var obj client.Object = &appsv1.Deployment{}
	if r.Kind == KindStatefulSet {
		obj = &appsv1.StatefulSet{}
	}
	// The status flusher runs beside the controller, on the leader like it.
	if err := mgr.Add(manager.RunnableFunc(r.RunStatusFlusher)); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("distribution-"+r.Kind).
		For(obj).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.podToWorkload)).
		// Rules and policies by what decides a split: their spec, and the policy's
		// fallback state. Their status is written often (by this reconciler among
		// others); a write must not make every workload be looked at again.
		Watches(&v1alpha1.WorkloadDistributionRule{}, handler.EnqueueRequestsFromMapFunc(r.namespaceWorkloads),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A namespace that opts in (or out) has its workloads looked at again.
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.namespaceOwnWorkloads),
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Watches(&v1alpha1.ClusterPolicy{}, handler.EnqueueRequestsFromMapFunc(r.allWorkloads),
			builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, fallbackStateChanged))).
		Complete(r)
}

// fallbackStateChanged passes a ClusterPolicy update that changes the fallback state,
// which decides whether replicas beyond the split move back (see Reconcile).
var fallbackStateChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		state := func(o client.Object) v1alpha1.FallbackState {
			if p, ok := o.(*v1alpha1.ClusterPolicy); ok && p.Status.Fallback != nil {
				return p.Status.Fallback.State
			}
			return ""
		}
		return state(e.ObjectOld) != state(e.ObjectNew)
	},
	CreateFunc: func(event.CreateEvent) bool { return true },
	DeleteFunc: func(event.DeleteEvent) bool { return true },
}

// podToWorkload maps a pod to its Deployment (through its ReplicaSet) or StatefulSet.
func (r *Reconciler) podToWorkload(ctx context.Context, o client.Object) []reconcile.Request {
	owner := metav1.GetControllerOf(o)
	if owner == nil {
		return nil
	}
	ns := o.GetNamespace()
	switch {
	case r.Kind == KindStatefulSet && owner.Kind == KindStatefulSet:
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: owner.Name}}}
	case r.Kind == KindDeployment && owner.Kind == KindReplicaSet:
		var rs appsv1.ReplicaSet
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: owner.Name}, &rs); err != nil {
			return nil
		}
		if dep := metav1.GetControllerOf(&rs); dep != nil && dep.Kind == KindDeployment {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: dep.Name}}}
		}
	}
	return nil
}

// namespaceWorkloads maps a rule to every workload of its kind in its namespace.
func (r *Reconciler) namespaceWorkloads(ctx context.Context, o client.Object) []reconcile.Request {
	return r.workloadsIn(ctx, client.InNamespace(o.GetNamespace()))
}

// namespaceOwnWorkloads maps a namespace to every workload of its kind in it.
func (r *Reconciler) namespaceOwnWorkloads(ctx context.Context, o client.Object) []reconcile.Request {
	return r.workloadsIn(ctx, client.InNamespace(o.GetName()))
}

// allWorkloads maps a ClusterPolicy to every workload of its kind.
func (r *Reconciler) allWorkloads(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.workloadsIn(ctx)
}

func (r *Reconciler) workloadsIn(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	var names []types.NamespacedName
	if r.Kind == KindStatefulSet {
		var list appsv1.StatefulSetList
		// Names only: no deep copies of every workload.
		if err := r.Client.List(ctx, &list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
			return nil
		}
		for _, s := range list.Items {
			names = append(names, types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
		}
	} else {
		var list appsv1.DeploymentList
		if err := r.Client.List(ctx, &list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
			return nil
		}
		for _, d := range list.Items {
			names = append(names, types.NamespacedName{Namespace: d.Namespace, Name: d.Name})
		}
	}
	out := make([]reconcile.Request, 0, len(names))
	for _, n := range names {
		out = append(out, reconcile.Request{NamespacedName: n})
	}
	return out
}
