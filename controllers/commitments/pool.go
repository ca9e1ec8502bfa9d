package commitments

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// CommittedLabel is on the committed NodePool and its nodes.
const CommittedLabel = "ballast.dev/committed"

// resourceNodes is the NodePool limit on the number of nodes.
const resourceNodes corev1.ResourceName = "nodes"

// PoolName is the name of a cluster's committed NodePool.
func PoolName(cluster string) string { return render.NodePoolName(cluster, "committed") }

// poolSpec is what the committed pool allows.
type poolSpec struct {
	// types are the instance types, sorted; none means there is no pool.
	types []string
	// zones restrict the pool when every unused commitment is zonal.
	zones []string
	// unused is the number of unused instances per type the limits make room for.
	unused map[string]int
	// running is how many of the pool's own nodes run.
	running int
	limits  corev1.ResourceList
}

// own returns the nodes Karpenter launched for the pool.
func own(nodes []corev1.Node, pool string) []corev1.Node {
	var out []corev1.Node
	for _, n := range nodes {
		if n.Labels[karpv1.NodePoolLabelKey] == pool {
			out = append(out, n)
		}
	}
	return out
}

// plan turns the unused commitment and the pool's own nodes into the pool: the
// instance types with unused commitment or with committed nodes running, and limits
// = the capacity of its nodes + the unused instances. A Savings Plan's rest counts
// as the instances of one type: the one it buys the most vCPUs of (then memory).
func plan(u cost.UnusedCommitment, nodes []corev1.Node, shapes cost.ShapeBook) (poolSpec, error) {
	p := poolSpec{unused: map[string]int{}, running: len(nodes)}
	zonal, regional := map[string]bool{}, false
	for _, r := range u.Reserved {
		if r.Unused <= 0 {
			continue
		}
		p.unused[r.InstanceType] += r.Unused
		if r.Zone == "" {
			regional = true
		} else {
			zonal[r.Zone] = true
		}
	}
	for _, sp := range u.SavingsPlans {
		best, bestCount, bestCPU, bestMem := "", 0, 0, 0.0
		for _, ic := range sp.Instances {
			s, ok := shapes.Shape(ic.InstanceType)
			if !ok {
				continue
			}
			cpu, mem := ic.Count*s.VCPU, float64(ic.Count)*s.MemoryGiB
			if cpu > bestCPU || (cpu == bestCPU && mem > bestMem) {
				best, bestCount, bestCPU, bestMem = ic.InstanceType, ic.Count, cpu, mem
			}
		}
		if best != "" {
			regional = true
			p.unused[best] += bestCount
		}
	}
	cpu, mem := resource.Quantity{Format: resource.DecimalSI}, resource.Quantity{Format: resource.BinarySI}
	types := map[string]bool{}
	for _, n := range nodes {
		t := cmp.Or(n.Labels[corev1.LabelInstanceTypeStable], n.Labels[corev1.LabelInstanceType])
		types[t] = true
		// The instance type's size, as Karpenter counts it against the limits; the
		// node's capacity only for a type the price book does not know.
		var c, m resource.Quantity
		if s, ok := shapes.Shape(t); ok {
			c, m = *resource.NewQuantity(int64(s.VCPU), resource.DecimalSI), mib(s.MemoryGiB)
		} else {
			c, m = n.Status.Capacity[corev1.ResourceCPU], n.Status.Capacity[corev1.ResourceMemory]
			if c.IsZero() || m.IsZero() {
				return p, fmt.Errorf("node %s: the size of instance type %s is unknown", n.Name, t)
			}
		}
		cpu.Add(c)
		mem.Add(m)
	}
	count := len(nodes)
	for t, n := range p.unused {
		s, ok := shapes.Shape(t)
		if !ok {
			return p, fmt.Errorf("the size of committed instance type %s is unknown", t)
		}
		types[t] = true
		count += n
		cpu.Add(*resource.NewQuantity(int64(n*s.VCPU), resource.DecimalSI))
		m := mib(s.MemoryGiB * float64(n))
		mem.Add(m)
	}
	delete(types, "")
	p.types = slices.Sorted(maps.Keys(types))
	if len(zonal) > 0 && !regional && len(nodes) == 0 {
		p.zones = slices.Sorted(maps.Keys(zonal))
	}
	p.limits = corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(cpu.Value(), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(mem.Value(), resource.BinarySI),
		resourceNodes:         *resource.NewQuantity(int64(count), resource.DecimalSI),
	}
	return p, nil
}

// mib is an amount of GiB rounded up to whole MiB.
func mib(gib float64) resource.Quantity {
	mi := int64(gib*1024 + 0.999999)
	return *resource.NewQuantity(mi<<20, resource.BinarySI)
}

// nodePool is a committed pool: the template of the pool it fills commitments for
// (the On-Demand pool of the default supply, or a pool of spec.nodePools) with the
// committed types, the weight and limits; labels are added to Ballast's.
func nodePool(name, cluster string, od *karpv1.NodePool, p poolSpec, weight int32, labels map[string]string) *karpv1.NodePool {
	tmpl := od.Spec.Template.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[v1alpha1.CapacityLabel] = v1alpha1.CapacityOnDemand
	tmpl.Labels[CommittedLabel] = "true"
	reqs := []karpv1.NodeSelectorRequirementWithMinValues{
		{Key: karpv1.CapacityTypeLabelKey, Operator: corev1.NodeSelectorOpIn, Values: []string{karpv1.CapacityTypeOnDemand}},
		{Key: corev1.LabelInstanceTypeStable, Operator: corev1.NodeSelectorOpIn, Values: p.types},
	}
	for _, r := range tmpl.Spec.Requirements {
		switch r.Key {
		case karpv1.CapacityTypeLabelKey, corev1.LabelInstanceTypeStable, corev1.LabelInstanceType:
			continue
		case corev1.LabelTopologyZone:
			if len(p.zones) > 0 {
				continue
			}
		}
		reqs = append(reqs, r)
	}
	if len(p.zones) > 0 {
		reqs = append(reqs, karpv1.NodeSelectorRequirementWithMinValues{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: p.zones})
	}
	tmpl.Spec.Requirements = reqs
	return &karpv1.NodePool{
		TypeMeta: metav1.TypeMeta{APIVersion: "karpenter.sh/v1", Kind: "NodePool"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: withLabels(labels, map[string]string{
			v1alpha1.ClusterLabel: cluster,
			CommittedLabel:        "true",
		})},
		Spec: karpv1.NodePoolSpec{
			Template: *tmpl,
			Disruption: karpv1.Disruption{
				// Only empty nodes go: consolidating a committed node into a cheaper
				// one would leave its commitment unused.
				ConsolidationPolicy: karpv1.ConsolidationPolicyWhenEmpty,
				ConsolidateAfter:    od.Spec.Disruption.ConsolidateAfter,
				Budgets:             od.Spec.Disruption.Budgets,
			},
			Limits: karpv1.Limits(p.limits),
			Weight: ptr.To(weight),
		},
	}
}

// applyPool server-side applies the committed pool, or deletes it when it would
// allow nothing, and says what changed for people: the pool created, deleted, or its
// limits ("" when nothing did).
func (r *Reconciler) applyPool(ctx context.Context, name string, o *observation) (string, error) {
	return r.apply(ctx, nodePool(name, r.Cluster, o.onDemand, o.pool, render.CommittedWeight, nil), o.pool)
}

// apply server-side applies a committed pool planned as p, or deletes it when it
// would allow nothing, and says what changed for people ("" when nothing did).
func (r *Reconciler) apply(ctx context.Context, np *karpv1.NodePool, p poolSpec) (string, error) {
	name := np.Name
	if len(p.types) == 0 {
		gone, err := r.deletePool(ctx, name)
		if gone {
			return "deleted the committed NodePool " + name + ": no commitment is left unused and no committed node runs", err
		}
		return "", err
	}
	var change string
	var old karpv1.NodePool
	switch err := r.Client.Get(ctx, client.ObjectKey{Name: name}, &old); {
	case apierrors.IsNotFound(err):
		change = fmt.Sprintf("created the committed NodePool %s for %s with limits %s", name, strings.Join(p.types, ", "), limitsString(p.limits))
	case err != nil:
		return "", err
	case !sameLimits(corev1.ResourceList(old.Spec.Limits), p.limits):
		change = fmt.Sprintf("the committed NodePool %s now allows %s (was %s): %d committed nodes running", name,
			limitsString(p.limits), limitsString(corev1.ResourceList(old.Spec.Limits)), p.running)
	}
	// Through JSON: Karpenter's durations marshal themselves, which the unstructured
	// converter does not honour.
	data, err := json.Marshal(np)
	if err != nil {
		return "", err
	}
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(data, &u.Object); err != nil {
		return "", err
	}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return "", fmt.Errorf("failed to apply NodePool %s: %w", name, err)
	}
	return change, nil
}

func withLabels(extra, labels map[string]string) map[string]string {
	maps.Copy(labels, extra)
	return labels
}

// limitKeys are the limits the committed pool sets, in the order people read them.
var limitKeys = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, resourceNodes}

// sameLimits compares the limits the committed pool sets.
func sameLimits(a, b corev1.ResourceList) bool {
	for _, k := range limitKeys {
		x, okA := a[k]
		y, okB := b[k]
		if okA != okB || (okA && x.Cmp(y) != 0) {
			return false
		}
	}
	return true
}

// limitsString is e.g. "cpu 6, memory 24Gi, nodes 3".
func limitsString(l corev1.ResourceList) string {
	var parts []string
	for _, k := range limitKeys {
		if q, ok := l[k]; ok {
			parts = append(parts, string(k)+" "+q.String())
		}
	}
	if len(parts) == 0 {
		return "no limits"
	}
	return strings.Join(parts, ", ")
}

// deletePool deletes the committed pool if this controller made it, and reports
// whether it did.
func (r *Reconciler) deletePool(ctx context.Context, name string) (bool, error) {
	var np karpv1.NodePool
	err := r.Client.Get(ctx, client.ObjectKey{Name: name}, &np)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, err
	case np.Labels[CommittedLabel] != "true" || np.Labels[v1alpha1.ClusterLabel] != r.Cluster || !np.DeletionTimestamp.IsZero():
		return false, nil
	}
	logf.FromContext(ctx).Info("deleting the committed NodePool: nothing is committed or unused", "nodepool", name)
	uid := np.UID
	if err := r.Client.Delete(ctx, &np, client.Preconditions{UID: &uid}); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("failed to delete NodePool %s: %w", name, err)
	}
	return true, nil
}

// message describes the pools in the condition.
func (o *observation) message() string {
	msg := "no commitment is left unused and no committed node runs: no committed NodePool"
	if len(o.pool.types) > 0 {
		msg = "committed NodePool " + o.pool.describe()
	}
	for _, s := range o.siblings {
		if len(s.pool.types) > 0 {
			msg += "; " + s.name + " (for " + s.source.Name + ") " + s.pool.describe()
		}
	}
	return msg
}

// describe says what a committed pool allows.
func (p poolSpec) describe() string {
	var parts []string
	for _, t := range slices.Sorted(maps.Keys(p.unused)) {
		parts = append(parts, fmt.Sprintf("%d %s", p.unused[t], t))
	}
	unused := "nothing"
	if len(parts) > 0 {
		unused = strings.Join(parts, ", ")
	}
	return fmt.Sprintf("allows %s: %d committed nodes running, room for %s more", strings.Join(p.types, ", "), p.running, unused)
}
