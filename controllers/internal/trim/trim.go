package trim

import (
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/controllers/internal/evict"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// KeepsAnnotation reports whether the cache keeps an annotation: Ballast's own
// (ballast.dev/...: placement reasons and reservations, workload overrides, the
// bin-packing mark on nodes), Karpenter's do-not-disrupt, and the mirror-pod mark.
// Other annotations (kubectl's last-applied configuration, service meshes', CNIs')
// are never read and often the largest part of an object.
func KeepsAnnotation(key string) bool {
	return strings.HasPrefix(key, v1alpha1.GroupVersion.Group+"/") || key == evict.DoNotDisruptAnnotation ||
		key == corev1.MirrorPodAnnotationKey
}

// podLabels are a pod's labels without the node's topology (podstore.KeepsLabel).
func podLabels(in map[string]string) map[string]string {
	for k := range in {
		if !podstore.KeepsLabel(k) {
			out := make(map[string]string, len(in))
			for k, v := range in {
				if podstore.KeepsLabel(k) {
					out[k] = v
				}
			}
			return out
		}
	}
	return in
}

// objectMeta keeps the metadata Ballast reads: identity, the resourceVersion (the
// preconditions and optimistic locks of writes), times, labels, owner references and
// the annotations KeepsAnnotation names.
func objectMeta(m *metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion, Generation: m.Generation,
		CreationTimestamp: m.CreationTimestamp, DeletionTimestamp: m.DeletionTimestamp,
		Labels: m.Labels, Annotations: annotations(m.Annotations), OwnerReferences: m.OwnerReferences,
	}
}

// annotations keeps the annotations the cache keeps (KeepsAnnotation) but a pod's
// reservation (podstore.Pod.Reservation), as one map for all objects that have the
// same (shareStrings): every pod Ballast placed carries the same few keys and a reason
// most of its workload's pods share.
func annotations(in map[string]string) map[string]string {
	var out map[string]string
	for k, v := range in {
		if KeepsAnnotation(k) && k != podstore.ReservationAnnotation {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return shareStrings(out)
}

// Pod keeps what placement, fallback, eviction, bin-packing, limits and cost read of a
// pod (see the package documentation), as the cache's compact record of it
// (podstore.Pod): its spec, less the node, shared with the pods that have the same.
func Pod(p *corev1.Pod) *podstore.Pod {
	out := &podstore.Pod{ObjectMeta: objectMeta(&p.ObjectMeta), Reservation: p.Annotations[podstore.ReservationAnnotation]}
	out.Labels = podLabels(out.Labels)
	out.Spec.NodeName = p.Spec.NodeName
	out.Status.Phase = p.Status.Phase
	for _, c := range p.Status.Conditions {
		// Only an unscheduled pod's PodScheduled condition is read (pending since
		// when, and why); a scheduled pod's is most of the cache's conditions.
		if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue {
			// The scheduler's message lists every node's verdict: long, and never read.
			c.Message = ""
			out.Status.Conditions = append(out.Status.Conditions, c)
		}
	}
	spec := podSpec(&p.Spec)
	spec.Volumes = claims(p.Spec.Volumes)
	return share(out, spec)
}

// podSpec keeps a pod's (or pod template's) scheduling constraints and requests.
func podSpec(s *corev1.PodSpec) corev1.PodSpec {
	out := corev1.PodSpec{
		NodeSelector: s.NodeSelector, Tolerations: s.Tolerations,
		Containers: containers(s.Containers), InitContainers: containers(s.InitContainers),
		Overhead: s.Overhead, Resources: s.Resources,
	}
	if s.Affinity != nil && s.Affinity.NodeAffinity != nil {
		out.Affinity = &corev1.Affinity{NodeAffinity: s.Affinity.NodeAffinity}
	}
	return out
}

// containers keeps each container's requests and limits, its restart policy (a
// restartable init container is a sidecar, counted with the containers) and the
// ports it takes on its node.
func containers(in []corev1.Container) []corev1.Container {
	if in == nil {
		return nil
	}
	out := make([]corev1.Container, len(in))
	for i := range in {
		c := &in[i]
		out[i] = corev1.Container{
			Name:          c.Name,
			Resources:     corev1.ResourceRequirements{Requests: c.Resources.Requests, Limits: c.Resources.Limits},
			RestartPolicy: c.RestartPolicy,
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				out[i].Ports = append(out[i].Ports, p)
			}
		}
	}
	return out
}

// claims keeps the volumes that claim a PersistentVolumeClaim (bound to a zone, so a
// pod that has one cannot be moved by simulation alone).
func claims(in []corev1.Volume) []corev1.Volume {
	var out []corev1.Volume
	for _, v := range in {
		if v.PersistentVolumeClaim != nil || v.Ephemeral != nil {
			out = append(out, corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: v.PersistentVolumeClaim, Ephemeral: v.Ephemeral,
			}})
		}
	}
	return out
}

// template keeps what a workload's pod template says about where its pods may run
// and what they request.
func template(t *corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	out := corev1.PodTemplateSpec{Spec: podSpec(&t.Spec)}
	shareSpec(&out.Spec)
	return out
}

// Node keeps a node's labels, Ballast's annotations, provider ID (the instance an
// interruption notice names), taints, schedulability, capacity and allocatable
// resources.
func Node(n *corev1.Node) *corev1.Node {
	out := corev1.Node{
		TypeMeta: n.TypeMeta, ObjectMeta: nodeMeta(&n.ObjectMeta),
		Spec: corev1.NodeSpec{ProviderID: n.Spec.ProviderID, Taints: n.Spec.Taints, Unschedulable: n.Spec.Unschedulable},
		// Nodes of one instance type report the same capacity and allocatable resources.
		Status: corev1.NodeStatus{Capacity: shareResources(n.Status.Capacity), Allocatable: shareResources(n.Status.Allocatable)},
	}
	*n = out
	return n
}

// nodeMeta is a node's objectMeta, its labels' keys and values held once for all
// nodes.
func nodeMeta(m *metav1.ObjectMeta) metav1.ObjectMeta {
	out := objectMeta(m)
	out.Labels = internStrings(out.Labels)
	return out
}

// workloadMeta is a workload's objectMeta, its labels one map for all objects with the
// same (a ReplicaSet's are its selector's, a Deployment's usually too).
func workloadMeta(m *metav1.ObjectMeta) metav1.ObjectMeta {
	out := objectMeta(m)
	out.Labels = shareStrings(out.Labels)
	return out
}

// selector is a workload's selector, its labels one map for all objects with the same.
func selector(s *metav1.LabelSelector) *metav1.LabelSelector {
	if s == nil || len(s.MatchLabels) == 0 {
		return s
	}
	return &metav1.LabelSelector{MatchLabels: shareStrings(s.MatchLabels), MatchExpressions: s.MatchExpressions}
}

// Deployment keeps a Deployment's metadata, replicas, selector and template.
func Deployment(d *appsv1.Deployment) *appsv1.Deployment {
	out := appsv1.Deployment{TypeMeta: d.TypeMeta, ObjectMeta: workloadMeta(&d.ObjectMeta), Spec: appsv1.DeploymentSpec{
		Replicas: d.Spec.Replicas, Selector: selector(d.Spec.Selector), Template: template(&d.Spec.Template),
	}}
	*d = out
	return d
}

// StatefulSet keeps a StatefulSet's metadata, replicas, selector and template.
func StatefulSet(s *appsv1.StatefulSet) *appsv1.StatefulSet {
	out := appsv1.StatefulSet{TypeMeta: s.TypeMeta, ObjectMeta: workloadMeta(&s.ObjectMeta), Spec: appsv1.StatefulSetSpec{
		Replicas: s.Spec.Replicas, Selector: selector(s.Spec.Selector), Template: template(&s.Spec.Template),
	}}
	*s = out
	return s
}

// Job keeps a Job's metadata, parallelism, selector and template.
func Job(j *batchv1.Job) *batchv1.Job {
	out := batchv1.Job{TypeMeta: j.TypeMeta, ObjectMeta: workloadMeta(&j.ObjectMeta), Spec: batchv1.JobSpec{
		Parallelism: j.Spec.Parallelism, Selector: selector(j.Spec.Selector), Template: template(&j.Spec.Template),
	}}
	*j = out
	return j
}

// ReplicaSet keeps a ReplicaSet's metadata, replicas and selector, and its template
// only when no Deployment controls it: the pods of a Deployment's ReplicaSet are
// placed by the Deployment's template.
func ReplicaSet(rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
	out := appsv1.ReplicaSet{TypeMeta: rs.TypeMeta, ObjectMeta: workloadMeta(&rs.ObjectMeta), Spec: appsv1.ReplicaSetSpec{
		Replicas: rs.Spec.Replicas, Selector: selector(rs.Spec.Selector),
	}}
	if owner := metav1.GetControllerOf(rs); owner == nil || owner.Kind != "Deployment" {
		out.Spec.Template = template(&rs.Spec.Template)
	}
	*rs = out
	return rs
}

// Namespace keeps a namespace's metadata (the opt-in label, deletion).
func Namespace(ns *corev1.Namespace) *corev1.Namespace {
	out := corev1.Namespace{TypeMeta: ns.TypeMeta, ObjectMeta: objectMeta(&ns.ObjectMeta)}
	*ns = out
	return ns
}

// NodeClaim keeps a NodeClaim's metadata, provider ID, capacity and conditions
// (without messages).
func NodeClaim(nc *karpv1.NodeClaim) *karpv1.NodeClaim {
	out := karpv1.NodeClaim{TypeMeta: nc.TypeMeta, ObjectMeta: objectMeta(&nc.ObjectMeta)}
	out.Status.ProviderID = nc.Status.ProviderID
	out.Status.Capacity = nc.Status.Capacity
	out.Status.Conditions = slices.Clone(nc.Status.Conditions)
	for i := range out.Status.Conditions {
		out.Status.Conditions[i].Message = ""
	}
	*nc = out
	return nc
}

// StripManagedFields drops an object's managedFields, which nothing but the limits
// controller (on NodePools, never trimmed) reads: the transform of every kind without
// its own.
func StripManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}
