package fallback

import (
	"cmp"
	"context"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ballast-dev/ballast/controllers/internal/coverage"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// mirrorAnnotation marks the API server's copy of a static pod.
const mirrorAnnotation = "kubernetes.io/config.mirror"

// busies reports whether a pod keeps its node from being empty in Karpenter's eyes:
// bound to it, neither finished nor terminating, and neither a DaemonSet's pod nor a
// static pod (Karpenter removes a node that runs only those).
func busies(p *podstore.Pod) bool {
	if p.Spec.NodeName == "" || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed ||
		p.Annotations[mirrorAnnotation] != "" {
		return false
	}
	o := metav1.GetControllerOf(p)
	return o == nil || (o.Kind != "DaemonSet" && o.Kind != "Node")
}

// returnOrder orders the fallback replicas for a return and says which stay. others
// counts, per node, the pods that keep it busy besides these replicas; covering names
// the nodes that cover a commitment. Replicas on other nodes (or on none) go first,
// oldest first: their nodes may empty and go. Then the replicas on covering nodes,
// oldest first, except that a covering node keeps one workload pod: when nothing else
// keeps it busy, its newest fallback replica stays (kept), since an empty node is
// removed by Karpenter and its commitment goes unused, while the replica runs there
// prepaid.
func returnOrder(fallback []*podstore.Pod, others map[string]int, covering map[string]bool) (order, kept []*podstore.Pod) {
	sorted := slices.Clone(fallback)
	slices.SortStableFunc(sorted, func(a, b *podstore.Pod) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), strings.Compare(a.Name, b.Name))
	})
	var onCovering []*podstore.Pod
	for _, p := range sorted {
		if covering[p.Spec.NodeName] && p.Spec.NodeName != "" {
			onCovering = append(onCovering, p)
			continue
		}
		order = append(order, p)
	}
	keep := map[types.UID]bool{}
	if len(onCovering) > 0 {
		newest := map[string]*podstore.Pod{}
		for _, p := range onCovering {
			newest[p.Spec.NodeName] = p
		}
		for node, p := range newest {
			if others[node] == 0 {
				keep[p.UID] = true
			}
		}
	}
	for _, p := range onCovering {
		if keep[p.UID] {
			kept = append(kept, p)
			continue
		}
		order = append(order, p)
	}
	return order, kept
}

// coverPreference orders the nodes for the commitments' coverage (cost.Covering
// covers the earlier ones first where more could use a commitment than it covers):
// the nodes that stay busy anyway first (the most other pods first), then those with
// the most fallback replicas, then by name; empty nodes, which Karpenter removes, come
// last. The return then keeps replicas only where nothing else holds a commitment.
func coverPreference(nodes []corev1.Node, others, fallback map[string]int) []corev1.Node {
	out := slices.Clone(nodes)
	slices.SortStableFunc(out, func(a, b corev1.Node) int {
		return cmp.Or(cmp.Compare(others[b.Name], others[a.Name]), cmp.Compare(fallback[b.Name], fallback[a.Name]), strings.Compare(a.Name, b.Name))
	})
	return out
}

// protect orders o.Fallback for a return and sets what stays for the commitments
// (o.Return, o.KeptPods, Kept): with commitments enabled, the nodes that cover them
// (controllers/internal/coverage, as bin-packing reads them) each keep one workload
// pod. Without commitments, every fallback replica returns, oldest first.
func (r *Reconciler) protect(ctx context.Context, policy *v1alpha1.ClusterPolicy, o *observed) error {
	if !coverage.Enabled(policy) || len(o.Fallback) == 0 {
		o.Return, _ = returnOrder(o.Fallback, nil, nil)
		return nil
	}
	var nodes corev1.NodeList
	if err := r.Client.List(ctx, &nodes); err != nil {
		return err
	}
	// Read only: the cache's own objects, without copies.
	pods, err := r.pods().All(ctx)
	if err != nil {
		return err
	}
	isFallback := map[types.UID]bool{}
	fallback := map[string]int{}
	for _, p := range o.Fallback {
		isFallback[p.UID] = true
		if busies(p) {
			fallback[p.Spec.NodeName]++
		}
	}
	others := map[string]int{}
	for _, p := range pods {
		if busies(p) && !isFallback[p.UID] {
			others[p.Spec.NodeName]++
		}
	}
	covered := coverage.Covering(ctx, policy, coverPreference(nodes.Items, others, fallback), r.Discover, r.Prices, o.Now)
	o.Return, o.KeptPods = returnOrder(o.Fallback, others, covered.Covering)
	o.Kept = int32(len(o.KeptPods)) //nolint:gosec // bounded by the cluster's pods
	o.CoverageUnsure = covered.Unsure
	return nil
}
