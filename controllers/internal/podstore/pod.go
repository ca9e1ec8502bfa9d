package podstore

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
)

// Pod is what the manager's cache keeps of a pod when it is trimmed (package trim):
// its metadata, its node, phase and conditions, and its spec less the node, which the
// pods of a workload share. A corev1.Pod struct is 1,240 bytes before any of its
// fields is set; this record is about 330, and holds what every pod reader of the
// runtime reads.
//
// Its fields have the paths they have in a corev1.Pod (pod.Spec.Containers,
// pod.Spec.NodeName, pod.Status.Phase), so code reads either the same way. A Pod from
// the cache is the cache's own: read it, never change it (changes go to the API server
// through a client, with the object Object returns).
type Pod struct {
	metav1.ObjectMeta
	Spec   Spec
	Status Status
	// Reservation is the pod's ReservationAnnotation, which the cache keeps here rather
	// than in the annotations: one of a kind, it would make each pod's annotations a map
	// of its own, where the other annotations (the reason Ballast placed it) are those
	// of many pods, which share one map.
	Reservation string
}

// Spec is a pod's spec as the cache keeps it.
type Spec struct {
	// PodSpec is the trimmed spec, shared by every cached pod that has the same (its
	// NodeName is always empty: the pod's is NodeName below). Never nil.
	*corev1.PodSpec
	// NodeName is the node the pod is bound to.
	NodeName string
}

// ReservationAnnotation on a pod holds the UID of the admission that placed it (the
// distribution webhook's).
const ReservationAnnotation = "ballast.dev/reservation"

// Status is the part of a pod's status the cache keeps.
type Status struct {
	Phase corev1.PodPhase
	// Conditions holds the PodScheduled condition of a pod that is not scheduled
	// (package trim); a whole pod's every condition.
	Conditions []corev1.PodCondition
}

// FromPod returns the record of a whole pod: it shares p's metadata maps and spec, so
// neither may change while the record is in use.
func FromPod(p *corev1.Pod) *Pod {
	out := View(p)
	return &out
}

// View is FromPod by value, for a caller that keeps the record on its stack.
func View(p *corev1.Pod) Pod {
	return Pod{
		ObjectMeta:  p.ObjectMeta,
		Spec:        Spec{PodSpec: &p.Spec, NodeName: p.Spec.NodeName},
		Status:      Status{Phase: p.Status.Phase, Conditions: p.Status.Conditions},
		Reservation: p.Annotations[ReservationAnnotation],
	}
}

// Of returns the pod record an informer's event or store holds: the cache's record
// (trimmed), the record of a whole pod (untrimmed, or another informer's), or the
// object of a deleted pod's tombstone.
func Of(obj any) (*Pod, bool) {
	switch o := obj.(type) {
	case *Pod:
		return o, true
	case *corev1.Pod:
		return FromPod(o), true
	case toolscache.DeletedFinalStateUnknown:
		return Of(o.Obj)
	}
	return nil, false
}

// Object returns a corev1.Pod with p's metadata (copied), node, phase and conditions,
// for what takes an API object: a write through a client (a patch, a delete, an
// eviction), an event recorded on the pod. Its spec is empty but for the node.
func (p *Pod) Object() *corev1.Pod {
	out := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: *p.ObjectMeta.DeepCopy()}
	out.Spec.NodeName = p.Spec.NodeName
	out.Status.Phase = p.Status.Phase
	return out
}

// GetObjectKind is the record's kind: none (it is no API object; Object is).
func (p *Pod) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// Records returns the records of whole pods (FromPod).
func Records(pods ...*corev1.Pod) []*Pod {
	out := make([]*Pod, len(pods))
	for i, p := range pods {
		out[i] = FromPod(p)
	}
	return out
}

// RecordsOf returns the records of a list's pods (FromPod).
func RecordsOf(pods []corev1.Pod) []*Pod {
	out := make([]*Pod, len(pods))
	for i := range pods {
		out[i] = FromPod(&pods[i])
	}
	return out
}

// DeepCopy is DeepCopyObject, typed (and not the embedded metadata's).
func (p *Pod) DeepCopy() *Pod { return p.DeepCopyObject().(*Pod) }

// DeepCopyObject copies p's metadata and status; the shared spec stays shared (no one
// changes it).
func (p *Pod) DeepCopyObject() runtime.Object {
	out := &Pod{ObjectMeta: *p.ObjectMeta.DeepCopy(), Spec: p.Spec, Status: p.Status, Reservation: p.Reservation}
	if p.Status.Conditions != nil {
		out.Status.Conditions = make([]corev1.PodCondition, len(p.Status.Conditions))
		for i := range p.Status.Conditions {
			p.Status.Conditions[i].DeepCopyInto(&out.Status.Conditions[i])
		}
	}
	return out
}
