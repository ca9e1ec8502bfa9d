package cost

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Node labels FromCluster reads.
const (
	instanceTypeLabel     = "node.kubernetes.io/instance-type"
	betaInstanceTypeLabel = "beta.kubernetes.io/instance-type"
	karpenterCapacity     = "karpenter.sh/capacity-type"
	eksCapacity           = "eks.amazonaws.com/capacityType"
	zoneLabel             = "topology.kubernetes.io/zone"
	regionLabel           = "topology.kubernetes.io/region"
)

// otherAccelerators are accelerator resources the estimate does not model (it models
// GPUResource only); NVIDIA MIG slices (nvidia.com/mig-*) are treated the same way.
var otherAccelerators = []corev1.ResourceName{
	"amd.com/gpu", "aws.amazon.com/neuron", "aws.amazon.com/neuroncore", "aws.amazon.com/neurondevice", "habana.ai/gaudi",
}

// podSpecificLabels are set by controllers on each pod; a workload's labels are its
// pods' labels without them.
var podSpecificLabels = []string{
	"pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name",
	"apps.kubernetes.io/pod-index", "pod-template-generation", "batch.kubernetes.io/controller-uid",
	"batch.kubernetes.io/job-name", "controller-uid", "job-name", v1alpha1.CapacityLabel,
}

// Cluster is the objects of a cluster FromCluster reads, as the API server (or a
// snapshot of it) holds them. Nodes and Pods are what is priced; the workload objects
// are optional and make the workloads more exact.
type Cluster struct {
	Nodes []corev1.Node
	Pods  []corev1.Pod
	// PodRefs are more pods, priced as Pods are: pods read where they are held (an
	// informer's store) rather than copied. FromCluster never changes them.
	PodRefs []PodRef
	// ReplicaSets name the owner of their pods exactly (a Deployment, or whatever
	// controls the ReplicaSet); without them a ReplicaSet's pods belong to the
	// Deployment named like the ReplicaSet less its pod-template-hash.
	ReplicaSets []appsv1.ReplicaSet
	// Deployments and StatefulSets give their workloads' labels, annotations,
	// replica counts and requests; without them these come from the pods.
	Deployments  []appsv1.Deployment
	StatefulSets []appsv1.StatefulSet
}

// PodRef is a pod held elsewhere, by reference to its parts: its metadata, its node and
// phase, and its spec (whose NodeName is not read).
type PodRef struct {
	Meta     *metav1.ObjectMeta
	NodeName string
	Phase    corev1.PodPhase
	Spec     *corev1.PodSpec
}

// RefOf is the PodRef of a whole pod.
func RefOf(p *corev1.Pod) PodRef {
	return PodRef{Meta: &p.ObjectMeta, NodeName: p.Spec.NodeName, Phase: p.Status.Phase, Spec: &p.Spec}
}

// reservationAnnotation is the distribution webhook's record on each pod it places.
const reservationAnnotation = "ballast.dev/reservation"

// FromCluster turns cluster objects into the workload they run: the nodes (instance
// type, capacity type from Karpenter's, EKS managed node groups' or Ballast's label,
// zone, allocatable CPU, memory and GPUs) with the pods bound to them, the region (of
// the first node that has the label), and the workloads (Apps) and DaemonSets, which
// EstimateForPolicy plans for. Succeeded and failed pods are left out; pending pods
// and pods bound to a node not in Nodes count as replicas but run on no node. Pods of
// DaemonSets and static pods are node agents (Pod.DaemonSet), not replicas. A node
// without an instance-type label is an error, since it cannot be priced.
func FromCluster(c Cluster) (*Workload, error) {
	b := newClusterBuilder()
	for i := range c.Nodes {
		n := &c.Nodes[i]
		b.addNode(n.Name, n.Labels, n.Status.Allocatable)
	}
	for i := range c.Pods {
		p := &c.Pods[i]
		b.addPod(p.Namespace, p.Name, p.Labels, p.Annotations, p.OwnerReferences, p.Spec.NodeName, p.Status.Phase, &p.Spec)
	}
	for _, p := range c.PodRefs {
		b.addPod(p.Meta.Namespace, p.Meta.Name, p.Meta.Labels, p.Meta.Annotations, p.Meta.OwnerReferences, p.NodeName, p.Phase, p.Spec)
	}
	for i := range c.ReplicaSets {
		rs := &c.ReplicaSets[i]
		b.addReplicaSet(rs.Namespace, rs.Name, rs.OwnerReferences)
	}
	for i := range c.Deployments {
		d := &c.Deployments[i]
		b.addWorkload("Deployment", d.Namespace, d.Name, d.Labels, d.Annotations, d.Spec.Replicas, &d.Spec.Template.Spec)
	}
	for i := range c.StatefulSets {
		d := &c.StatefulSets[i]
		b.addWorkload("StatefulSet", d.Namespace, d.Name, d.Labels, d.Annotations, d.Spec.Replicas, &d.Spec.Template.Spec)
	}
	return b.workload()
}

// clusterBuilder collects what FromCluster reads of each object, and nothing else, so
// that a snapshot can be read one object at a time without keeping any whole (see
// ReadSnapshot). Objects may come in any order.
type clusterBuilder struct {
	nodes  []Node
	region string
	// missingType names the first node without an instance type.
	missingType *string
	pods        []podFacts
	// podsSeen counts the pods a snapshot holds, those left out included.
	podsSeen int
	// owners maps namespace/name of each ReplicaSet to its controller's kind and name
	// (the ReplicaSet itself when nothing controls it).
	owners map[string][2]string
	// declared are the Deployments and StatefulSets by namespace/name.
	declared map[string]workloadObject
}

// podFacts is what FromCluster reads of a pod that does not run to completion.
type podFacts struct {
	namespace, name string
	// labels are the pod's; annotations only its ballast.dev ones.
	labels, annotations map[string]string
	// owned is set when the pod has a controller, ownerKind and ownerName name it.
	owned                bool
	ownerKind, ownerName string
	nodeName             string
	requests             Resources
	accelerator          string
}

func newClusterBuilder() *clusterBuilder {
	return &clusterBuilder{owners: map[string][2]string{}, declared: map[string]workloadObject{}}
}

// addNode adds a node.
func (b *clusterBuilder) addNode(name string, labels map[string]string, allocatable corev1.ResourceList) {
	node := Node{
		Name:         name,
		InstanceType: cmp.Or(labels[instanceTypeLabel], labels[betaInstanceTypeLabel]),
		CapacityType: nodeCapacity(labels),
		Zone:         labels[zoneLabel],
		Allocatable:  resourcesOf(allocatable),
	}
	if node.InstanceType == "" && b.missingType == nil {
		b.missingType = &name
	}
	if b.region == "" {
		b.region = labels[regionLabel]
	}
	b.nodes = append(b.nodes, node)
}

// addPod adds a pod; succeeded and failed pods are left out.
func (b *clusterBuilder) addPod(namespace, name string, labels, annotations map[string]string, refs []metav1.OwnerReference,
	nodeName string, phase corev1.PodPhase, spec *corev1.PodSpec) {
	if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		return
	}
	f := podFacts{namespace: namespace, name: name, labels: labels, annotations: ballastAnnotations(annotations), nodeName: nodeName,
		requests: podRequests(spec), accelerator: accelerator(spec)}
	if ref := controllerOf(refs); ref != nil {
		f.owned, f.ownerKind, f.ownerName = true, ref.Kind, ref.Name
	}
	b.pods = append(b.pods, f)
}

// addReplicaSet records who controls a ReplicaSet.
func (b *clusterBuilder) addReplicaSet(namespace, name string, refs []metav1.OwnerReference) {
	kind, owner := "ReplicaSet", name
	if ref := controllerOf(refs); ref != nil {
		kind, owner = ref.Kind, ref.Name
	}
	b.owners[namespace+"/"+name] = [2]string{kind, owner}
}

// addWorkload records a Deployment or StatefulSet.
func (b *clusterBuilder) addWorkload(kind, namespace, name string, labels, annotations map[string]string, replicas *int32, template *corev1.PodSpec) {
	b.declared[namespace+"/"+name] = workloadObject{kind: kind, labels: labels, annotations: ballastAnnotations(annotations),
		replicas: int(deref(replicas, 1)), requests: podRequests(template), accelerator: accelerator(template)}
}

// workload returns the workload of everything added.
func (b *clusterBuilder) workload() (*Workload, error) {
	if b.missingType != nil {
		return nil, fmt.Errorf("node %s has no %s label, so its price is unknown", *b.missingType, instanceTypeLabel)
	}
	w := &Workload{Region: b.region, Nodes: b.nodes}
	byName := make(map[string]int, len(b.nodes))
	for i := range w.Nodes {
		byName[w.Nodes[i].Name] = i
	}
	apps, daemons := map[string]*appAcc{}, map[string]*appAcc{}
	for i := range b.pods {
		p := &b.pods[i]
		kind, name := p.owner(b.owners)
		pod := Pod{Namespace: p.namespace, Workload: name, Requests: p.requests, DaemonSet: kind == "DaemonSet" || kind == "Node"}
		if ni, ok := byName[p.nodeName]; ok {
			w.Nodes[ni].Pods = append(w.Nodes[ni].Pods, pod)
		}
		group := apps
		if pod.DaemonSet {
			group = daemons
		}
		key := p.namespace + "/" + name
		acc := group[key]
		if acc == nil {
			acc = &appAcc{app: App{Namespace: p.namespace, Name: name, Kind: kind, Labels: workloadLabels(p.labels), Annotations: p.annotations}}
			group[key] = acc
		}
		acc.pods++
		if acc.app.Accelerator == "" {
			acc.app.Accelerator = p.accelerator
		}
		if pod.DaemonSet {
			acc.total = maxResources(acc.total, p.requests) // one pod per node: the largest
		} else {
			acc.total = acc.total.Add(p.requests)
		}
	}
	for key, o := range b.declared {
		ns, name, _ := strings.Cut(key, "/")
		acc := apps[key]
		if acc == nil {
			acc = &appAcc{app: App{Namespace: ns, Name: name}}
			apps[key] = acc
		}
		acc.app.Kind, acc.app.Labels, acc.app.Annotations = o.kind, o.labels, o.annotations
		acc.app.Replicas, acc.app.Requests, acc.app.Accelerator = o.replicas, o.requests, o.accelerator
	}
	for _, key := range slices.Sorted(maps.Keys(apps)) {
		acc := apps[key]
		if _, ok := b.declared[key]; !ok {
			acc.app.Replicas = acc.pods
			acc.app.Requests = Resources{MilliCPU: ceilDiv(acc.total.MilliCPU, int64(acc.pods)), Memory: ceilDiv(acc.total.Memory, int64(acc.pods)),
				GPU: ceilDiv(acc.total.GPU, int64(acc.pods))}
		}
		if acc.app.Replicas > 0 {
			w.Apps = append(w.Apps, acc.app)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(daemons)) {
		acc := daemons[key]
		acc.app.Replicas, acc.app.Requests = acc.pods, acc.total
		w.DaemonSets = append(w.DaemonSets, acc.app)
	}
	return w, nil
}

// appAcc accumulates the pods of one workload.
type appAcc struct {
	app   App
	total Resources
	pods  int
}

// workloadObject is what a Deployment or StatefulSet says about its workload.
type workloadObject struct {
	kind        string
	labels      map[string]string
	annotations map[string]string
	replicas    int
	requests    Resources
	accelerator string
}

func controllerOf(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	return nil
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

func maxResources(a, b Resources) Resources {
	return Resources{MilliCPU: max(a.MilliCPU, b.MilliCPU), Memory: max(a.Memory, b.Memory), GPU: max(a.GPU, b.GPU)}
}

// nodeCapacity reads a node's capacity type from Karpenter's, EKS managed node
// groups' or Ballast's label; a node with none of them is On-Demand.
func nodeCapacity(labels map[string]string) string {
	switch {
	case labels[karpenterCapacity] == Spot, labels[eksCapacity] == "SPOT", labels[v1alpha1.CapacityLabel] == Spot:
		return Spot
	}
	return OnDemand
}

// owner names the workload a pod belongs to: the controller of its ReplicaSet (from
// owners, else the Deployment named like the ReplicaSet less the pod's
// pod-template-hash), or its controller, or, for a static pod (controlled by its
// Node), its name less the node's, or the pod itself.
func (p *podFacts) owner(owners map[string][2]string) (kind, name string) {
	switch {
	case !p.owned:
		return "Pod", p.name
	case p.ownerKind == "ReplicaSet":
		if o, ok := owners[p.namespace+"/"+p.ownerName]; ok {
			return o[0], o[1]
		}
		if hash := p.labels["pod-template-hash"]; hash != "" && strings.HasSuffix(p.ownerName, "-"+hash) {
			return "Deployment", strings.TrimSuffix(p.ownerName, "-"+hash)
		}
	case p.ownerKind == "Node":
		return "Node", strings.TrimSuffix(p.name, "-"+p.ownerName)
	}
	return p.ownerKind, p.ownerName
}

func workloadLabels(labels map[string]string) map[string]string {
	out := maps.Clone(labels)
	for _, k := range podSpecificLabels {
		delete(out, k)
	}
	return out
}

// ballastAnnotations keeps a pod's ballast.dev annotations: pods alone carry no
// workload annotations, but a pod template may carry them. The reservation the webhook
// writes on each pod it places (one of a kind, the admission's UID) says nothing
// about the workload and is left out.
func ballastAnnotations(a map[string]string) map[string]string {
	var out map[string]string
	for k, v := range a {
		if strings.HasPrefix(k, "ballast.dev/") && k != reservationAnnotation {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// resourcesOf reads CPU, memory and GPUs from a resource list.
func resourcesOf(l corev1.ResourceList) Resources {
	var r Resources
	if q, ok := l[corev1.ResourceCPU]; ok {
		r.MilliCPU = q.MilliValue()
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		r.Memory = q.Value()
	}
	if q, ok := l[GPUResource]; ok {
		r.GPU = q.Value()
	}
	return r
}

// podRequests is what a pod requests from its node: the larger of its containers'
// (with restartable init containers, i.e. sidecars) sum and its largest init
// container, plus the pod overhead.
func podRequests(spec *corev1.PodSpec) Resources {
	var sum, initMax Resources
	for i := range spec.Containers {
		sum = sum.Add(containerRequests(&spec.Containers[i]))
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		r := containerRequests(c)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sum = sum.Add(r)
			continue
		}
		initMax = maxResources(initMax, r)
	}
	total := maxResources(sum, initMax)
	overhead := resourcesOf(spec.Overhead)
	total.MilliCPU += overhead.MilliCPU
	total.Memory += overhead.Memory
	return total
}

// containerRequests are a container's requests; as in Kubernetes, a container with a
// limit and no request requests its limit (extended resources such as GPUs are
// usually given as limits only).
func containerRequests(c *corev1.Container) Resources {
	req, lim := resourcesOf(c.Resources.Requests), resourcesOf(c.Resources.Limits)
	r := req
	if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
		r.MilliCPU = lim.MilliCPU
	}
	if _, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok {
		r.Memory = lim.Memory
	}
	if _, ok := c.Resources.Requests[GPUResource]; !ok {
		r.GPU = lim.GPU
	}
	return r
}

// accelerator names the first accelerator resource other than GPUResource that a
// container of the pod requests, or "".
func accelerator(spec *corev1.PodSpec) string {
	var names []string
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			for _, l := range []corev1.ResourceList{cs[i].Resources.Requests, cs[i].Resources.Limits} {
				for name, q := range l {
					if q.IsZero() {
						continue
					}
					if slices.Contains(otherAccelerators, name) || strings.HasPrefix(string(name), "nvidia.com/mig-") {
						names = append(names, string(name))
					}
				}
			}
		}
	}
	if len(names) == 0 {
		return ""
	}
	return slices.Min(names)
}

// Collector gathers a cluster's objects one at a time and keeps only what FromCluster
// reads of them, so that a cluster read page by page (`ballast estimate
// --kubeconfig`) is never held whole. Its Workload is what FromCluster gives for the
// same objects, whatever order they came in.
type Collector struct {
	b *clusterBuilder
}

// NewCollector returns an empty Collector.
func NewCollector() *Collector { return &Collector{b: newClusterBuilder()} }

// AddNode adds a node.
func (c *Collector) AddNode(n *corev1.Node) { c.b.addNode(n.Name, n.Labels, n.Status.Allocatable) }

// AddPod adds a pod.
func (c *Collector) AddPod(p *corev1.Pod) {
	c.b.podsSeen++
	c.b.addPod(p.Namespace, p.Name, p.Labels, p.Annotations, p.OwnerReferences, p.Spec.NodeName, p.Status.Phase, &p.Spec)
}

// AddReplicaSet adds a ReplicaSet, which names its pods' owner exactly.
func (c *Collector) AddReplicaSet(rs *appsv1.ReplicaSet) {
	c.b.addReplicaSet(rs.Namespace, rs.Name, rs.OwnerReferences)
}

// Empty reports whether no node and no pod was added.
func (c *Collector) Empty() bool { return len(c.b.nodes) == 0 && c.b.podsSeen == 0 }

// Workload returns the workload of everything added; see FromCluster.
func (c *Collector) Workload() (*Workload, error) { return c.b.workload() }
