package cost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Node labels a snapshot reads.
const (
	instanceTypeLabel     = "node.kubernetes.io/instance-type"
	betaInstanceTypeLabel = "beta.kubernetes.io/instance-type"
	karpenterCapacity     = "karpenter.sh/capacity-type"
	eksCapacity           = "eks.amazonaws.com/capacityType"
	zoneLabel             = "topology.kubernetes.io/zone"
	regionLabel           = "topology.kubernetes.io/region"
)

// podSpecificLabels are set by controllers on each pod; a workload's labels are its
// pods' labels without them.
var podSpecificLabels = []string{
	"pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name",
	"apps.kubernetes.io/pod-index", "pod-template-generation", "batch.kubernetes.io/controller-uid",
	"batch.kubernetes.io/job-name", "controller-uid", "job-name", v1alpha1.CapacityLabel,
}

type typeMeta struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Items      []json.RawMessage `json:"items"`
}

// snapshot collects the objects of a snapshot.
type snapshot struct {
	nodes     []corev1.Node
	pods      []corev1.Pod
	workloads map[string]workloadObject // namespace/name
}

// workloadObject is what a Deployment or StatefulSet in a snapshot says.
type workloadObject struct {
	kind        string
	labels      map[string]string
	annotations map[string]string
	replicas    int
	requests    Resources
}

// ParseSnapshot reads nodes and pods from `kubectl get nodes,pods -A -o yaml` output:
// a v1 List, NodeList or PodList, or a YAML stream of such objects. Succeeded and
// failed pods are left out; pending pods count as replicas but run on no node.
func ParseSnapshot(data []byte) (*Workload, error) {
	s := &snapshot{workloads: map[string]workloadObject{}}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("invalid snapshot: %w", err)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		if err := s.add(raw); err != nil {
			return nil, err
		}
	}
	if len(s.nodes) == 0 && len(s.pods) == 0 {
		return nil, errors.New("the snapshot holds no nodes and no pods: take it with `kubectl get nodes,pods -A -o yaml`")
	}
	return s.workload()
}

func (s *snapshot) add(raw json.RawMessage) error {
	var tm typeMeta
	if err := json.Unmarshal(raw, &tm); err != nil {
		return fmt.Errorf("invalid snapshot object: %w", err)
	}
	switch tm.Kind {
	case "List", "NodeList", "PodList", "DeploymentList", "StatefulSetList":
		for _, item := range tm.Items {
			if err := s.add(item); err != nil {
				return err
			}
		}
	case "Node":
		var n corev1.Node
		if err := json.Unmarshal(raw, &n); err != nil {
			return fmt.Errorf("invalid Node in snapshot: %w", err)
		}
		s.nodes = append(s.nodes, n)
	case "Pod":
		var p corev1.Pod
		if err := json.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("invalid Pod in snapshot: %w", err)
		}
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			s.pods = append(s.pods, p)
		}
	case "Deployment":
		var d appsv1.Deployment
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("invalid Deployment in snapshot: %w", err)
		}
		s.workloads[d.Namespace+"/"+d.Name] = workloadObject{kind: "Deployment", labels: d.Labels, annotations: d.Annotations,
			replicas: int(deref(d.Spec.Replicas, 1)), requests: podRequests(&d.Spec.Template.Spec)}
	case "StatefulSet":
		var d appsv1.StatefulSet
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("invalid StatefulSet in snapshot: %w", err)
		}
		s.workloads[d.Namespace+"/"+d.Name] = workloadObject{kind: "StatefulSet", labels: d.Labels, annotations: d.Annotations,
			replicas: int(deref(d.Spec.Replicas, 1)), requests: podRequests(&d.Spec.Template.Spec)}
	}
	return nil
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// appAcc accumulates the pods of one workload.
type appAcc struct {
	app   App
	total Resources
	pods  int
}

func (s *snapshot) workload() (*Workload, error) {
	w := &Workload{}
	byName := map[string]int{}
	for i, n := range s.nodes {
		node := Node{
			Name:         n.Name,
			InstanceType: n.Labels[instanceTypeLabel],
			CapacityType: nodeCapacity(n.Labels),
			Zone:         n.Labels[zoneLabel],
			Allocatable:  Resources{MilliCPU: n.Status.Allocatable.Cpu().MilliValue(), Memory: n.Status.Allocatable.Memory().Value()},
		}
		if node.InstanceType == "" {
			node.InstanceType = n.Labels[betaInstanceTypeLabel]
		}
		if node.InstanceType == "" {
			return nil, fmt.Errorf("node %s has no %s label, so its price is unknown", n.Name, instanceTypeLabel)
		}
		if w.Region == "" {
			w.Region = n.Labels[regionLabel]
		}
		byName[n.Name] = i
		w.Nodes = append(w.Nodes, node)
	}
	apps, daemons := map[string]*appAcc{}, map[string]*appAcc{}
	for i := range s.pods {
		p := &s.pods[i]
		kind, name := owner(p)
		req := podRequests(&p.Spec)
		pod := Pod{Namespace: p.Namespace, Workload: name, Requests: req, DaemonSet: kind == "DaemonSet"}
		if ni, ok := byName[p.Spec.NodeName]; ok {
			w.Nodes[ni].Pods = append(w.Nodes[ni].Pods, pod)
		}
		group := apps
		if pod.DaemonSet {
			group = daemons
		}
		key := p.Namespace + "/" + name
		acc := group[key]
		if acc == nil {
			acc = &appAcc{app: App{Namespace: p.Namespace, Name: name, Kind: kind, Labels: workloadLabels(p.Labels), Annotations: ballastAnnotations(p.Annotations)}}
			group[key] = acc
		}
		acc.pods++
		if pod.DaemonSet {
			acc.total = maxResources(acc.total, req) // one pod per node: the largest
		} else {
			acc.total = acc.total.Add(req)
		}
	}
	for key, o := range s.workloads {
		ns, name, _ := strings.Cut(key, "/")
		acc := apps[key]
		if acc == nil {
			acc = &appAcc{app: App{Namespace: ns, Name: name}}
			apps[key] = acc
		}
		acc.app.Kind, acc.app.Labels, acc.app.Annotations = o.kind, o.labels, o.annotations
		acc.app.Replicas, acc.app.Requests = o.replicas, o.requests
	}
	for _, key := range slices.Sorted(maps.Keys(apps)) {
		acc := apps[key]
		if _, declared := s.workloads[key]; !declared {
			acc.app.Replicas = acc.pods
			acc.app.Requests = Resources{MilliCPU: ceilDiv(acc.total.MilliCPU, int64(acc.pods)), Memory: ceilDiv(acc.total.Memory, int64(acc.pods))}
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

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

func maxResources(a, b Resources) Resources {
	return Resources{MilliCPU: max(a.MilliCPU, b.MilliCPU), Memory: max(a.Memory, b.Memory)}
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

// owner names the workload a pod belongs to: the Deployment of its ReplicaSet (the
// ReplicaSet's name without the pod-template-hash suffix), or its controller, or the
// pod itself.
func owner(p *corev1.Pod) (kind, name string) {
	for _, ref := range p.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		if ref.Kind == "ReplicaSet" {
			if hash := p.Labels["pod-template-hash"]; hash != "" && strings.HasSuffix(ref.Name, "-"+hash) {
				return "Deployment", strings.TrimSuffix(ref.Name, "-"+hash)
			}
		}
		return ref.Kind, ref.Name
	}
	return "Pod", p.Name
}

func workloadLabels(labels map[string]string) map[string]string {
	out := maps.Clone(labels)
	for _, k := range podSpecificLabels {
		delete(out, k)
	}
	return out
}

// ballastAnnotations keeps a pod's ballast.dev annotations: a snapshot of pods alone
// has no workload annotations, but a pod template may carry them.
func ballastAnnotations(a map[string]string) map[string]string {
	var out map[string]string
	for k, v := range a {
		if strings.HasPrefix(k, "ballast.dev/") {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
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
	if cpu, ok := spec.Overhead[corev1.ResourceCPU]; ok {
		total.MilliCPU += cpu.MilliValue()
	}
	if mem, ok := spec.Overhead[corev1.ResourceMemory]; ok {
		total.Memory += mem.Value()
	}
	return total
}

// containerRequests are a container's requests; as in Kubernetes, a container with a
// limit and no request requests its limit.
func containerRequests(c *corev1.Container) Resources {
	var r Resources
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		r.MilliCPU = q.MilliValue()
	} else if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.MilliCPU = q.MilliValue()
	}
	if q, ok := c.Resources.Requests[corev1.ResourceMemory]; ok {
		r.Memory = q.Value()
	} else if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.Memory = q.Value()
	}
	return r
}
