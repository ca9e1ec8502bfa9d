package cost

import (
	"strings"
	"testing"
	"time"
)

const snapshotList = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata:
    name: node-a
    labels:
      node.kubernetes.io/instance-type: m6i.xlarge
      karpenter.sh/capacity-type: spot
      topology.kubernetes.io/zone: eu-central-1a
      topology.kubernetes.io/region: eu-central-1
  status:
    allocatable: {cpu: 3920m, memory: 14Gi, pods: "58"}
- apiVersion: v1
  kind: Node
  metadata:
    name: node-b
    labels:
      beta.kubernetes.io/instance-type: c6i.large
      eks.amazonaws.com/capacityType: ON_DEMAND
  status:
    allocatable: {cpu: 1930m, memory: 3Gi}
- apiVersion: v1
  kind: Pod
  metadata:
    name: web-5d8f7c-abcde
    namespace: shop
    labels: {app: web, pod-template-hash: 5d8f7c}
    annotations: {ballast.dev/base-on-demand: "2", other.io/x: "y"}
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d8f7c, uid: u1, controller: true}]
  spec:
    nodeName: node-a
    initContainers:
    - {name: init, image: i, resources: {requests: {cpu: 400m, memory: 256Mi}}}
    - {name: proxy, image: i, restartPolicy: Always, resources: {requests: {cpu: 100m, memory: 64Mi}}}
    containers:
    - {name: a, image: i, resources: {requests: {cpu: 250m, memory: 512Mi}}}
    - {name: b, image: i, resources: {limits: {cpu: 250m, memory: 448Mi}}}
  status: {phase: Running}
- apiVersion: v1
  kind: Pod
  metadata:
    name: web-5d8f7c-fghij
    namespace: shop
    labels: {app: web, pod-template-hash: 5d8f7c}
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d8f7c, uid: u1, controller: true}]
  spec:
    nodeName: node-b
    containers:
    - {name: a, image: i, resources: {requests: {cpu: "1", memory: 2Gi}}}
  status: {phase: Running}
- apiVersion: v1
  kind: Pod
  metadata:
    name: web-5d8f7c-pending
    namespace: shop
    labels: {app: web, pod-template-hash: 5d8f7c}
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d8f7c, uid: u1, controller: true}]
  spec:
    containers:
    - {name: a, image: i, resources: {requests: {cpu: 600m, memory: 1Gi}}}
  status: {phase: Pending}
- apiVersion: v1
  kind: Pod
  metadata:
    name: report-28373
    namespace: batch
    ownerReferences: [{apiVersion: batch/v1, kind: Job, name: report-28373, uid: u2, controller: true}]
  spec:
    nodeName: node-a
    containers: [{name: a, image: i, resources: {requests: {cpu: "2"}}}]
  status: {phase: Succeeded}
- apiVersion: v1
  kind: Pod
  metadata:
    name: aws-node-1
    namespace: kube-system
    ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: aws-node, uid: u3, controller: true}]
  spec:
    nodeName: node-a
    containers: [{name: a, image: i, resources: {requests: {cpu: 25m, memory: 64Mi}}}]
- apiVersion: v1
  kind: Pod
  metadata:
    name: aws-node-2
    namespace: kube-system
    ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: aws-node, uid: u3, controller: true}]
  spec:
    nodeName: node-b
    containers: [{name: a, image: i, resources: {requests: {cpu: 25m, memory: 64Mi}}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: shop
  labels: {app: db}
  annotations: {ballast.dev/spot: never}
spec:
  replicas: 3
  selector: {matchLabels: {app: db}}
  serviceName: db
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres, resources: {requests: {cpu: "2", memory: 8Gi}}}]
`

func TestParseSnapshot(t *testing.T) {
	w, err := ParseWorkload([]byte(snapshotList))
	if err != nil {
		t.Fatal(err)
	}
	if w.Region != "eu-central-1" || len(w.Nodes) != 2 {
		t.Fatalf("region %q, %d nodes", w.Region, len(w.Nodes))
	}
	a, b := w.Nodes[0], w.Nodes[1]
	if a.CapacityType != Spot || a.Zone != "eu-central-1a" || a.Allocatable != (Resources{MilliCPU: 3920, Memory: 14 * gi}) {
		t.Errorf("node-a = %+v", a)
	}
	if b.InstanceType != "c6i.large" || b.CapacityType != OnDemand {
		t.Errorf("node-b = %+v", b)
	}
	// node-a: web (sidecar 100m/64Mi + 250m/512Mi + a limit-only 250m/448Mi = 600m/1024Mi,
	// more than the 400m/256Mi init container) and aws-node; the succeeded job is gone.
	if len(a.Pods) != 2 || a.Pods[0].Workload != "web" || a.Pods[0].Requests != (Resources{MilliCPU: 600, Memory: gi}) || !a.Pods[1].DaemonSet {
		t.Errorf("node-a pods = %+v", a.Pods)
	}
	if len(b.Pods) != 2 {
		t.Errorf("node-b pods = %+v", b.Pods)
	}
	// Apps: db from its StatefulSet (3 replicas, template requests), web from its 3
	// pods, the pending one included: average of 600m, 1000m, 600m = 733.3 -> 734m;
	// of 1, 2, 1 GiB = 4/3 GiB rounded up to a byte.
	if len(w.Apps) != 2 {
		t.Fatalf("apps = %+v", w.Apps)
	}
	db, web := w.Apps[0], w.Apps[1]
	if db.Name != "db" || db.Kind != "StatefulSet" || db.Replicas != 3 || db.Requests != (Resources{MilliCPU: 2000, Memory: 8 * gi}) || db.Annotations["ballast.dev/spot"] != "never" {
		t.Errorf("db = %+v", db)
	}
	if web.Name != "web" || web.Kind != "Deployment" || web.Replicas != 3 || web.Requests != (Resources{MilliCPU: 734, Memory: (4*gi + 2) / 3}) {
		t.Errorf("web = %+v", web)
	}
	if web.Labels["app"] != "web" || web.Labels["pod-template-hash"] != "" || web.Annotations["ballast.dev/base-on-demand"] != "2" || web.Annotations["other.io/x"] != "" {
		t.Errorf("web labels %v, annotations %v", web.Labels, web.Annotations)
	}
	if len(w.DaemonSets) != 1 || w.DaemonSets[0].Name != "aws-node" || w.DaemonSets[0].Replicas != 2 {
		t.Errorf("daemonsets = %+v", w.DaemonSets)
	}
	for _, bad := range []struct{ data, err string }{
		{"apiVersion: v1\nkind: List\nitems: []\n", "no nodes and no pods"},
		{"apiVersion: v1\nkind: Node\nmetadata: {name: x}\n", "has no node.kubernetes.io/instance-type label"},
		{"apiVersion: v1\nkind: Pod\nspec: [1]\n", "invalid Pod"},
	} {
		if _, err := ParseWorkload([]byte(bad.data)); err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("ParseWorkload(%q) err = %v, want %q", bad.data, err, bad.err)
		}
	}
}

func TestScenario(t *testing.T) {
	const head = "apiVersion: estimate.ballast.dev/v1alpha1\nkind: Scenario\nmetadata: {name: s}\n"
	t.Run("nodes with a Spot share", func(t *testing.T) {
		w, err := ParseWorkload([]byte(head + `spec:
  date: "2026-07-01"
  idle: {fraction: 0.5, minNodes: 2}
  daemonSets: [{namespace: kube-system, name: agent, cpu: 100m, memory: 128Mi}]
  nodes:
    - count: 10
      instanceType: m6i.xlarge
      spotShare: 0.6
      pods: [{namespace: shop, workload: web, count: 2, cpu: "1", memory: 2Gi}]
`))
		if err != nil {
			t.Fatal(err)
		}
		// 10 * (1 - 0.6) = 4 On-Demand nodes first, then 6 Spot; no Apps: as described.
		var caps []string
		for _, n := range w.Nodes {
			caps = append(caps, n.CapacityType[:1])
			if len(n.Pods) != 3 {
				t.Errorf("node %s has %d pods, want 2 web + 1 agent", n.Name, len(n.Pods))
			}
		}
		if strings.Join(caps, "") != "oooossssss" || len(w.Apps) != 0 {
			t.Errorf("capacity types %v, apps %v", caps, w.Apps)
		}
		if w.Schedule != (Schedule{IdleFraction: 0.5, MinNodes: 2}) || !w.Date.Equal(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("schedule %+v, date %v", w.Schedule, w.Date)
		}
	})
	t.Run("nodes for the policy to split", func(t *testing.T) {
		w, err := ParseWorkload([]byte(head + `spec:
  nodes:
    - {count: 4, instanceType: m6i.xlarge, pods: [{workload: web, count: 3, cpu: "1", memory: 2Gi}]}
    - {count: 2, instanceType: c6i.xlarge, pods: [{workload: web, count: 1, cpu: "1", memory: 2Gi}]}
`))
		if err != nil {
			t.Fatal(err)
		}
		// 4*3 + 2*1 = 14 replicas of default/web, planned on the two types.
		if len(w.Apps) != 1 || w.Apps[0].Replicas != 14 || w.Apps[0].Namespace != "default" || strings.Join(w.InstanceTypes, ",") != "c6i.xlarge,m6i.xlarge" {
			t.Errorf("apps %+v, types %v", w.Apps, w.InstanceTypes)
		}
	})
	t.Run("GPUs", func(t *testing.T) {
		w, err := ParseWorkload([]byte(head + `spec:
  workloads: [{namespace: ml, name: infer, replicas: 2, cpu: "1", memory: 4Gi, gpu: 1}]
`))
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Apps) != 1 || w.Apps[0].Requests != (Resources{MilliCPU: 1000, Memory: 4 * gi, GPU: 1}) {
			t.Errorf("apps %+v", w.Apps)
		}
		w, err = ParseWorkload([]byte(head + `spec:
  nodes: [{count: 2, instanceType: g5.12xlarge, pods: [{workload: train, count: 2, cpu: "8", memory: 32Gi, gpu: 2}]}]
`))
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Apps) != 1 || w.Apps[0].Replicas != 4 || w.Apps[0].Requests.GPU != 2 || w.Nodes[0].Pods[0].Requests.GPU != 2 {
			t.Errorf("apps %+v, nodes %+v", w.Apps, w.Nodes)
		}
	})
	for _, tc := range []struct{ name, spec, err string }{
		{"unknown field", "spec:\n  nodez: []\n", "field nodez not found"},
		{"negative GPUs", "spec:\n  workloads: [{name: a, replicas: 1, cpu: 1, memory: 1Gi, gpu: -1}]\n", "spec.workloads[0]: requests must not be negative"},
		{"nothing", "spec: {}\n", "neither spec.nodes nor spec.workloads"},
		{"both", "spec:\n  nodes: [{count: 1, instanceType: m6i.large, spotShare: 0}]\n  workloads: [{name: a, replicas: 1, cpu: 1, memory: 1Gi}]\n", "exclusive"},
		{"share on some groups", "spec:\n  nodes: [{count: 1, instanceType: m6i.large, spotShare: 0}, {count: 1, instanceType: m6i.large}]\n", "on every node group"},
		{"share out of range", "spec:\n  nodes: [{count: 1, instanceType: m6i.large, spotShare: 1.5}]\n", "spec.nodes[0].spotShare 1.5"},
		{"bad quantity", "spec:\n  workloads: [{name: a, replicas: 1, cpu: lots, memory: 1Gi}]\n", "spec.workloads[0].cpu \"lots\""},
		{"idle out of range", "spec:\n  idle: {fraction: 2}\n  nodes: [{count: 1, instanceType: m6i.large, spotShare: 0}]\n", "spec.idle: idle fraction 2"},
		{"bad date", "spec:\n  date: tomorrow\n  nodes: [{count: 1, instanceType: m6i.large, spotShare: 0}]\n", "spec.date"},
		{"two sizes of one workload", "spec:\n  nodes: [{count: 1, instanceType: a.large, pods: [{workload: w, cpu: 1, memory: 1Gi}]}, {count: 1, instanceType: a.large, pods: [{workload: w, cpu: 2, memory: 1Gi}]}]\n", "other requests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWorkload([]byte(head + tc.spec))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
	if _, err := ParseScenario([]byte("apiVersion: estimate.ballast.dev/v2\nkind: Scenario\n")); err == nil || !strings.Contains(err.Error(), "want apiVersion estimate.ballast.dev/v1alpha1") {
		t.Errorf("a wrong version: %v", err)
	}
}
