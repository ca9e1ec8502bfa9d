package distribution

import (
	"context"
	"fmt"
	"sync"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/scheduling"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// Fit says which of the cluster's NodePools a pod can land on, judged as Karpenter
// judges it (the pool's requirements and template labels against the pod's node
// selector and required node affinity, the capacity-type key left out; the pool's
// template taints against the pod's tolerations, Ballast's own Spot taint counted as
// tolerated, since Ballast adds that toleration with Spot).
type Fit struct {
	// Pools is how many NodePools the pod can land on.
	Pools int
	// Ballast: one of them is a NodePool Ballast renders for this cluster.
	Ballast bool
	// Spot and OnDemand: some NodePool the pod can land on offers that capacity type
	// (On-Demand on a pool with Ballast's Spot taint counts only when the pod
	// tolerates that taint itself, since Ballast adds the toleration only with Spot).
	Spot, OnDemand bool
}

// Offers reports whether a pool the pod can land on offers the capacity type.
func (f Fit) Offers(capacity string) bool {
	if capacity == v1alpha1.CapacitySpot {
		return f.Spot
	}
	return f.OnDemand
}

// Constrain keeps a decision whose capacity type a pool the pod can land on offers;
// otherwise it places the pod in the other capacity type with split.ReasonOverride,
// when that one is offered. ok is false when neither is: the pod must be left alone.
func (f Fit) Constrain(d split.Decision) (out split.Decision, ok bool) {
	if f.Offers(d.Capacity) {
		return d, true
	}
	other := v1alpha1.CapacitySpot
	if d.Capacity == v1alpha1.CapacitySpot {
		other = v1alpha1.CapacityOnDemand
	}
	if !f.Offers(other) {
		return d, false
	}
	return split.Decision{Capacity: other, Reason: split.ReasonOverride}, true
}

// Splittable reports whether the split applies to the pod unchanged: it can land on
// one of Ballast's pools, and on Spot and On-Demand alike.
func (f Fit) Splittable() bool { return f.Ballast && f.Spot && f.OnDemand }

// nodePools keeps the cluster's NodePools, read from a (cached) reader, compiled to
// Karpenter's scheduling requirements once per NodePool generation, so that an
// admission only lists the cache and compares.
type nodePools struct {
	mu       sync.Mutex
	compiled map[string]*pool
}

// pool is one NodePool as the webhook matches pods against it.
type pool struct {
	uid        types.UID
	generation int64
	// ballast: one of Ballast's NodePools of this cluster.
	ballast bool
	// reqs: the template's requirements and labels, and karpenter.sh/nodepool, as
	// Karpenter builds them for its scheduling simulation.
	reqs scheduling.Requirements
	// taints: the template taints without Ballast's Spot taint; spotTainted says
	// whether that one was among them.
	taints      []corev1.Taint
	spotTainted bool
	// spot and onDemand: the capacity types the pool's requirements allow.
	spot, onDemand bool
}

// ballastPool reports whether a NodePool is one of Ballast's for the cluster: one of
// the default supply (v1alpha1.SupplyPool), or a pool of spec.nodePools the split applies
// to (spec.nodePools[].split, the ballast.dev/split label).
func ballastPool(cluster string, np *karpv1.NodePool) bool {
	if v1alpha1.SupplyPool(cluster, np.Name) {
		return true
	}
	return np.Labels[v1alpha1.ClusterLabel] == cluster && np.Labels[v1alpha1.SplitLabel] == "true"
}

// compile builds the matching form of a NodePool.
func compile(cluster string, np *karpv1.NodePool) *pool {
	t := &np.Spec.Template
	reqs := scheduling.NewNodeSelectorRequirementsWithMinValues(t.Spec.Requirements...)
	reqs.Add(scheduling.NewLabelRequirements(t.Labels).Values()...)
	reqs.Add(scheduling.NewRequirement(karpv1.NodePoolLabelKey, corev1.NodeSelectorOpIn, np.Name))
	if ref := t.Spec.NodeClassRef; ref != nil {
		reqs.Add(scheduling.NewRequirement(karpv1.NodeClassLabelKey(ref.GroupKind()), corev1.NodeSelectorOpIn, ref.Name))
	}
	p := &pool{uid: np.UID, generation: np.Generation, ballast: ballastPool(cluster, np), reqs: reqs}
	for _, taint := range t.Spec.Taints {
		if taint.MatchTaint(&spotTaint) && taint.Value == spotTaint.Value {
			p.spotTainted = true
			continue
		}
		p.taints = append(p.taints, taint)
	}
	capacity := reqs.Get(karpv1.CapacityTypeLabelKey)
	p.spot = capacity.Has(karpv1.CapacityTypeSpot)
	p.onDemand = capacity.Has(karpv1.CapacityTypeOnDemand)
	return p
}

// get returns the compiled form of a NodePool, compiling it when it is new (by name and
// UID) or its spec changed (a new generation).
func (n *nodePools) get(cluster string, np *karpv1.NodePool) *pool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p, ok := n.compiled[np.Name]; ok && p.uid == np.UID && p.generation == np.Generation {
		return p
	}
	if n.compiled == nil {
		n.compiled = map[string]*pool{}
	}
	p := compile(cluster, np)
	n.compiled[np.Name] = p
	return p
}

// forget drops the compiled NodePools that are no longer listed, once they are
// more than those listed (so that deleted pools do not pile up).
func (n *nodePools) forget(list []karpv1.NodePool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.compiled) <= 2*len(list)+8 {
		return
	}
	keep := make(map[string]*pool, len(list))
	for i := range list {
		if p, ok := n.compiled[list[i].Name]; ok {
			keep[list[i].Name] = p
		}
	}
	n.compiled = keep
}

// fit lists the NodePools (from the reader, without copies) and says which the pod
// spec can land on.
func (n *nodePools) fit(ctx context.Context, c client.Reader, cluster string, spec *corev1.PodSpec) (Fit, error) {
	var list karpv1.NodePoolList
	if err := c.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return Fit{}, fmt.Errorf("failed to list NodePools: %w", err)
	}
	terms := podTerms(spec)
	var f Fit
	for i := range list.Items {
		if list.Items[i].DeletionTimestamp != nil {
			continue
		}
		f.add(n.get(cluster, &list.Items[i]), spec, terms)
	}
	n.forget(list.Items)
	return f, nil
}

// add counts the pool when a pod with the spec and its requirement terms (podTerms)
// can land on it.
func (f *Fit) add(p *pool, spec *corev1.PodSpec, terms []scheduling.Requirements) {
	if !p.admits(spec, terms) {
		return
	}
	f.Pools++
	f.Ballast = f.Ballast || p.ballast
	f.Spot = f.Spot || p.spot
	f.OnDemand = f.OnDemand || (p.onDemand && (!p.spotTainted || toleratesSpot(spec.Tolerations)))
}

// admits reports whether a pod with the spec and its requirement terms (podTerms)
// can land on the pool.
func (p *pool) admits(spec *corev1.PodSpec, terms []scheduling.Requirements) bool {
	if !tolerates(p.taints, spec.Tolerations) {
		return false
	}
	for _, t := range terms {
		// A term without requirements fits every pool; Compatible would say so too, at
		// the cost of resolving its options.
		if len(t) == 0 || p.reqs.Compatible(t, scheduling.AllowUndefinedWellKnownLabels) == nil {
			return true
		}
	}
	return false
}

// tolerates reports whether the tolerations tolerate every taint, as Karpenter's
// scheduling.Taints.Tolerates judges it (Kubernetes' Toleration.ToleratesTaint, with
// the comparison operators), without building the error that says which taint is not
// tolerated: most pods tolerate few of the pools' taints, and the admission needs only
// the answer.
func tolerates(taints []corev1.Taint, tolerations []corev1.Toleration) bool {
	for i := range taints {
		ok := false
		for j := range tolerations {
			if tolerations[j].ToleratesTaint(logr.Discard(), &taints[i], true) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// anyNode is the terms of a pod that selects no node labels: one empty term. Shared,
// never written.
var anyNode = []scheduling.Requirements{nil}

// podTerms returns the pod's node requirements as Karpenter reads them, one set per
// term of its required node affinity (the terms are ORed; Karpenter tries each in
// turn), each with the node selector, and without the capacity-type keys, which are
// what Ballast decides. A term that selects nodes by field (metadata.name: named,
// existing nodes) matches no NodePool. A pod with neither node selector nor required
// node affinity has one empty term, which costs nothing to compare.
func podTerms(spec *corev1.PodSpec) []scheduling.Requirements {
	var base scheduling.Requirements
	if len(spec.NodeSelector) > 0 {
		base = scheduling.NewLabelRequirements(spec.NodeSelector)
		for _, k := range capacityKeys {
			delete(base, k)
		}
	}
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil ||
		len(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) == 0 {
		if base == nil {
			return anyNode
		}
		return []scheduling.Requirements{base}
	}
	var out []scheduling.Requirements
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if len(term.MatchFields) > 0 {
			continue
		}
		reqs := scheduling.NewNodeSelectorRequirements(term.MatchExpressions...)
		for _, k := range capacityKeys {
			delete(reqs, k)
		}
		if base != nil {
			reqs.Add(base.Values()...)
		}
		out = append(out, reqs)
	}
	return out
}
