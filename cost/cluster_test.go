package cost

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func testNode(name, typ string, labels map[string]string, alloc corev1.ResourceList) corev1.Node {
	l := map[string]string{instanceTypeLabel: typ, regionLabel: "eu-west-1"}
	for k, v := range labels {
		l[k] = v
	}
	return corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l},
		Status: corev1.NodeStatus{Allocatable: alloc}}
}

// testPod is a pod of one container with the requests and limits, on node (or none),
// controlled by kind/owner (or nothing).
func testPod(ns, name, node, kind, owner string, requests, limits corev1.ResourceList) corev1.Pod {
	p := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "i",
			Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	if kind != "" {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: kind, Name: owner, UID: "u", Controller: ptr.To(true)}}
	}
	if node == "" {
		p.Status.Phase = corev1.PodPending
	}
	return p
}

func list(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func testReplicaSet(name, kind, owner string) appsv1.ReplicaSet {
	rs := appsv1.ReplicaSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"}, ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}}
	if kind != "" {
		rs.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: owner, UID: "u", Controller: ptr.To(true)}}
	}
	return rs
}

// testCluster is a small cluster in eu-west-1: a Spot g5.xlarge with one GPU, an
// On-Demand m6i.xlarge of an EKS managed node group and one without a capacity label.
func testCluster() Cluster {
	withHash := func(p corev1.Pod, hash string) corev1.Pod {
		p.Labels = map[string]string{"app": p.Name[:3], "pod-template-hash": hash}
		return p
	}
	done := testPod("batch", "report-1", "od", "Job", "report", list("cpu", "2"), nil)
	done.Status.Phase = corev1.PodSucceeded
	return Cluster{
		Nodes: []corev1.Node{
			testNode("gpu", "g5.xlarge", map[string]string{karpenterCapacity: Spot, zoneLabel: "eu-west-1a"},
				list("cpu", "3920m", "memory", "14Gi", "nvidia.com/gpu", "1")),
			testNode("od", "m6i.xlarge", map[string]string{eksCapacity: "ON_DEMAND", zoneLabel: "eu-west-1b"}, list("cpu", "3920m", "memory", "14Gi")),
			testNode("plain", "m6i.xlarge", nil, nil),
		},
		Pods: []corev1.Pod{
			// A GPU given as a limit only requests it.
			testPod("ml", "infer-0", "gpu", "StatefulSet", "infer", list("cpu", "1", "memory", "4Gi"), list("nvidia.com/gpu", "1")),
			withHash(testPod("shop", "web-abc-1", "od", "ReplicaSet", "web-abc", list("cpu", "1", "memory", "2Gi"), nil), "abc"),
			withHash(testPod("shop", "web-abc-2", "", "ReplicaSet", "web-abc", list("cpu", "1", "memory", "2Gi"), nil), "abc"),
			// The ReplicaSet is a Rollout's: the hash alone would name a Deployment.
			withHash(testPod("shop", "can-xyz-1", "plain", "ReplicaSet", "can-xyz", list("cpu", "500m", "memory", "1Gi"), nil), "xyz"),
			// Bound to a node that is gone: a replica on no node.
			testPod("shop", "lone", "gone", "", "", list("cpu", "100m", "memory", "128Mi"), nil),
			done,
			testPod("kube-system", "agent-1", "gpu", "DaemonSet", "agent", list("cpu", "100m", "memory", "128Mi"), nil),
			testPod("kube-system", "agent-2", "od", "DaemonSet", "agent", list("cpu", "100m", "memory", "128Mi"), nil),
			// A static pod: a node agent named after its node.
			testPod("kube-system", "kube-proxy-od", "od", "Node", "od", list("cpu", "100m"), nil),
			testPod("ml", "trn-0", "", "StatefulSet", "trn", list("cpu", "1", "aws.amazon.com/neuroncore", "2"), nil),
		},
		ReplicaSets: []appsv1.ReplicaSet{testReplicaSet("web-abc", "Deployment", "web"), testReplicaSet("can-xyz", "Rollout", "can")},
	}
}

func TestFromCluster(t *testing.T) {
	w, err := FromCluster(testCluster())
	if err != nil {
		t.Fatal(err)
	}
	if w.Region != "eu-west-1" || len(w.Nodes) != 3 {
		t.Fatalf("region %q, %d nodes", w.Region, len(w.Nodes))
	}
	gpu, od, plain := w.Nodes[0], w.Nodes[1], w.Nodes[2]
	if gpu.CapacityType != Spot || gpu.Zone != "eu-west-1a" || gpu.Allocatable != (Resources{MilliCPU: 3920, Memory: 14 * gi, GPU: 1}) {
		t.Errorf("gpu node = %+v", gpu)
	}
	if od.CapacityType != OnDemand || plain.CapacityType != OnDemand || plain.Allocatable != (Resources{}) {
		t.Errorf("od = %+v, plain = %+v", od, plain)
	}
	pods := func(n Node) (out []string) {
		for _, p := range n.Pods {
			s := p.Namespace + "/" + p.Workload
			if p.DaemonSet {
				s += "(ds)"
			}
			out = append(out, s)
		}
		return out
	}
	for _, tc := range []struct {
		n    Node
		want []string
	}{
		{gpu, []string{"ml/infer", "kube-system/agent(ds)"}},
		{od, []string{"shop/web", "kube-system/agent(ds)", "kube-system/kube-proxy(ds)"}},
		{plain, []string{"shop/can"}},
	} {
		if got := pods(tc.n); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("pods on %s = %v, want %v", tc.n.Name, got, tc.want)
		}
	}
	if r := gpu.Pods[0].Requests; r != (Resources{MilliCPU: 1000, Memory: 4 * gi, GPU: 1}) {
		t.Errorf("infer requests %v", r)
	}
	type appSummary struct {
		ns, name, kind, accelerator string
		replicas                    int
		requests                    Resources
	}
	var apps []appSummary
	for _, a := range w.Apps {
		apps = append(apps, appSummary{a.Namespace, a.Name, a.Kind, a.Accelerator, a.Replicas, a.Requests})
	}
	// The pending web replica and the pod on the vanished node count; the finished
	// job does not.
	want := []appSummary{
		{"ml", "infer", "StatefulSet", "", 1, Resources{MilliCPU: 1000, Memory: 4 * gi, GPU: 1}},
		{"ml", "trn", "StatefulSet", "aws.amazon.com/neuroncore", 1, Resources{MilliCPU: 1000}},
		{"shop", "can", "Rollout", "", 1, Resources{MilliCPU: 500, Memory: gi}},
		{"shop", "lone", "Pod", "", 1, Resources{MilliCPU: 100, Memory: 128 << 20}},
		{"shop", "web", "Deployment", "", 2, Resources{MilliCPU: 1000, Memory: 2 * gi}},
	}
	if !reflect.DeepEqual(apps, want) {
		t.Errorf("apps =\n%+v\nwant\n%+v", apps, want)
	}
	if len(w.DaemonSets) != 2 || w.DaemonSets[0].Name != "agent" || w.DaemonSets[0].Replicas != 2 || w.DaemonSets[1].Name != "kube-proxy" || w.DaemonSets[1].Kind != "Node" {
		t.Errorf("daemonsets = %+v", w.DaemonSets)
	}

	bad := testCluster()
	delete(bad.Nodes[1].Labels, instanceTypeLabel)
	if _, err := FromCluster(bad); err == nil || err.Error() != "node od has no node.kubernetes.io/instance-type label, so its price is unknown" {
		t.Errorf("a node without a type: %v", err)
	}
}

// Pods held elsewhere (the runtime controllers pass the cache's own, PodRefs) count as
// the same pods copied into Pods would, whichever way a cluster's pods are split.
// A workload read from its pods takes their ballast.dev annotations (a template's
// override), but not the reservation the webhook writes on each pod it places.
func TestFromClusterLeavesOutReservations(t *testing.T) {
	c := testCluster()
	for i := range c.Pods {
		if c.Pods[i].Name == "infer-0" {
			c.Pods[i].Annotations = map[string]string{"ballast.dev/spot": "false", reservationAnnotation: "0b6f1c9e", "other": "x"}
		}
	}
	w, err := FromCluster(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range w.Apps {
		if a.Name == "infer" && !reflect.DeepEqual(a.Annotations, map[string]string{"ballast.dev/spot": "false"}) {
			t.Errorf("annotations %v, want the override alone", a.Annotations)
		}
	}
}

func TestFromClusterPodRefs(t *testing.T) {
	want, err := FromCluster(testCluster())
	if err != nil {
		t.Fatal(err)
	}
	for _, copied := range []int{0, 1, 3} {
		c := testCluster()
		if copied > len(c.Pods) {
			t.Fatalf("the test cluster has %d pods", len(c.Pods))
		}
		for i := copied; i < len(c.Pods); i++ {
			c.PodRefs = append(c.PodRefs, RefOf(&c.Pods[i]))
		}
		c.Pods = c.Pods[:copied]
		got, err := FromCluster(c)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%d pods copied, the rest by reference:\n%+v\nwant\n%+v", copied, got, want)
		}
	}
}

// TestEstimateFromCluster is what the runtime cost controller does: the cluster's
// objects, FromCluster, then Estimate with the region and commitments.
func TestEstimateFromCluster(t *testing.T) {
	w, err := FromCluster(testCluster())
	if err != nil {
		t.Fatal(err)
	}
	// testdata/prices.yaml, eu-west-1: g5.xlarge Spot 0.40 (On-Demand 1.00), two
	// m6i.xlarge On-Demand at 0.20, one of them reserved (0.12).
	// Cost 730 * (0.40 + 0.12 + 0.20) = 525.60; potential 730 * 1.40 = 1022.
	// Spot saves 730 * 0.60 = 438, the reservation 730 * 0.08 = 58.40.
	r, err := Estimate(w, testPrices(t), Options{Commitments: Commitments{Utilization: 1,
		ReservedInstances: []ReservedInstance{{InstanceType: "m6i.xlarge", Count: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "MonthlyCost", r.MonthlyCost, 525.60)
	near(t, "MonthlyPotential", r.MonthlyPotential, 1022)
	near(t, "MonthlySavings", r.MonthlySavings, 496.40)
	near(t, "Savings.Spot", r.Savings.Spot, 438)
	near(t, "Savings.Commitments", r.Savings.Commitments, 58.40)
	checkSums(t, r)
	if r.Mode != ModeNodes || r.Region != "eu-west-1" || r.Replicas != 3 || r.SpotReplicas != 1 || r.Nodes != 3 || r.SpotNodes != 1 {
		t.Errorf("mode %s, region %s, replicas %d/%d, nodes %d/%d", r.Mode, r.Region, r.SpotReplicas, r.Replicas, r.SpotNodes, r.Nodes)
	}
	if r.Prices != "a price catalogue (test prices, as of 2000-01)" {
		t.Errorf("prices = %q", r.Prices)
	}
	// The workloads' splits are where their pods run.
	for _, tc := range []struct {
		ns, wl    string
		od, spot  int
		costShare float64 // of the node it runs on
		nodeCost  float64
	}{
		// On the g5.xlarge (allocatable 3920m, 14Gi, 1 GPU) the weight averages the
		// CPU, memory and GPU shares: (1000/3920 + 4/14 + 1)/3 of 292.
		{"ml", "infer", 0, 1, (1000.0/3920 + 4.0/14 + 1) / 3, 292},
		{"shop", "web", 1, 0, (1000.0/3920 + 2.0/14) / 2, 730 * 0.12},
	} {
		a, ok := find(r.Workloads, tc.ns, tc.wl)
		if !ok || a.OnDemandReplicas != tc.od || a.SpotReplicas != tc.spot {
			t.Errorf("%s/%s = %+v, want %d On-Demand, %d Spot", tc.ns, tc.wl, a, tc.od, tc.spot)
		}
		// Apportioning may move a share by a cent.
		if want := tc.costShare * tc.nodeCost; math.Abs(a.MonthlyCost-want) > 0.0101 {
			t.Errorf("%s/%s costs %.2f, want %.4f", tc.ns, tc.wl, a.MonthlyCost, want)
		}
	}
}

// TestSnapshotIsFromCluster: a snapshot of the same objects gives the same workload,
// since ParseSnapshot only decodes them for FromCluster.
func TestSnapshotIsFromCluster(t *testing.T) {
	c := testCluster()
	items := []any{}
	for _, n := range c.Nodes {
		items = append(items, n)
	}
	for _, p := range c.Pods {
		items = append(items, p)
	}
	for _, rs := range c.ReplicaSets {
		items = append(items, rs)
	}
	data, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		t.Fatal(err)
	}
	fromSnapshot, err := ParseSnapshot(data)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := FromCluster(c)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromSnapshot, direct) {
		t.Errorf("the snapshot gives\n%+v\nFromCluster\n%+v", fromSnapshot, direct)
	}
}
