package limits

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/controllers/internal/clusterpolicy"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// FieldManager owns spec.limits of the cluster's NodePools.
const FieldManager = "ballast-limits"

// The controller reads NodePools and their NodeClaims cluster-wide (they are
// cluster-scoped) and writes only the limits of the NodePools Ballast rendered.
// +kubebuilder:rbac:groups=karpenter.sh,resources=nodepools,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=karpenter.sh,resources=nodeclaims,verbs=get;list;watch

// Reconciler keeps the limits of one cluster's NodePools adding up to the total of
// its ClusterPolicy. Every request is for the whole cluster.
type Reconciler struct {
	// Client reads from a cache and writes with server-side apply.
	Client client.Client
	// Pods reads the unschedulable pods from the cache's store by UnschedulableIndex
	// (SetupWithManager adds it); through Client when nil.
	Pods podstore.Reader
	// Cluster is the ClusterPolicy cluster name this controller serves.
	Cluster string
	// StallAfter is how long pods may wait with headroom left and no pool growing
	// before the pool with the most demand gets all of the headroom (shares each too
	// small for a node stall otherwise). Defaults to 15s.
	StallAfter time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu sync.Mutex
	// usage is a digest of the pools' usage, and since when it has not changed.
	usage          string
	unchangedSince time.Time
}

// pods reads the cluster's pods: Pods, or a Reader listing through Client (no
// manager: tests) with the unschedulable index.
func (r *Reconciler) pods() podstore.Reader {
	if r.Pods != nil {
		return r.Pods
	}
	pods := podstore.FromClient(r.Client)
	_ = pods.AddIndex(UnschedulableIndex, IndexUnschedulable)
	return pods
}

// Reconcile computes and applies the limits of the cluster's NodePools.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	policy, err := clusterpolicy.For(ctx, r.Client, r.Cluster)
	if err != nil {
		return reconcile.Result{}, err
	}
	var pools karpv1.NodePoolList
	if err := r.Client.List(ctx, &pools, client.MatchingLabels{v1alpha1.ClusterLabel: r.Cluster}); err != nil {
		return reconcile.Result{}, err
	}
	var own []*karpv1.NodePool
	for i := range pools.Items {
		np := &pools.Items[i]
		// The pools of spec.nodePools have their own limits, as written.
		_, rendered := np.Labels[v1alpha1.SourceLabel]
		if _, extra := np.Labels[v1alpha1.NodePoolLabel]; rendered && !extra && np.DeletionTimestamp.IsZero() {
			own = append(own, np)
		}
	}
	slices.SortFunc(own, func(a, b *karpv1.NodePool) int { return strings.Compare(a.Name, b.Name) })
	total := totalOf(policy)
	if len(total) == 0 {
		return reconcile.Result{}, r.release(ctx, own)
	}
	in, settled, err := r.observe(ctx, own)
	if err != nil {
		return reconcile.Result{}, err
	}
	round, wait := r.stalled(in)
	limits := Allocate(total, in, round)
	for i, np := range own {
		want := limits[i]
		if !settled {
			// A launching NodeClaim's capacity is not known yet: only lower limits.
			want = lower(want, corev1.ResourceList(np.Spec.Limits))
		}
		if err := r.applyLimits(ctx, np, want); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{RequeueAfter: wait}, nil
}

// stalled returns how many StallAfter periods pods have waited while no pool's usage
// changed (the stall round, 0 when not stalled), and when to look again while pods
// wait.
func (r *Reconciler) stalled(pools []Pool) (round int, wait time.Duration) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	after := r.StallAfter
	if after <= 0 {
		after = 15 * time.Second
	}
	var digest strings.Builder
	demand := false
	for _, p := range pools {
		fmt.Fprintf(&digest, "%s:%s/%s/%s;", p.Name, p.Usage.Cpu(), p.Usage.Memory(), p.Usage.Name(ResourceNodes, resource.DecimalSI))
		demand = demand || p.DemandMilliCPU > 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t := now()
	if digest.String() != r.usage || !demand {
		r.usage, r.unchangedSince = digest.String(), t
	}
	if !demand {
		return 0, 0
	}
	waited := t.Sub(r.unchangedSince)
	round = int(waited / after)
	return round, after - waited%after
}

// totalOf returns the ClusterPolicy's limits as resources; nil without a policy or
// limits.
func totalOf(policy *v1alpha1.ClusterPolicy) corev1.ResourceList {
	if policy == nil || policy.Spec.Limits == nil {
		return nil
	}
	l := policy.Spec.Limits
	out := corev1.ResourceList{}
	if l.CPU != nil {
		out[corev1.ResourceCPU] = l.CPU.DeepCopy()
	}
	if l.Memory != nil {
		out[corev1.ResourceMemory] = l.Memory.DeepCopy()
	}
	if l.Nodes != nil {
		out[ResourceNodes] = *resource.NewQuantity(int64(*l.Nodes), resource.DecimalSI)
	}
	return out
}

// observe returns each pool's usage and demand, and whether every NodeClaim of the
// pools has launched (its capacity is known).
func (r *Reconciler) observe(ctx context.Context, pools []*karpv1.NodePool) ([]Pool, bool, error) {
	out := make([]Pool, len(pools))
	index := map[string]int{}
	for i, np := range pools {
		out[i] = Pool{Name: np.Name, Usage: corev1.ResourceList{}}
		index[np.Name] = i
	}
	var claims karpv1.NodeClaimList
	if err := r.Client.List(ctx, &claims, client.HasLabels{karpv1.NodePoolLabelKey}); err != nil {
		return nil, false, err
	}
	settled := true
	for i := range claims.Items {
		nc := &claims.Items[i]
		p, ok := index[nc.Labels[karpv1.NodePoolLabelKey]]
		if !ok {
			continue
		}
		if len(nc.Status.Capacity) == 0 {
			settled = false
			continue
		}
		u := out[p].Usage
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := nc.Status.Capacity[name]; ok {
				sum := u[name]
				sum.Add(q)
				u[name] = sum
			}
		}
		n := u[ResourceNodes]
		n.Add(*resource.NewQuantity(1, resource.DecimalSI))
		u[ResourceNodes] = n
	}
	pending, err := r.pods().Indexed(ctx, UnschedulableIndex, "true")
	if err != nil {
		return nil, false, err
	}
	for _, pod := range pending {
		if p, ok := index[poolOf(pod, pools)]; ok {
			out[p].DemandMilliCPU += requestedMilliCPU(pod)
		}
	}
	return out, settled, nil
}

// lower returns want, but no limit above the current one (a missing current limit
// is no limit).
func lower(want, current corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for k, w := range want {
		if c, ok := current[k]; ok && c.Cmp(w) < 0 {
			out[k] = c.DeepCopy()
			continue
		}
		out[k] = w
	}
	return out
}

// applyLimits sets a NodePool's limits with this controller's field manager, unless
// they are set already (a steady state writes nothing).
func (r *Reconciler) applyLimits(ctx context.Context, np *karpv1.NodePool, want corev1.ResourceList) error {
	if owns(np) && equalResources(corev1.ResourceList(np.Spec.Limits), want) {
		return nil
	}
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("karpenter.sh/v1")
	u.SetKind("NodePool")
	u.SetName(np.Name)
	if len(want) > 0 {
		limits, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&want)
		if err != nil {
			return err
		}
		u.Object["spec"] = map[string]any{"limits": limits}
	}
	logf.FromContext(ctx).V(1).Info("setting NodePool limits", "nodepool", np.Name, "limits", want)
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("failed to set the limits of NodePool %s: %w", np.Name, err)
	}
	return nil
}

// release gives up the limits of every pool this controller set (the policy no
// longer has limits).
func (r *Reconciler) release(ctx context.Context, pools []*karpv1.NodePool) error {
	for _, np := range pools {
		if owns(np) {
			if err := r.applyLimits(ctx, np, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// owns reports whether FieldManager manages fields of the NodePool's spec.
func owns(np *karpv1.NodePool) bool {
	return slices.ContainsFunc(np.ManagedFields, func(m metav1.ManagedFieldsEntry) bool {
		return m.Manager == FieldManager && m.Operation == metav1.ManagedFieldsOperationApply && m.Subresource == ""
	})
}

func equalResources(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}
