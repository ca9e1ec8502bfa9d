package source

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// AllNamespaces in a namespace list allows PolicySources in every namespace.
const AllNamespaces = "*"

// NamespacesFlag is the flag of `ballast controller` that allows more namespaces; the
// refusal names it, so that an operator finds it.
const NamespacesFlag = "--policy-source-namespaces"

// namespaceAllowed reports whether allowed (a list of namespaces, or AllNamespaces)
// lets PolicySources in namespace sync. An empty list allows none.
func namespaceAllowed(allowed []string, namespace string) bool {
	return slices.Contains(allowed, AllNamespaces) || slices.Contains(allowed, namespace)
}

// namespaceRefusal says why a PolicySource in namespace is not synced and how an
// operator allows it.
func namespaceRefusal(allowed []string, namespace string) error {
	list := "no namespace"
	if len(allowed) > 0 {
		list = "namespace " + strings.Join(allowed, ", ")
	}
	return fmt.Errorf("PolicySources in namespace %s are not synced: this controller accepts them only from %s; "+
		"the controller's %s flag (the chart's controller.policySourceNamespaces) allows more namespaces", namespace, list, NamespacesFlag)
}

// refuseNamespace handles a PolicySource whose namespace may not hold PolicySources
// that sync: it fetches, reads and applies nothing and says so in Ready (and
// SourceReady), Stalled and an event. Deleting such a PolicySource prunes nothing:
// what it applied while its namespace was allowed is orphaned, so that whoever may
// delete it there cannot make the controller delete anything.
func (r *Reconciler) refuseNamespace(ctx context.Context, obj *v1alpha1.PolicySource, start time.Time) (ctrl.Result, error) {
	refusal := namespaceRefusal(r.Namespaces, obj.Namespace)
	if !obj.DeletionTimestamp.IsZero() {
		if !controllerutil.ContainsFinalizer(obj, Finalizer) {
			return ctrl.Result{}, nil
		}
		if obj.Status.Inventory != nil && len(obj.Status.Inventory.Entries) > 0 {
			r.event(obj, corev1.EventTypeWarning, NamespaceNotAllowedReason,
				fmt.Sprintf("%d objects applied by this source are orphaned, not pruned: %v", len(obj.Status.Inventory.Entries), refusal))
		}
		if err := r.Fetcher.Forget(obj); err != nil {
			logf.FromContext(ctx).Error(err, "failed to remove the fetched files")
		}
		forgetSync(obj)
		base := obj.DeepCopy()
		controllerutil.RemoveFinalizer(obj, Finalizer)
		if err := r.Client.Patch(ctx, obj, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("failed to remove the finalizer: %w", err)
		}
		r.forgetMetrics(obj)
		return ctrl.Result{}, nil
	}
	patch := newStatusPatch(obj)
	conditions.MarkFalse(wrap(obj), SourceReadyCondition, NamespaceNotAllowedReason, "%s", refusal)
	// Only a restart with another allow-list helps: Stalled, and no requeue.
	r.finish(obj, outcome{Failure: &stepError{Condition: SourceReadyCondition, Reason: NamespaceNotAllowedReason, Err: refusal, Stalled: true}})
	boundStatus(obj)
	if err := patch.write(ctx, r.Client, obj); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("failed to patch the status: %w", err)
	}
	r.recordMetrics(obj, start)
	logf.FromContext(ctx).V(1).Info("namespace not allowed; nothing synced")
	return ctrl.Result{}, nil
}

// Impersonator returns what Reconciler.Impersonate needs: clients of the API server at
// cfg that act as a ServiceAccount (rest.ImpersonationConfig, user
// system:serviceaccount:<namespace>:<name>; the API server adds the account's
// groups). cfg's user needs the verb impersonate on that ServiceAccount. opts should
// hold the manager's Scheme and RESTMapper (a client without a mapper discovers the
// API anew) and no HTTPClient: impersonation lives in the HTTP client made from cfg.
// A cfg that impersonates already (a kubeconfig with "as") makes no client:
// impersonation does not nest, and replacing it would act with cfg's own credentials.
func Impersonator(cfg *rest.Config, opts client.Options) func(namespace, name string) (client.Client, error) {
	return func(namespace, name string) (client.Client, error) {
		if cfg.Impersonate.UserName != "" || cfg.Impersonate.UID != "" || len(cfg.Impersonate.Groups) > 0 {
			return nil, fmt.Errorf("the controller's own credentials impersonate %q already, and impersonation does not nest", cfg.Impersonate.UserName)
		}
		c := rest.CopyConfig(cfg)
		c.Impersonate = rest.ImpersonationConfig{UserName: serviceAccountUser(namespace, name)}
		return client.New(c, opts)
	}
}

func serviceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// writer returns the client that applies and prunes obj's objects: the controller's
// own, or one acting as spec.serviceAccountName.
func (r *Reconciler) writer(obj *v1alpha1.PolicySource) (client.Client, error) {
	sa := obj.Spec.ServiceAccountName
	if sa == "" {
		return r.Client, nil
	}
	if r.Impersonate == nil {
		return nil, fmt.Errorf("spec.serviceAccountName is %s, but this controller cannot act as a ServiceAccount", sa)
	}
	c, err := r.Impersonate(obj.Namespace, sa)
	if err != nil {
		return nil, fmt.Errorf("failed to act as ServiceAccount %s/%s: %w", obj.Namespace, sa, err)
	}
	return c, nil
}

// writeFailure is the reason of a failed apply or prune, and its error saying as whom
// when the API server refused it: a refusal only RBAC (or another
// spec.serviceAccountName) fixes is ForbiddenReason.
func writeFailure(obj *v1alpha1.PolicySource, reason string, err error) (string, error) {
	if !apierrors.IsForbidden(err) {
		return reason, err
	}
	who := "the controller's own ServiceAccount"
	if sa := obj.Spec.ServiceAccountName; sa != "" {
		who = fmt.Sprintf("ServiceAccount %s/%s (spec.serviceAccountName)", obj.Namespace, sa)
	}
	return ForbiddenReason, fmt.Errorf("%s lacks a permission: %w", who, err)
}
