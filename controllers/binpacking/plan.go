package binpacking

import (
	"cmp"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	schedcorev1 "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/ballast-dev/ballast/controllers/internal/evict"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Labels, taints and annotations the plan reads or writes.
const (
	// NodePoolLabel is Karpenter's: the NodePool that launched the node.
	NodePoolLabel = "karpenter.sh/nodepool"
	// DisruptedTaint is Karpenter's: Karpenter is already disrupting the node.
	DisruptedTaint = "karpenter.sh/disrupted"
	// DrainTaint is Ballast's NoSchedule taint on a node it is emptying, so that the
	// evicted pods are not scheduled back onto it.
	DrainTaint = "ballast.dev/binpacking"
	// UnderusedSinceAnnotation records on a node when it was first seen below the
	// thresholds (RFC 3339), so that the stable period survives a restart.
	UnderusedSinceAnnotation = "ballast.dev/underused-since"
	mirrorAnnotation         = "kubernetes.io/config.mirror"
)

// Node is a node with the pods bound to it that still run (not terminal).
type Node struct {
	Node *corev1.Node
	Pods []*podstore.Pod
}

// Usage is a node's requested share of its allocatable CPU and memory, in percent.
type Usage struct{ CPU, Memory float64 }

// Requests returns what pod requests (containers, init containers, overhead).
func Requests(pod *podstore.Pod) (cpuMilli, memBytes int64) {
	// The helper reads the spec alone; a copy on the stack is no allocation.
	whole := corev1.Pod{Spec: *pod.Spec.PodSpec}
	r := resourcehelper.PodRequests(&whole, resourcehelper.PodResourcesOptions{})
	return r.Cpu().MilliValue(), r.Memory().Value()
}

// UsageOf returns the node's requested shares.
func UsageOf(n *Node) Usage {
	var cpu, mem int64
	for _, p := range n.Pods {
		c, m := Requests(p)
		cpu += c
		mem += m
	}
	alloc := n.Node.Status.Allocatable
	share := func(used, total int64) float64 {
		if total <= 0 {
			return 100
		}
		return float64(used) * 100 / float64(total)
	}
	return Usage{CPU: share(cpu, alloc.Cpu().MilliValue()), Memory: share(mem, alloc.Memory().Value())}
}

// Below reports whether u is below the policy's thresholds: a nil threshold does not
// disqualify (validation requires at least one).
func Below(pe *v1alpha1.PodEvictionSpec, u Usage) bool {
	if pe == nil || (pe.CPUThresholdPercent == nil && pe.MemoryThresholdPercent == nil) {
		return false
	}
	if t := pe.CPUThresholdPercent; t != nil && u.CPU >= float64(*t) {
		return false
	}
	if t := pe.MemoryThresholdPercent; t != nil && u.Memory >= float64(*t) {
		return false
	}
	return true
}

// Managed reports whether the node belongs to one of the NodePools of the cluster's
// default supply (v1alpha1.SupplyPool); the pools of spec.nodePools are Karpenter's alone
// to consolidate.
func Managed(node *corev1.Node, cluster string) bool {
	return v1alpha1.SupplyPool(cluster, node.Labels[NodePoolLabel])
}

// Disrupting reports whether Karpenter (or anyone) is already taking the node away.
func Disrupting(node *corev1.Node) bool {
	return node.DeletionTimestamp != nil || slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.Key == DisruptedTaint })
}

// Draining reports whether Ballast tainted the node to empty it.
func Draining(node *corev1.Node) bool {
	return slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.Key == DrainTaint })
}

// Stays reports whether a pod is left on a drained node without counting against it:
// DaemonSet pods (they run on every node) and mirror pods (the kubelet's).
func Stays(pod *podstore.Pod) bool {
	if pod.Annotations[mirrorAnnotation] != "" {
		return true
	}
	for _, o := range pod.OwnerReferences {
		if o.Kind == "DaemonSet" && o.Controller != nil && *o.Controller {
			return true
		}
	}
	return false
}

// Movable returns the pods to evict from n, or why the node cannot be emptied:
// a do-not-disrupt pod, a pod the simulation cannot place faithfully (host ports,
// volumes claims bound to a zone), or a single-replica pod without singleReplica.
// replicas says how many replicas a pod's workload wants (ok false for a bare pod).
func Movable(n *Node, singleReplica bool, replicas func(*podstore.Pod) (int32, bool)) ([]*podstore.Pod, string) {
	var out []*podstore.Pod
	for _, p := range n.Pods {
		if Stays(p) {
			continue
		}
		switch {
		case evict.Protected(p):
			return nil, fmt.Sprintf("pod %s/%s has karpenter.sh/do-not-disrupt", p.Namespace, p.Name)
		case hostPorts(p):
			return nil, fmt.Sprintf("pod %s/%s uses host ports", p.Namespace, p.Name)
		case claims(p):
			return nil, fmt.Sprintf("pod %s/%s mounts a PersistentVolumeClaim", p.Namespace, p.Name)
		}
		if !singleReplica {
			if r, ok := replicas(p); !ok || r <= 1 {
				return nil, fmt.Sprintf("pod %s/%s is a single replica (singleReplica is off)", p.Namespace, p.Name)
			}
		}
		out = append(out, p)
	}
	return out, ""
}

func hostPorts(p *podstore.Pod) bool {
	for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
		for _, port := range c.Ports {
			if port.HostPort != 0 {
				return true
			}
		}
	}
	return false
}

func claims(p *podstore.Pod) bool {
	return slices.ContainsFunc(p.Spec.Volumes, func(v corev1.Volume) bool {
		return v.PersistentVolumeClaim != nil || v.Ephemeral != nil
	})
}

// Fit simulates scheduling pods onto targets: each pod, largest first, goes to the
// first target it tolerates, whose labels its nodeSelector and required node affinity
// match (capacity type included), and whose free allocatable (CPU, memory, pod count)
// holds it. It returns "" when every pod fits, otherwise why the first one does not.
//
// The room is what is left once the pods waiting for the scheduler are placed: each
// pending pod that fits somewhere takes its room first (one that fits nowhere waits
// for Karpenter's new capacity and takes none), so that an evicted pod's replacement
// not yet bound is not counted twice. A node that runs nothing but pods that stay
// (DaemonSets, mirror pods) is no target: Karpenter takes empty nodes away, and the
// scheduler would spread the evicted pods onto it just as Karpenter deletes it.
func Fit(pods, pending []*podstore.Pod, targets []*Node) string {
	_, why := Place(pods, pending, targets)
	return why
}

// Place is Fit that also returns, for each pod that fits, the node the simulation put
// it on (by pod name), for the log of what a pass expects the scheduler to do.
func Place(pods, pending []*podstore.Pod, targets []*Node) (map[string]string, string) {
	type room struct {
		node          *corev1.Node
		cpu, mem, pod int64
	}
	rooms := make([]*room, 0, len(targets))
	for _, t := range targets {
		if t.Node.Spec.Unschedulable || Disrupting(t.Node) || Draining(t.Node) || Empty(t) {
			continue
		}
		a := t.Node.Status.Allocatable
		r := &room{node: t.Node, cpu: a.Cpu().MilliValue(), mem: a.Memory().Value(), pod: a.Pods().Value()}
		for _, p := range t.Pods {
			c, m := Requests(p)
			r.cpu, r.mem, r.pod = r.cpu-c, r.mem-m, r.pod-1
		}
		rooms = append(rooms, r)
	}
	largestFirst := func(pods []*podstore.Pod) []*podstore.Pod {
		sorted := slices.Clone(pods)
		slices.SortStableFunc(sorted, func(a, b *podstore.Pod) int {
			ac, am := Requests(a)
			bc, bm := Requests(b)
			return cmp.Or(cmp.Compare(bc, ac), cmp.Compare(bm, am))
		})
		return sorted
	}
	noSchedule := func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}
	place := func(p *podstore.Pod) *corev1.Node {
		c, m := Requests(p)
		whole := corev1.Pod{Spec: *p.Spec.PodSpec}
		affinity := nodeaffinity.GetRequiredNodeAffinity(&whole)
		for _, r := range rooms {
			if r.cpu < c || r.mem < m || r.pod < 1 {
				continue
			}
			if _, untolerated := schedcorev1.FindMatchingUntoleratedTaint(klog.Background(), r.node.Spec.Taints, p.Spec.Tolerations, noSchedule, false); untolerated {
				continue
			}
			if ok, err := affinity.Match(r.node); err != nil || !ok {
				continue
			}
			r.cpu, r.mem, r.pod = r.cpu-c, r.mem-m, r.pod-1
			return r.node
		}
		return nil
	}
	for _, p := range largestFirst(pending) {
		place(p)
	}
	onto := make(map[string]string, len(pods))
	for _, p := range largestFirst(pods) {
		n := place(p)
		if n == nil {
			return nil, fmt.Sprintf("pod %s/%s fits on no other node (%d targets)", p.Namespace, p.Name, len(rooms))
		}
		onto[p.Name] = n.Name
	}
	return onto, ""
}

// Empty reports whether nothing but pods that stay (DaemonSets, mirror pods) runs on
// the node.
func Empty(n *Node) bool {
	return !slices.ContainsFunc(n.Pods, func(p *podstore.Pod) bool { return !Stays(p) })
}

// Order sorts candidates least utilised first (the larger of the two shares, then the
// sum, then the name).
func Order(nodes []*Node) {
	slices.SortStableFunc(nodes, func(a, b *Node) int {
		ua, ub := UsageOf(a), UsageOf(b)
		return cmp.Or(cmp.Compare(max(ua.CPU, ua.Memory), max(ub.CPU, ub.Memory)),
			cmp.Compare(ua.CPU+ua.Memory, ub.CPU+ub.Memory), cmp.Compare(a.Node.Name, b.Node.Name))
	})
}
