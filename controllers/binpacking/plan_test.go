package binpacking

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

func tnode(name, cpu, mem string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu),
			corev1.ResourceMemory: resource.MustParse(mem), corev1.ResourcePods: resource.MustParse("110")}}}
}

func tpod(name, cpu, mem string, mutate ...func(*corev1.Pod)) *podstore.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}}}}}
	for _, m := range mutate {
		m(p)
	}
	return podstore.FromPod(p)
}

func TestBelow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cpu, mem *int32
		u        Usage
		want     bool
	}{
		{"both below", ptr.To[int32](50), ptr.To[int32](50), Usage{10, 20}, true},
		{"cpu above", ptr.To[int32](50), ptr.To[int32](50), Usage{60, 20}, false},
		{"memory above", ptr.To[int32](50), ptr.To[int32](50), Usage{10, 50}, false},
		{"no memory threshold: memory does not disqualify", ptr.To[int32](50), nil, Usage{10, 99}, true},
		{"no cpu threshold: cpu does not disqualify", nil, ptr.To[int32](30), Usage{99, 10}, true},
		{"no threshold at all: never", nil, nil, Usage{0, 0}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pe := &v1alpha1.PodEvictionSpec{Enabled: true, CPUThresholdPercent: tc.cpu, MemoryThresholdPercent: tc.mem}
			if got := Below(pe, tc.u); got != tc.want {
				t.Fatalf("Below = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCandidateFilters(t *testing.T) {
	managed := tnode("a", "4", "16Gi", map[string]string{NodePoolLabel: "ballast-prod-spot"})
	other := tnode("b", "4", "16Gi", map[string]string{NodePoolLabel: "ballast-prodx-spot"})
	// A pool of spec.nodePools is Karpenter's to consolidate, whatever its name.
	pool := tnode("p", "4", "16Gi", map[string]string{NodePoolLabel: "ballast-prod-gpu"})
	if !Managed(managed, "prod") || Managed(other, "prod") || Managed(tnode("c", "1", "1Gi", nil), "prod") || Managed(pool, "prod") {
		t.Fatal("Managed: only the NodePools of the cluster's default supply")
	}
	disrupted := tnode("d", "4", "16Gi", nil, corev1.Taint{Key: DisruptedTaint, Effect: corev1.TaintEffectNoSchedule})
	if !Disrupting(disrupted) || Disrupting(managed) {
		t.Fatal("Disrupting: the karpenter.sh/disrupted taint")
	}
	n := &Node{Node: tnode("n", "4", "16Gi", nil), Pods: []*podstore.Pod{tpod("a", "1", "4Gi"), tpod("b", "1", "4Gi")}}
	if u := UsageOf(n); u.CPU != 50 || u.Memory != 50 {
		t.Fatalf("usage %+v, want 50/50", u)
	}
	small := &Node{Node: tnode("s", "4", "16Gi", nil), Pods: []*podstore.Pod{tpod("a", "1", "1Gi")}}
	list := []*Node{n, small}
	Order(list)
	if list[0] != small {
		t.Fatal("Order: least utilised first")
	}
}

func TestMovable(t *testing.T) {
	replicas := func(n int32, ok bool) func(*podstore.Pod) (int32, bool) {
		return func(*podstore.Pod) (int32, bool) { return n, ok }
	}
	ds := func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "d", Controller: ptr.To(true)}}
	}
	for _, tc := range []struct {
		name     string
		pods     []*podstore.Pod
		single   bool
		replicas func(*podstore.Pod) (int32, bool)
		moved    int
		blocked  bool
	}{
		{"replicated pods move, DaemonSet pods stay", []*podstore.Pod{tpod("a", "1", "1Gi"), tpod("d", "1", "1Gi", ds)}, false, replicas(3, true), 1, false},
		{"mirror pods stay", []*podstore.Pod{tpod("m", "1", "1Gi", func(p *corev1.Pod) { p.Annotations = map[string]string{mirrorAnnotation: "x"} })}, false, replicas(3, true), 0, false},
		{"single replica without singleReplica blocks", []*podstore.Pod{tpod("a", "1", "1Gi")}, false, replicas(1, true), 0, true},
		{"bare pod without singleReplica blocks", []*podstore.Pod{tpod("a", "1", "1Gi")}, false, replicas(0, false), 0, true},
		{"single replica with singleReplica moves", []*podstore.Pod{tpod("a", "1", "1Gi")}, true, replicas(1, true), 1, false},
		{"do-not-disrupt blocks", []*podstore.Pod{tpod("a", "1", "1Gi", func(p *corev1.Pod) {
			p.Annotations = map[string]string{"karpenter.sh/do-not-disrupt": "true"}
		})}, true, replicas(3, true), 0, true},
		{"host port blocks", []*podstore.Pod{tpod("a", "1", "1Gi", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{HostPort: 80, ContainerPort: 80}}
		})}, true, replicas(3, true), 0, true},
		{"a PVC blocks", []*podstore.Pod{tpod("a", "1", "1Gi", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}}}
		})}, true, replicas(3, true), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			moved, why := Movable(&Node{Node: tnode("n", "4", "16Gi", nil), Pods: tc.pods}, tc.single, tc.replicas)
			if len(moved) != tc.moved || (why != "") != tc.blocked {
				t.Fatalf("moved %d, why %q; want %d, blocked %v", len(moved), why, tc.moved, tc.blocked)
			}
		})
	}
}

func TestFit(t *testing.T) {
	spot := map[string]string{"karpenter.sh/capacity-type": "spot"}
	od := map[string]string{"karpenter.sh/capacity-type": "on-demand"}
	// busy: a node running pods, a 1m one when none is given (an empty node is no target).
	busy := func(n *corev1.Node, pods ...*podstore.Pod) *Node {
		if len(pods) == 0 {
			pods = []*podstore.Pod{tpod(n.Name+"-running", "1m", "1Mi")}
		}
		return &Node{Node: n, Pods: pods}
	}
	daemonSet := func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "d", Controller: ptr.To(true)}}
	}
	wantsOD := func(p *corev1.Pod) { p.Spec.NodeSelector = od }
	tolerates := func(p *corev1.Pod) {
		p.Spec.Tolerations = []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}}
	}
	affinityOD := func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
				Key: "karpenter.sh/capacity-type", Operator: corev1.NodeSelectorOpIn, Values: []string{"on-demand"}}}}}}}}
	}
	gpuTaint := corev1.Taint{Key: "gpu", Value: "x", Effect: corev1.TaintEffectNoSchedule}
	for _, tc := range []struct {
		name    string
		pods    []*podstore.Pod
		targets []*Node
		fits    bool
		pending []*podstore.Pod
	}{
		{"fits in free room", []*podstore.Pod{tpod("a", "1", "1Gi"), tpod("b", "1", "1Gi")},
			[]*Node{busy(tnode("t", "4", "16Gi", spot), tpod("x", "2", "2Gi"))}, true, nil},
		{"CPU short", []*podstore.Pod{tpod("a", "2", "1Gi"), tpod("b", "1", "1Gi")},
			[]*Node{busy(tnode("t", "4", "16Gi", spot), tpod("x", "2", "2Gi"))}, false, nil},
		{"memory short", []*podstore.Pod{tpod("a", "1", "10Gi")},
			[]*Node{busy(tnode("t", "4", "16Gi", spot), tpod("x", "1", "8Gi"))}, false, nil},
		{"spread over two nodes", []*podstore.Pod{tpod("a", "2", "1Gi"), tpod("b", "2", "1Gi")},
			[]*Node{busy(tnode("t1", "4", "16Gi", spot), tpod("x", "2", "1Gi")), busy(tnode("t2", "2100m", "16Gi", spot))}, true, nil},
		{"nodeSelector capacity type: only a Spot node left", []*podstore.Pod{tpod("a", "1", "1Gi", wantsOD)},
			[]*Node{busy(tnode("t", "4", "16Gi", spot))}, false, nil},
		{"nodeSelector capacity type: an On-Demand node", []*podstore.Pod{tpod("a", "1", "1Gi", wantsOD)},
			[]*Node{busy(tnode("t", "4", "16Gi", spot)), busy(tnode("o", "4", "16Gi", od))}, true, nil},
		{"required node affinity", []*podstore.Pod{tpod("a", "1", "1Gi", affinityOD)},
			[]*Node{busy(tnode("t", "4", "16Gi", spot))}, false, nil},
		{"untolerated taint", []*podstore.Pod{tpod("a", "1", "1Gi")},
			[]*Node{busy(tnode("t", "4", "16Gi", spot, gpuTaint))}, false, nil},
		{"tolerated taint", []*podstore.Pod{tpod("a", "1", "1Gi", tolerates)},
			[]*Node{busy(tnode("t", "4", "16Gi", spot, gpuTaint))}, true, nil},
		{"a cordoned node takes nothing", []*podstore.Pod{tpod("a", "1", "1Gi")},
			[]*Node{busy(func() *corev1.Node { n := tnode("t", "4", "16Gi", spot); n.Spec.Unschedulable = true; return n }())}, false, nil},
		{"a node Karpenter disrupts takes nothing", []*podstore.Pod{tpod("a", "1", "1Gi")},
			[]*Node{busy(tnode("t", "4", "16Gi", spot, corev1.Taint{Key: DisruptedTaint, Effect: corev1.TaintEffectNoSchedule}))}, false, nil},
		{"an empty node is no target (Karpenter takes it away)", []*podstore.Pod{tpod("a", "1", "1Gi")},
			[]*Node{{Node: tnode("t", "4", "16Gi", spot)}}, false, nil},
		{"a node with only a DaemonSet pod is empty", []*podstore.Pod{tpod("a", "1", "1Gi")},
			[]*Node{busy(tnode("t", "4", "16Gi", spot), tpod("ds", "100m", "64Mi", daemonSet))}, false, nil},
		{"a pending pod takes the room first", []*podstore.Pod{tpod("a", "1", "1Gi")},
			[]*Node{busy(tnode("t", "4", "16Gi", spot), tpod("x", "2", "2Gi"))}, false, []*podstore.Pod{tpod("replacement", "1500m", "1Gi")}},
		{"a pending pod that fits nowhere takes no room", []*podstore.Pod{tpod("a", "1", "1Gi")},
			[]*Node{busy(tnode("t", "4", "16Gi", spot), tpod("x", "2", "2Gi"))}, true, []*podstore.Pod{tpod("huge", "8", "1Gi")}},
		{"largest first: first fit in order would fail", []*podstore.Pod{tpod("s", "1", "1Gi"), tpod("l", "3", "1Gi")},
			[]*Node{busy(tnode("t1", "3100m", "16Gi", spot)), busy(tnode("t2", "1100m", "16Gi", spot))}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			why := Fit(tc.pods, tc.pending, tc.targets)
			if (why == "") != tc.fits {
				t.Fatalf("Fit = %q, want fits %v", why, tc.fits)
			}
		})
	}
}

// TestTargetsPackLightNodesOntoEachOther: when every node is a light candidate, a
// candidate's pods may go to the other candidates (the non-candidates first, then the
// fullest candidates), never to itself.
func TestTargetsPackLightNodesOntoEachOther(t *testing.T) {
	busy := func(name, cpu string) *Node {
		return &Node{Node: tnode(name, "1900m", "4Gi", nil), Pods: []*podstore.Pod{tpod(name+"-p", cpu, "256Mi")}}
	}
	full, a, b, c := busy("full", "1500m"), busy("a", "700m"), busy("b", "600m"), busy("c", "800m")
	nodes := []*Node{a, b, c, full}
	targetsOf := targets(nodes, []*Node{a, b, c})
	var names []string
	for _, n := range targetsOf(b) {
		names = append(names, n.Node.Name)
	}
	if got, want := strings.Join(names, ","), "full,c,a"; got != want {
		t.Errorf("targets of b = %s, want %s (the non-candidate, then the other candidates fullest first)", got, want)
	}
	if why := Fit(b.Pods, nil, targetsOf(b)); why != "" {
		t.Errorf("b's pod does not fit on the other light nodes: %s", why)
	}
	// Were the candidates not targets, the light nodes could never be packed.
	if why := Fit(b.Pods, nil, []*Node{full}); why == "" {
		t.Error("b's 600m pod fits on the node with 400m free")
	}
}
