package distribution

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// Kinds of workloads the distributor places.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindReplicaSet  = "ReplicaSet"
	KindJob         = "Job"
)

// Workload is the object whose replicas are split: a Deployment, a StatefulSet, a
// ReplicaSet that no Deployment owns, or a Job (its parallelism is its replica count;
// Job pods are placed, never evicted).
type Workload struct {
	Kind, Namespace, Name string
	UID                   types.UID
	Replicas              int32
	// Labels and Annotations of the workload object; rules select on the labels, and
	// the annotations override rules.
	Labels, Annotations map[string]string
	// Selector selects the workload's pods.
	Selector labels.Selector
	// MatchLabels are the selector's equality requirements, used for the topology
	// spread of LeastInterrupted.
	MatchLabels map[string]string
	// Template is the workload's pod template.
	Template *corev1.PodTemplateSpec
	// owners are the UIDs that own the workload's pods directly (the Deployment's
	// ReplicaSets, or the workload itself).
	owners map[types.UID]bool
}

// SplitWorkload is the workload as the split model sees it.
func (w *Workload) SplitWorkload() split.Workload {
	return split.Workload{Namespace: w.Namespace, Name: w.Name, Labels: w.Labels, Annotations: w.Annotations}
}

// Key identifies the workload in logs, events and status.
func (w *Workload) Key() string { return w.Kind + "/" + w.Namespace + "/" + w.Name }

// WorkloadOf returns the workload a pod belongs to, or nil when its owner is not a
// Deployment, StatefulSet, ReplicaSet or Job (a DaemonSet, a bare pod).
func WorkloadOf(ctx context.Context, c client.Reader, pod metav1.Object) (*Workload, error) {
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return nil, nil
	}
	switch owner.Kind {
	case KindStatefulSet:
		var sts appsv1.StatefulSet
		if err := c.Get(ctx, client.ObjectKey{Namespace: pod.GetNamespace(), Name: owner.Name}, &sts); err != nil {
			return nil, fmt.Errorf("failed to get StatefulSet %s/%s: %w", pod.GetNamespace(), owner.Name, err)
		}
		return newWorkload(KindStatefulSet, &sts.ObjectMeta, sts.Spec.Replicas, sts.Spec.Selector, &sts.Spec.Template)
	case KindJob:
		var job batchv1.Job
		if err := c.Get(ctx, client.ObjectKey{Namespace: pod.GetNamespace(), Name: owner.Name}, &job); err != nil {
			return nil, fmt.Errorf("failed to get Job %s/%s: %w", pod.GetNamespace(), owner.Name, err)
		}
		return newWorkload(KindJob, &job.ObjectMeta, job.Spec.Parallelism, job.Spec.Selector, &job.Spec.Template)
	case KindReplicaSet:
		var rs appsv1.ReplicaSet
		if err := c.Get(ctx, client.ObjectKey{Namespace: pod.GetNamespace(), Name: owner.Name}, &rs); err != nil {
			return nil, fmt.Errorf("failed to get ReplicaSet %s/%s: %w", pod.GetNamespace(), owner.Name, err)
		}
		if dep := metav1.GetControllerOf(&rs); dep != nil && dep.Kind == KindDeployment {
			w, err := DeploymentWorkload(ctx, c, pod.GetNamespace(), dep.Name)
			if err == nil && w.UID == dep.UID {
				// A ReplicaSet read live (see LiveOnMiss) may not be in the list of
				// the Deployment's ReplicaSets yet; its pods are the Deployment's all
				// the same.
				w.owners[rs.UID] = true
			}
			return w, err
		}
		return newWorkload(KindReplicaSet, &rs.ObjectMeta, rs.Spec.Replicas, rs.Spec.Selector, &rs.Spec.Template)
	}
	return nil, nil
}

// LiveOnMiss reads through cache and, for an object the cache does not hold, from
// live: a ReplicaSet the Deployment controller has just created has its first pods
// admitted milliseconds later, often before the informer has seen it, and a pod whose
// workload cannot be read would be admitted unplaced. Lists come from the cache alone.
func LiveOnMiss(cache, live client.Reader) client.Reader {
	if live == nil {
		return cache
	}
	return liveOnMiss{cache: cache, live: live}
}

type liveOnMiss struct{ cache, live client.Reader }

func (r liveOnMiss) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := r.cache.Get(ctx, key, obj, opts...)
	if apierrors.IsNotFound(err) {
		return r.live.Get(ctx, key, obj, opts...)
	}
	return err
}

func (r liveOnMiss) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return r.cache.List(ctx, list, opts...)
}

// sharedReads reads through a cache without copying what it returns: the workload
// and its ReplicaSets are the cache's own objects, for the webhook, which reads a
// workload for every pod and changes nothing in it (copies of the Deployment, its
// pod template and its ReplicaSets were a fifth of its answer). Informers replace the
// objects they hold, never change them, so what it returns stays as read.
type sharedReads struct{ client.Reader }

func (r sharedReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return r.Reader.Get(ctx, key, obj, append(opts, client.UnsafeDisableDeepCopy)...)
}

func (r sharedReads) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return r.Reader.List(ctx, list, append(opts, client.UnsafeDisableDeepCopy)...)
}

// DeploymentWorkload returns a Deployment as a workload, with its ReplicaSets as
// the owners of its pods.
func DeploymentWorkload(ctx context.Context, c client.Reader, namespace, name string) (*Workload, error) {
	var d appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &d); err != nil {
		return nil, fmt.Errorf("failed to get Deployment %s/%s: %w", namespace, name, err)
	}
	w, err := newWorkload(KindDeployment, &d.ObjectMeta, d.Spec.Replicas, d.Spec.Selector, &d.Spec.Template)
	if err != nil {
		return nil, err
	}
	var sets appsv1.ReplicaSetList
	if err := c.List(ctx, &sets, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: w.Selector}); err != nil {
		return nil, fmt.Errorf("failed to list the ReplicaSets of %s: %w", w.Key(), err)
	}
	w.owners = map[types.UID]bool{}
	for i := range sets.Items {
		if ref := metav1.GetControllerOf(&sets.Items[i]); ref != nil && ref.UID == d.UID {
			w.owners[sets.Items[i].UID] = true
		}
	}
	return w, nil
}

// StatefulSetWorkload returns a StatefulSet as a workload.
func StatefulSetWorkload(ctx context.Context, c client.Reader, namespace, name string) (*Workload, error) {
	var sts appsv1.StatefulSet
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &sts); err != nil {
		return nil, fmt.Errorf("failed to get StatefulSet %s/%s: %w", namespace, name, err)
	}
	return newWorkload(KindStatefulSet, &sts.ObjectMeta, sts.Spec.Replicas, sts.Spec.Selector, &sts.Spec.Template)
}

func newWorkload(kind string, meta *metav1.ObjectMeta, replicas *int32, sel *metav1.LabelSelector, template *corev1.PodTemplateSpec) (*Workload, error) {
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("%s %s/%s has an invalid selector: %w", kind, meta.Namespace, meta.Name, err)
	}
	w := &Workload{
		Kind: kind, Namespace: meta.Namespace, Name: meta.Name, UID: meta.UID,
		Replicas: ptr.Deref(replicas, 1), Labels: meta.Labels, Annotations: meta.Annotations,
		Selector: selector, owners: map[types.UID]bool{meta.UID: true}, Template: template,
	}
	if sel != nil {
		w.MatchLabels = sel.MatchLabels
	}
	return w, nil
}

// Owns reports whether the pod is one of the workload's.
func (w *Workload) Owns(pod metav1.Object) bool {
	ref := metav1.GetControllerOf(pod)
	return ref != nil && w.owners[ref.UID]
}

// Pods lists the workload's pods that are not terminating: those its selector selects
// (less the node topology labels the cache's pods lack, podstore.Selector) that it
// owns.
func (w *Workload) Pods(ctx context.Context, pods podstore.Reader) ([]*podstore.Pod, error) {
	// Read-only: the cache's own records, no copies, which would dominate the webhook's
	// CPU time for large workloads.
	selected, err := pods.Selected(ctx, w.Namespace, podstore.Selector(w.Selector))
	if err != nil {
		return nil, fmt.Errorf("failed to list the pods of %s: %w", w.Key(), err)
	}
	var out []*podstore.Pod
	for _, p := range selected {
		if w.Owns(p) && p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out, nil
}

// CapacityOf returns the class a pod runs in or is headed for: Ballast's label, else
// the capacity type it pins with a node selector, else that of the node it runs on
// (nodeCapacity), else On-Demand (Spot nodes are tainted, so an unplaced pod can only
// land On-Demand).
func CapacityOf(pod *podstore.Pod, nodeCapacity func(node string) string) string {
	if c := pod.Labels[v1alpha1.CapacityLabel]; c == v1alpha1.CapacitySpot || c == v1alpha1.CapacityOnDemand {
		return c
	}
	if c := pod.Spec.NodeSelector[capacityTypeKey]; c != "" {
		return c
	}
	if pod.Spec.NodeName != "" && nodeCapacity != nil {
		if c := nodeCapacity(pod.Spec.NodeName); c != "" {
			return c
		}
	}
	return v1alpha1.CapacityOnDemand
}

// IntendedCapacity is the class a pod counts as in its workload's split: its class
// (CapacityOf), except that a replica placed On-Demand on fallback counts as Spot,
// which it is meant for.
func IntendedCapacity(pod *podstore.Pod, nodeCapacity func(node string) string) string {
	if IsFallback(pod) {
		return v1alpha1.CapacitySpot
	}
	return CapacityOf(pod, nodeCapacity)
}

// IsFallback reports whether Ballast placed the pod On-Demand because Spot was short.
func IsFallback(pod metav1.Object) bool {
	return pod.GetAnnotations()[ReasonAnnotation] == string(split.ReasonFallback)
}

// FallbackActive reports whether the policy's runtime status says replicas meant for
// Spot go On-Demand now.
func FallbackActive(policy *v1alpha1.ClusterPolicy) bool {
	return policy != nil && policy.Status.Fallback != nil && policy.Status.Fallback.State == v1alpha1.FallbackFallenBack
}

// Ordinal returns the ordinal of a StatefulSet pod (web-3 -> 3), or -1.
func Ordinal(pod metav1.Object, statefulSet string) int32 {
	rest, ok := strings.CutPrefix(pod.GetName(), statefulSet+"-")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(rest, 10, 32)
	if err != nil || n < 0 {
		return -1
	}
	return int32(n)
}
