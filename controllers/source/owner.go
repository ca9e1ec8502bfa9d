package source

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// Who owns what. A PolicySource owns the objects whose owner labels name it by
// namespace and name (render.OwnerLabels), and applies its cluster only while it holds
// the cluster's claim (claimOf). Both are decided from what the API server holds, the
// labels and the PolicySources with their inventories, so that every replica and every
// sync decides alike.

// servedSources lists the PolicySources this controller serves (the cache holds only
// those: watched namespaces, the watch label selector): the ones that may own objects
// and claim clusters, in the namespaces allowed (a PolicySource refused there never
// holds a claim). Every decision of ownership reads them here.
func servedSources(ctx context.Context, c client.Reader, allowed []string) ([]v1alpha1.PolicySource, error) {
	var list v1alpha1.PolicySourceList
	if err := c.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("failed to list the PolicySources: %w", err)
	}
	// A PolicySource in a namespace not allowed is not served: it never holds a
	// cluster's claim nor owns anything.
	return slices.DeleteFunc(list.Items, func(ps v1alpha1.PolicySource) bool { return !namespaceAllowed(allowed, ps.Namespace) }), nil
}

// keyOf is a PolicySource's identity: its namespace and name.
func keyOf(ps *v1alpha1.PolicySource) types.NamespacedName {
	return types.NamespacedName{Namespace: ps.Namespace, Name: ps.Name}
}

// owns reports whether the PolicySource me owns an object with these labels, which
// me's inventory lists as r. Its owner labels must name me by namespace and name. An
// object a Ballast older than the ballast.dev/source-namespace label applied names its
// source by name only: me owns it when no other PolicySource of that name (in sources,
// the PolicySources this controller serves) lists it in its inventory; when another
// does, who applied it cannot be told and it belongs to neither.
func owns(labels map[string]string, r ref, me types.NamespacedName, sources []v1alpha1.PolicySource) bool {
	if labels[v1alpha1.ClusterLabel] == "" || labels[v1alpha1.SourceLabel] != me.Name {
		return false
	}
	if ns := labels[v1alpha1.SourceNamespaceLabel]; ns != "" {
		return ns == me.Namespace
	}
	for i := range sources {
		ps := &sources[i]
		if ps.Name == me.Name && ps.Namespace != me.Namespace && lists(ps.Status.Inventory, r) {
			return false
		}
	}
	return true
}

// lists reports whether inv lists r, whatever the version it was applied at.
func lists(inv *v1alpha1.ResourceInventory, r ref) bool {
	if inv == nil {
		return false
	}
	id := r.id()
	return slices.ContainsFunc(inv.Entries, func(e v1alpha1.ResourceRef) bool { return e.ID == id })
}

// claim says which PolicySource applies a cluster, and which others render it and wait.
type claim struct {
	// Holder applies the cluster; nil when no PolicySource renders it.
	Holder *v1alpha1.PolicySource
	// Waiting are the other PolicySources of the cluster that are not being deleted,
	// sorted by namespace and name.
	Waiting []types.NamespacedName
}

// claimOf returns the claim on cluster among sources (the PolicySources this
// controller serves). Of the PolicySources whose spec.cluster is cluster, the one that
// applied it first holds it: those whose inventory lists the cluster's node class or
// NodePools come first, then the oldest, then by namespace and name. A PolicySource
// being deleted keeps its claim until it is gone, so that the next one applies only
// after it has pruned (or orphaned) what it applied.
func claimOf(cluster string, sources []v1alpha1.PolicySource) claim {
	var candidates []*v1alpha1.PolicySource
	for i := range sources {
		if sources[i].Spec.Cluster == cluster {
			candidates = append(candidates, &sources[i])
		}
	}
	if len(candidates) == 0 {
		return claim{}
	}
	anchors := clusterAnchors(cluster)
	applied := func(ps *v1alpha1.PolicySource) bool {
		return ps.Status.Inventory != nil && slices.ContainsFunc(ps.Status.Inventory.Entries, func(e v1alpha1.ResourceRef) bool {
			return anchors(e)
		})
	}
	holder := slices.MinFunc(candidates, func(a, b *v1alpha1.PolicySource) int {
		if aa, ba := applied(a), applied(b); aa != ba {
			if aa {
				return -1
			}
			return 1
		}
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	out := claim{Holder: holder}
	for _, ps := range candidates {
		if ps != holder && ps.DeletionTimestamp.IsZero() {
			out.Waiting = append(out.Waiting, keyOf(ps))
		}
	}
	slices.SortFunc(out.Waiting, func(a, b types.NamespacedName) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// clusterAnchors returns a test of inventory entries: whether an entry is one of the
// objects only a sync of cluster applies, its node class and NodePools (their names
// hold the cluster name).
func clusterAnchors(cluster string) func(e v1alpha1.ResourceRef) bool {
	pools := map[string]bool{
		render.NodePoolName(cluster, v1alpha1.CapacityOnDemand): true,
		render.NodePoolName(cluster, v1alpha1.CapacitySpot):     true,
	}
	return func(e v1alpha1.ResourceRef) bool {
		r, err := parseEntry(e)
		if err != nil || r.Namespace != "" {
			return false
		}
		switch {
		case r.GVK.GroupKind() == nodePoolGK:
			return pools[r.Name]
		case strings.HasSuffix(r.GVK.Kind, "NodeClass"):
			return r.Name == render.NodeClassName(cluster)
		}
		return false
	}
}
