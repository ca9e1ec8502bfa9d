package distribution

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// DoNotDisruptAnnotation is Karpenter's: a pod carrying it is never evicted.
const DoNotDisruptAnnotation = "karpenter.sh/do-not-disrupt"

// Event reasons.
const (
	EvictedReason         = "RebalancedReplica"
	EvictionBlockedReason = "EvictionBlocked"
)

// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups=ballast.dev,resources=clusterpolicies/status;workloaddistributionrules/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconciler corrects the split of one kind of workload (Deployments or StatefulSets)
// after the fact: when the observed split differs from the target (a scale-down
// removed the wrong replicas, pods were admitted while the webhook was down, a rule
// changed), it evicts surplus replicas of the over-represented class through the
// Eviction API, a bounded number per pass, respecting PodDisruptionBudgets,
// maintenance windows and karpenter.sh/do-not-disrupt. The workload's controller
// replaces each evicted pod, and the webhook places the replacement in the class that
// is short.
type Reconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	// Kind is KindDeployment or KindStatefulSet.
	Kind string
	// Cluster is the ClusterPolicy cluster name this controller serves.
	Cluster string
	// MaxEvictions bounds evictions per workload and pass when the policy does not
	// set binPacking.podEviction.maxEvictionsPerPass.
	MaxEvictions int32
	// RequeueAfter is how soon a workload that is not yet exact is looked at again.
	RequeueAfter time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Reconcile brings one workload's split to its target.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	w, err := r.workload(ctx, req)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if slices.Contains(SystemNamespaces, w.Namespace) {
		return reconcile.Result{}, nil
	}
	policy, err := ClusterPolicyFor(ctx, r.Client, r.Cluster)
	if err != nil || policy == nil {
		return reconcile.Result{}, err
	}
	var rules v1alpha1.WorkloadDistributionRuleList
	if err := r.Client.List(ctx, &rules, client.InNamespace(w.Namespace)); err != nil {
		return reconcile.Result{}, err
	}
	rule, _ := Resolve(policy, rules.Items, w.Labels, w.Annotations)
	pods, err := w.Pods(ctx, r.Client)
	if err != nil {
		return reconcile.Result{}, err
	}
	observed := r.observe(ctx, pods)
	target := rule.Target(w.Replicas)
	victims := r.surplus(w, rule, pods)
	message := ""
	if len(victims) > 0 {
		message = r.evict(ctx, w, policy, victims, observed, target)
	}
	if err := r.writeStatus(ctx, w, policy, rules.Items, rule, observed, target, message); err != nil {
		return reconcile.Result{}, err
	}
	if observed != target || len(victims) > 0 {
		logf.FromContext(ctx).V(1).Info("split not exact yet", "workload", w.Key(), "observed", observed.String(), "target", target.String())
		return reconcile.Result{RequeueAfter: r.requeueAfter()}, nil
	}
	return reconcile.Result{}, nil
}

func (r *Reconciler) requeueAfter() time.Duration {
	if r.RequeueAfter > 0 {
		return r.RequeueAfter
	}
	return 5 * time.Second
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) workload(ctx context.Context, req reconcile.Request) (*Workload, error) {
	if r.Kind == KindStatefulSet {
		return StatefulSetWorkload(ctx, r.Client, req.Namespace, req.Name)
	}
	return DeploymentWorkload(ctx, r.Client, req.Namespace, req.Name)
}

func (r *Reconciler) observe(ctx context.Context, pods []corev1.Pod) Counts {
	var c Counts
	capacity := NodeCapacity(ctx, r.Client)
	for i := range pods {
		if CapacityOf(&pods[i], capacity) == v1alpha1.CapacitySpot {
			c.Spot++
		} else {
			c.OnDemand++
		}
	}
	return c
}

// surplus returns the pods to move, best candidates first: for a StatefulSet the pods
// whose class differs from their ordinal's, otherwise the pods of the over-represented
// class (unscheduled before running, newest first).
func (r *Reconciler) surplus(w *Workload, rule Rule, pods []corev1.Pod) []corev1.Pod {
	capacity := func(p *corev1.Pod) string { return CapacityOf(p, nil) }
	var out []corev1.Pod
	if w.Kind == KindStatefulSet {
		for i := range pods {
			ord := Ordinal(&pods[i], w.Name)
			if ord >= 0 && capacity(&pods[i]) != DecideOrdinal(rule, w.Replicas, ord).Capacity {
				out = append(out, pods[i])
			}
		}
		return out
	}
	var c Counts
	for i := range pods {
		if capacity(&pods[i]) == v1alpha1.CapacitySpot {
			c.Spot++
		} else {
			c.OnDemand++
		}
	}
	class, n := Surplus(rule, w.Replicas, c)
	if n == 0 {
		return nil
	}
	for i := range pods {
		if capacity(&pods[i]) == class {
			out = append(out, pods[i])
		}
	}
	slices.SortStableFunc(out, func(a, b corev1.Pod) int {
		if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
			if a.Spec.NodeName == "" {
				return -1
			}
			return 1
		}
		return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
	})
	return out[:min(int(n), len(out))]
}

// evict evicts up to the per-pass bound of victims and returns a status message.
func (r *Reconciler) evict(ctx context.Context, w *Workload, policy *v1alpha1.ClusterPolicy, victims []corev1.Pod, observed, target Counts) string {
	now := r.now()
	if !v1alpha1.OperationAllowed(policy.Spec.MaintenanceWindows, v1alpha1.OperationPodEviction, now) {
		return fmt.Sprintf("waiting for a maintenance window that allows PodEviction to move %d replicas", len(victims))
	}
	limit := r.MaxEvictions
	if pe := policy.Spec.BinPacking.PodEviction; pe != nil && pe.MaxEvictionsPerPass != nil {
		limit = *pe.MaxEvictionsPerPass
	}
	limit = max(limit, 1)
	evicted := 0
	var blocked []string
	for i := range victims {
		if int32(evicted) >= limit { //nolint:gosec // small
			break
		}
		pod := &victims[i]
		if pod.Annotations[DoNotDisruptAnnotation] == "true" {
			blocked = append(blocked, pod.Name+" (karpenter.sh/do-not-disrupt)")
			continue
		}
		err := r.Client.SubResource("eviction").Create(ctx, pod, &policyv1.Eviction{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		})
		switch {
		case err == nil:
			evicted++
			r.event(w, pod, corev1.EventTypeNormal, EvictedReason, "Evicted %s (%s) to move the split from %s toward %s",
				pod.Name, CapacityOf(pod, nil), observed, target)
		case apierrors.IsTooManyRequests(err):
			blocked = append(blocked, pod.Name+" (PodDisruptionBudget)")
			r.event(w, pod, corev1.EventTypeWarning, EvictionBlockedReason, "Eviction of %s blocked by a PodDisruptionBudget; split stays %s instead of %s",
				pod.Name, observed, target)
		case apierrors.IsNotFound(err):
		default:
			blocked = append(blocked, fmt.Sprintf("%s (%v)", pod.Name, err))
		}
	}
	switch {
	case len(blocked) > 0 && evicted == 0:
		return "eviction blocked: " + join(blocked)
	case len(blocked) > 0:
		return fmt.Sprintf("evicted %d replicas; blocked: %s", evicted, join(blocked))
	default:
		return fmt.Sprintf("evicted %d replicas to restore the split", evicted)
	}
}

func join(items []string) string {
	if len(items) > 5 {
		items = append(items[:5:5], fmt.Sprintf("and %d more", len(items)-5))
	}
	return strings.Join(items, ", ")
}

// event records an event on the workload, related to the pod: one event per pod, so
// that every eviction shows (events of one key are merged into a series).
func (r *Reconciler) event(w *Workload, pod *corev1.Pod, eventType, reason, format string, args ...any) {
	if r.Recorder == nil {
		return
	}
	ref := &corev1.ObjectReference{Kind: w.Kind, APIVersion: "apps/v1", Namespace: w.Namespace, Name: w.Name, UID: w.UID}
	related := &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}
	r.Recorder.Eventf(ref, related, eventType, reason, "Rebalance", format, args...)
}
