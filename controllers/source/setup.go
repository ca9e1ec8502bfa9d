package source

import (
	"context"
	"fmt"
	"slices"

	"github.com/fluxcd/pkg/runtime/predicates"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// sourceRefIndex indexes PolicySources by the Flux source they consume:
// <Kind>/<namespace>/<name>.
const sourceRefIndex = ".spec.sourceRef"

// SetupOptions tune the controller.
type SetupOptions struct {
	// MaxConcurrentReconciles is how many PolicySources sync at once; 1 when 0.
	MaxConcurrentReconciles int
	// RateLimiter paces retries of failing PolicySources; controller-runtime's default
	// when nil.
	RateLimiter workqueue.TypedRateLimiter[reconcile.Request]
	// WatchFluxSources watches Flux GitRepositories and OCIRepositories, so that a new
	// artifact syncs at once. Each kind is watched only when its CRD is installed.
	WatchFluxSources bool
}

// SetupWithManager registers the reconciler: it watches PolicySources (a new
// generation or a reconcile.fluxcd.io/requestedAt; and the other sources of their
// cluster, see claimChanged) and, when asked, the Flux sources they consume (a new
// artifact).
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts SetupOptions) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.PolicySource{}, sourceRefIndex, indexSourceRef); err != nil {
		return fmt.Errorf("failed to index PolicySources by source: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("policysource").
		For(&v1alpha1.PolicySource{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicates.ReconcileRequestedPredicate{},
		))).
		// The claim on a cluster changes hands when its holder goes or serves another
		// cluster; a new source of the cluster is named in the holder's condition.
		Watches(&v1alpha1.PolicySource{}, handler.EnqueueRequestsFromMapFunc(r.sameCluster), builder.WithPredicates(claimChanged{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(opts.MaxConcurrentReconciles, 1), RateLimiter: opts.RateLimiter})
	if opts.WatchFluxSources {
		for _, kind := range []string{sourcev1.GitRepositoryKind, sourcev1.OCIRepositoryKind} {
			gvk := sourcev1.GroupVersion.WithKind(kind)
			if _, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
				if apimeta.IsNoMatchError(err) {
					logf.FromContext(ctx).Info("Flux source kind not installed; not watching it", "kind", kind)
					continue
				}
				return fmt.Errorf("failed to look up %s: %w", kind, err)
			}
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(gvk)
			b = b.Watches(u, handler.EnqueueRequestsFromMapFunc(r.forSource(kind)),
				builder.WithPredicates(artifactChanged{}))
		}
	}
	return b.Complete(r)
}

// indexSourceRef is the index function of sourceRefIndex.
func indexSourceRef(o client.Object) []string {
	ps, ok := o.(*v1alpha1.PolicySource)
	if !ok || ps.Spec.SourceRef == nil {
		return nil
	}
	ns := ps.Spec.SourceRef.Namespace
	if ns == "" {
		ns = ps.Namespace
	}
	return []string{sourceKey(ps.Spec.SourceRef.Kind, ns, ps.Spec.SourceRef.Name)}
}

func sourceKey(kind, namespace, name string) string {
	return kind + "/" + namespace + "/" + name
}

// forSource maps a Flux source of kind to the PolicySources consuming it.
func (r *Reconciler) forSource(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var list v1alpha1.PolicySourceList
		if err := r.Client.List(ctx, &list, client.MatchingFields{sourceRefIndex: sourceKey(kind, o.GetNamespace(), o.GetName())}); err != nil {
			logf.FromContext(ctx).Error(err, "failed to list the PolicySources of a Flux source", "kind", kind, "name", o.GetName())
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for _, ps := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ps.Namespace, Name: ps.Name}})
		}
		return out
	}
}

// sameCluster maps a PolicySource to the other PolicySources of its cluster: those
// whose claim (claimOf) it may change. On an update it is called for the old and the
// new object, so both clusters of a source that changes cluster are covered.
func (r *Reconciler) sameCluster(ctx context.Context, o client.Object) []reconcile.Request {
	changed, ok := o.(*v1alpha1.PolicySource)
	if !ok {
		return nil
	}
	sources, err := servedSources(ctx, r.Client, r.Namespaces)
	if err != nil {
		logf.FromContext(ctx).Error(err, "failed to find the PolicySources of a cluster", "cluster", changed.Spec.Cluster)
		return nil
	}
	var out []reconcile.Request
	for _, ps := range sources {
		if ps.Spec.Cluster == changed.Spec.Cluster && keyOf(&ps) != keyOf(changed) {
			out = append(out, reconcile.Request{NamespacedName: keyOf(&ps)})
		}
	}
	return out
}

// claimChanged passes the PolicySource events that may change a claim: a source
// created or gone, one changing cluster, being deleted, or whose inventory changed
// (it applied or released a cluster). Status writes that change only conditions
// pass nothing, so that two sources of one cluster never wake each other in turn.
type claimChanged struct{ predicate.Funcs }

// Create passes every new source.
func (claimChanged) Create(event.CreateEvent) bool { return true }

// Delete passes every source gone.
func (claimChanged) Delete(event.DeleteEvent) bool { return true }

// Update passes a change of cluster, deletion or inventory.
func (claimChanged) Update(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*v1alpha1.PolicySource)
	n, ok2 := e.ObjectNew.(*v1alpha1.PolicySource)
	if !ok1 || !ok2 {
		return false
	}
	return o.Spec.Cluster != n.Spec.Cluster || o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero() ||
		!sameInventory(o.Status.Inventory, n.Status.Inventory)
}

// Generic passes nothing.
func (claimChanged) Generic(event.GenericEvent) bool { return false }

// artifactChanged passes a Flux source whose artifact revision or digest changed.
type artifactChanged struct{ predicate.Funcs }

// Create passes sources that already have an artifact.
func (artifactChanged) Create(e event.CreateEvent) bool { return artifactOf(e.Object) != "" }

// Update passes a new artifact.
func (artifactChanged) Update(e event.UpdateEvent) bool {
	return artifactOf(e.ObjectNew) != "" && artifactOf(e.ObjectNew) != artifactOf(e.ObjectOld)
}

// Delete passes nothing: a PolicySource keeps its objects when its source goes away.
func (artifactChanged) Delete(event.DeleteEvent) bool { return false }

// artifactOf returns the revision and digest of o's artifact, "" when it has none.
func artifactOf(o client.Object) string {
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		return ""
	}
	rev, _, _ := unstructured.NestedString(u.Object, "status", "artifact", "revision")
	digest, _, _ := unstructured.NestedString(u.Object, "status", "artifact", "digest")
	if rev == "" {
		return ""
	}
	return rev + "|" + digest
}

// SetupWithManager registers the status-file controller: it watches PolicySources
// (every change of their status, which a sync patches) and the ClusterPolicies and
// rules whose status holds the runtime figures of a PolicySource's cluster.
func (r *StatusFileReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("policysource-statusfile").
		For(&v1alpha1.PolicySource{}).
		Watches(&v1alpha1.ClusterPolicy{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			p, ok := o.(*v1alpha1.ClusterPolicy)
			if !ok {
				return nil
			}
			return r.withStatusFile(ctx, func(cluster string) bool { return cluster == p.Spec.Cluster.Name })
		})).
		Watches(&v1alpha1.WorkloadDistributionRule{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			rule, ok := o.(*v1alpha1.WorkloadDistributionRule)
			if !ok {
				return nil
			}
			return r.withStatusFile(ctx, func(cluster string) bool {
				return len(rule.Spec.Clusters) == 0 || slices.Contains(rule.Spec.Clusters, cluster)
			})
		})).
		Complete(r)
}

// withStatusFile lists the PolicySources with a status file whose cluster matches.
func (r *StatusFileReconciler) withStatusFile(ctx context.Context, cluster func(string) bool) []reconcile.Request {
	var list v1alpha1.PolicySourceList
	if err := r.Client.List(ctx, &list); err != nil {
		logf.FromContext(ctx).Error(err, "failed to list the PolicySources")
		return nil
	}
	var out []reconcile.Request
	for _, ps := range list.Items {
		if statusFileSpec(&ps) != nil && cluster(ps.Spec.Cluster) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ps.Namespace, Name: ps.Name}})
		}
	}
	return out
}
