// Package scope decides which namespaces Ballast's runtime acts on. Distribution is
// opt-in: a namespace is in scope only when it carries the label
// ballast.dev/distribution=enabled, and Ballast's own namespace and the system
// namespaces are never in scope, even when labelled. The admission webhook, the drift
// reconciler and every later runtime controller ask this one function, so that
// nothing the webhook would leave alone is ever evicted.
package scope

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// SystemNamespaces are never in scope.
var SystemNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

// Scope is the set of namespaces distribution acts on.
type Scope struct {
	// Own is Ballast's own namespace; never in scope.
	Own string
	// Excluded namespaces are never in scope either, labelled or not.
	Excluded []string
}

// Includes reports whether distribution acts on the namespace, and if not, why.
func (s Scope) Includes(ns *corev1.Namespace) (bool, string) {
	if ns == nil {
		return false, "namespace unknown"
	}
	switch {
	case slices.Contains(SystemNamespaces, ns.Name):
		return false, "system namespace"
	case ns.Name == s.Own:
		return false, "Ballast's own namespace"
	case slices.Contains(s.Excluded, ns.Name):
		return false, "namespace excluded by --exclude-namespaces"
	case ns.DeletionTimestamp != nil:
		return false, "namespace being deleted"
	case ns.Labels[v1alpha1.DistributionLabel] != v1alpha1.DistributionEnabled:
		return false, fmt.Sprintf("namespace not opted in (label %s=%s)", v1alpha1.DistributionLabel, v1alpha1.DistributionEnabled)
	}
	return true, ""
}

// Check reads the namespace (usually from a cache) and reports whether it is in
// scope. A namespace that cannot be found is out of scope.
func (s Scope) Check(ctx context.Context, c client.Reader, namespace string) (bool, string, error) {
	if namespace == "" {
		return false, "cluster-scoped object", nil
	}
	var ns corev1.Namespace
	if err := c.Get(ctx, client.ObjectKey{Name: namespace}, &ns); err != nil {
		if apierrors.IsNotFound(err) {
			return false, "namespace not found", nil
		}
		return false, "", fmt.Errorf("failed to read namespace %s: %w", namespace, err)
	}
	ok, why := s.Includes(&ns)
	return ok, why, nil
}

// NamespaceSelector is the namespaceSelector of Ballast's webhooks: the opt-in label,
// and none of the namespaces that are never in scope. The API server then does not
// even call the webhook for other namespaces; Includes still checks every request.
func (s Scope) NamespaceSelector() *metav1.LabelSelector {
	never := append(slices.Clone(SystemNamespaces), s.Excluded...)
	if s.Own != "" {
		never = append(never, s.Own)
	}
	slices.Sort(never)
	return &metav1.LabelSelector{
		MatchLabels: map[string]string{v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled},
		MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: slices.Compact(never),
		}},
	}
}
