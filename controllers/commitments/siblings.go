package commitments

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/controllers/internal/offering"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// CommittedForLabel on a node pool's committed sibling names the pool of
// spec.nodePools it fills commitments for.
const CommittedForLabel = "ballast.dev/committed-for"

// SiblingName is the name of the committed NodePool of a pool of spec.nodePools with
// commitments: true.
func SiblingName(pool string) string { return pool + "-committed" }

// sibling is the committed NodePool of a pool of spec.nodePools.
type sibling struct {
	name string
	// source is the live NodePool whose template the sibling copies.
	source *karpv1.NodePool
	pool   poolSpec
	weight int32
}

// siblings plans the committed NodePools of the pools of spec.nodePools with
// commitments: true, in the policy's order: each takes the unused Reserved Instances
// of the types (and zones) its requirements allow, which are then no longer left for
// the next pools nor for the default supply's committed pool (unused is changed). A
// pool the PolicySource has not applied yet gets no sibling in this pass.
func (r *Reconciler) siblings(ctx context.Context, policy *v1alpha1.ClusterPolicy, unused *cost.UnusedCommitment, nodes []corev1.Node, shapes cost.ShapeBook) ([]sibling, error) {
	var out []sibling
	for i := range policy.Spec.NodePools {
		src := &policy.Spec.NodePools[i]
		if !src.Commitments {
			continue
		}
		var np karpv1.NodePool
		if err := r.Client.Get(ctx, client.ObjectKey{Name: src.Name}, &np); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		mine := cost.UnusedCommitment{}
		for j := range unused.Reserved {
			ru := &unused.Reserved[j]
			if ru.Unused > 0 && allows(&np, ru.InstanceType, ru.Zone, shapes) {
				mine.Reserved = append(mine.Reserved, *ru)
				ru.Unused = 0
			}
		}
		name := SiblingName(src.Name)
		p, err := plan(mine, own(nodes, name), shapes)
		if err != nil {
			return nil, fmt.Errorf("the committed NodePool %s: %w", name, err)
		}
		out = append(out, sibling{name: name, source: &np, pool: p, weight: min(ptr.Deref(np.Spec.Weight, 0)+1, render.CommittedWeight)})
	}
	return out, nil
}

// allows reports whether a NodePool's requirements allow On-Demand instances of the
// type in the zone ("" for any), judged on what the type's name and shape tell
// (offering.Labels): a requirement on another key is left to Karpenter, which
// launches only what all of them allow.
func allows(np *karpv1.NodePool, instanceType, zone string, shapes cost.ShapeBook) bool {
	s, ok := shapes.Shape(instanceType)
	labels := offering.Labels(instanceType, karpv1.CapacityTypeOnDemand, s, ok)
	if zone != "" {
		labels[corev1.LabelTopologyZone] = zone
	}
	return offering.Allowed(np.Spec.Template.Spec.Requirements, labels)
}

// applySiblings applies the planned siblings and takes the ones no pool asks for any
// more out of service: one without nodes is deleted, one whose nodes still run keeps
// them but may launch no more (its types and limits become those of its nodes). It
// returns what changed, for events.
func (r *Reconciler) applySiblings(ctx context.Context, planned []sibling, nodes []corev1.Node, shapes cost.ShapeBook) ([]string, error) {
	var changes []string
	keep := map[string]bool{}
	for _, s := range planned {
		keep[s.name] = true
		labels := map[string]string{CommittedForLabel: s.source.Name}
		if v, ok := s.source.Labels[v1alpha1.SplitLabel]; ok {
			labels[v1alpha1.SplitLabel] = v
		}
		change, err := r.apply(ctx, nodePool(s.name, r.Cluster, s.source, s.pool, s.weight, labels), s.pool)
		if err != nil {
			return changes, err
		}
		if change != "" {
			changes = append(changes, change)
		}
	}
	var all karpv1.NodePoolList
	if err := r.Client.List(ctx, &all, client.MatchingLabels{v1alpha1.ClusterLabel: r.Cluster, CommittedLabel: "true"}); err != nil {
		return changes, err
	}
	for i := range all.Items {
		old := &all.Items[i]
		if old.Labels[CommittedForLabel] == "" || keep[old.Name] || !old.DeletionTimestamp.IsZero() {
			continue
		}
		p, err := plan(cost.UnusedCommitment{}, own(nodes, old.Name), shapes)
		if err != nil {
			return changes, err
		}
		change, err := r.apply(ctx, nodePool(old.Name, r.Cluster, old, p, ptr.Deref(old.Spec.Weight, 1), map[string]string{CommittedForLabel: old.Labels[CommittedForLabel]}), p)
		if err != nil {
			return changes, err
		}
		if change != "" {
			changes = append(changes, change+" (its pool no longer fills commitments)")
		}
	}
	return changes, nil
}
