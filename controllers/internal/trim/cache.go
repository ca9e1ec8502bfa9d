package trim

import (
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
)

// kind is one trimmed kind: its transform, and the fields whose whole subtree the
// trimmed object keeps (JSON paths), which a patch may replace or delete.
type kind struct {
	prototype client.Object
	transform toolscache.TransformFunc
	whole     []string
}

// kept are the metadata paths every trimmed kind keeps whole (pods their owner
// references only: see podstore.KeepsLabel).
var kept = []string{"metadata.labels", "metadata.ownerReferences"}

var kinds = []kind{
	// A pod's labels are kept without the node's topology (podstore.KeepsLabel): a patch may
	// set or delete single labels, never replace them all.
	{&corev1.Pod{}, ofPod, []string{
		"spec.nodeName", "spec.nodeSelector", "spec.tolerations", "spec.affinity.nodeAffinity", "spec.overhead", "spec.resources",
		"status.phase", "metadata.ownerReferences",
	}},
	{&corev1.Node{}, of(Node), append([]string{
		"spec.taints", "spec.unschedulable", "status.capacity", "status.allocatable",
	}, kept...)},
	{&appsv1.Deployment{}, of(Deployment), append([]string{"spec.replicas", "spec.selector"}, kept...)},
	{&appsv1.StatefulSet{}, of(StatefulSet), append([]string{"spec.replicas", "spec.selector"}, kept...)},
	{&appsv1.ReplicaSet{}, of(ReplicaSet), append([]string{"spec.replicas", "spec.selector"}, kept...)},
	{&batchv1.Job{}, of(Job), append([]string{"spec.parallelism", "spec.selector"}, kept...)},
	{&corev1.Namespace{}, of(Namespace), kept},
	{&karpv1.NodeClaim{}, of(NodeClaim), append([]string{"status.capacity"}, kept...)},
}

// of makes a cache transform of a trim function. Objects of another type (the
// metadata-only or unstructured informers of the same kind) lose their managedFields
// only.
func of[T client.Object](f func(T) T) toolscache.TransformFunc {
	return func(obj any) (any, error) {
		if o, ok := obj.(T); ok {
			return f(o), nil
		}
		return StripManagedFields(obj)
	}
}

// ofPod is the cache transform of pods: a whole pod becomes the cache's record of it
// (podstore.Pod); a metadata-only or unstructured one loses its managedFields only.
func ofPod(obj any) (any, error) {
	if p, ok := obj.(*corev1.Pod); ok {
		return Pod(p), nil
	}
	return StripManagedFields(obj)
}

// Transforms returns the cache transform of every trimmed kind, and NodePools' (none:
// they stay whole), by prototype object, for cache.Options.ByObject; every other kind
// takes StripManagedFields as cache.Options.DefaultTransform.
func Transforms() map[client.Object]toolscache.TransformFunc {
	out := map[client.Object]toolscache.TransformFunc{
		// The limits controller reads NodePools' managedFields (whether it set their
		// limits) and the commitments controller copies a pool's template.
		&karpv1.NodePool{}: func(obj any) (any, error) { return obj, nil },
	}
	for _, k := range kinds {
		out[k.prototype] = k.transform
	}
	return out
}

// trimmed returns the trimmed kind of obj, or nil.
func trimmed(obj any) *kind {
	t := reflect.TypeOf(obj)
	for i := range kinds {
		if reflect.TypeOf(kinds[i].prototype) == t {
			return &kinds[i]
		}
	}
	return nil
}
