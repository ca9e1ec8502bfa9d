package trim

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/controllers/binpacking"
	"github.com/ballast-dev/ballast/controllers/distribution"
	"github.com/ballast-dev/ballast/controllers/fallback"
	"github.com/ballast-dev/ballast/controllers/internal/evict"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/controllers/internal/scope"
	"github.com/ballast-dev/ballast/controllers/limits"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// fixtures decodes the objects of a testdata file.
func fixtures(t *testing.T, file string) map[string][]byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var head struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatal(err)
		}
		out[head.Kind+"/"+head.Metadata.Name] = []byte(doc)
	}
	return out
}

func decode[T any](t *testing.T, doc []byte) T {
	t.Helper()
	var out T
	if err := yaml.UnmarshalStrict(doc, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func fullPod(t *testing.T) *corev1.Pod {
	return ptr.To(decode[corev1.Pod](t, fixtures(t, "pod.yaml")["Pod/checkout-7d9f8b6c5d-x2k9p"]))
}

func fullNode(t *testing.T) *corev1.Node {
	return ptr.To(decode[corev1.Node](t, fixtures(t, "node.yaml")["Node/ip-10-0-1-23.ec2.internal"]))
}

// wholeOf is the corev1.Pod a cached record stands for: what its trim keeps, whole.
func wholeOf(p *podstore.Pod) *corev1.Pod {
	out := &corev1.Pod{ObjectMeta: *p.ObjectMeta.DeepCopy(), Spec: *p.Spec.DeepCopy()}
	if p.Reservation != "" {
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[podstore.ReservationAnnotation] = p.Reservation
	}
	out.Spec.NodeName = p.Spec.NodeName
	out.Status.Phase = p.Status.Phase
	out.Status.Conditions = slices.Clone(p.Status.Conditions)
	return out
}

// same fails unless the trimmed object gives what the full one gives.
func same[T any](t *testing.T, what string, full, trimmed T) {
	t.Helper()
	if !reflect.DeepEqual(full, trimmed) {
		t.Errorf("%s: full object %+v, trimmed %+v", what, full, trimmed)
	}
}

// TestPodKeepsWhatBallastReads: every reading of a pod by placement, fallback, limits,
// eviction, bin-packing and cost gives the same answer on the trimmed pod as on the
// whole one, in each of the cases they tell apart; what they never read is gone.
func TestPodKeepsWhatBallastReads(t *testing.T) {
	node := fullNode(t)
	variants := map[string]func(*corev1.Pod){
		"as admitted": func(*corev1.Pod) {},
		"disruptable": func(p *corev1.Pod) { delete(p.Annotations, evict.DoNotDisruptAnnotation) },
		"no host port": func(p *corev1.Pod) {
			delete(p.Annotations, evict.DoNotDisruptAnnotation)
			p.Spec.Containers[0].Ports[1].HostPort = 0
		},
		"no claim": func(p *corev1.Pod) {
			delete(p.Annotations, evict.DoNotDisruptAnnotation)
			p.Spec.Containers[0].Ports = nil
			p.Spec.Volumes = p.Spec.Volumes[1:]
		},
		"pending on spot": func(p *corev1.Pod) { p.Spec.NodeName = "" },
		"fallback":        func(p *corev1.Pod) { p.Annotations[distribution.ReasonAnnotation] = string(split.ReasonFallback) },
		"daemon":          func(p *corev1.Pod) { p.OwnerReferences[0].Kind = "DaemonSet" },
		"mirror":          func(p *corev1.Pod) { p.Annotations[corev1.MirrorPodAnnotationKey] = "x" },
		"unplaced": func(p *corev1.Pod) {
			delete(p.Labels, v1alpha1.CapacityLabel)
			delete(p.Annotations, distribution.ReasonAnnotation)
		},
		"succeeded":   func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded },
		"terminating": func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.Now()) },
		"selects OD":  func(p *corev1.Pod) { p.Spec.NodeSelector["karpenter.sh/capacity-type"] = "on-demand" },
		"other zone":  func(p *corev1.Pod) { node.Labels[corev1.LabelTopologyZone] = "us-east-1c" },
		"untolerated": func(p *corev1.Pod) { p.Spec.Tolerations = p.Spec.Tolerations[1:] },
		"pod-level requests": func(p *corev1.Pod) {
			p.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}
		},
		"unschedulable": func(p *corev1.Pod) {
			p.Spec.NodeName = ""
			p.Status.Phase = corev1.PodPending
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
				Reason: corev1.PodReasonUnschedulable, Message: "0/2000 nodes are available: 2000 Insufficient cpu.", LastTransitionTime: metav1.Now()})
			p.Status.Conditions = p.Status.Conditions[len(p.Status.Conditions)-1:]
		},
	}
	for name, change := range variants {
		t.Run(name, func(t *testing.T) {
			node = fullNode(t)
			full := fullPod(t)
			change(full)
			p := Pod(full.DeepCopy())
			n := Node(node.DeepCopy())
			capacity := func(string) string { return node.Labels["karpenter.sh/capacity-type"] }

			fr := podstore.FromPod(full)
			fc, fm := binpacking.Requests(fr)
			tc, tm := binpacking.Requests(p)
			same(t, "requests", [2]int64{fc, fm}, [2]int64{tc, tm})
			same(t, "stays", binpacking.Stays(fr), binpacking.Stays(p))
			replicas := func(*podstore.Pod) (int32, bool) { return 5, true }
			fMoved, fWhy := binpacking.Movable(&binpacking.Node{Node: node, Pods: []*podstore.Pod{fr}}, false, replicas)
			tMoved, tWhy := binpacking.Movable(&binpacking.Node{Node: n, Pods: []*podstore.Pod{p}}, false, replicas)
			same(t, "movable", [2]any{len(fMoved), fWhy}, [2]any{len(tMoved), tWhy})
			room := func(n *corev1.Node) []*binpacking.Node {
				n = n.DeepCopy()
				n.Spec.Taints = n.Spec.Taints[:1] // not disrupted
				// Not empty: an empty node is no target.
				running := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "running"}}
				return []*binpacking.Node{{Node: n, Pods: podstore.Records(running)}}
			}
			same(t, "fit", binpacking.Fit([]*podstore.Pod{fr}, nil, room(node)), binpacking.Fit([]*podstore.Pod{p}, nil, room(n)))
			fa, fErr := nodeaffinity.GetRequiredNodeAffinity(full).Match(node)
			ta, tErr := nodeaffinity.GetRequiredNodeAffinity(wholeOf(p)).Match(n)
			same(t, "node affinity", [2]any{fa, fErr}, [2]any{ta, tErr})
			same(t, "fallback role", fallback.IndexRole(fr), fallback.IndexRole(p))
			same(t, "unschedulable", limits.IndexUnschedulable(fr), limits.IndexUnschedulable(p))
			same(t, "capacity", distribution.CapacityOf(fr, capacity), distribution.CapacityOf(p, capacity))
			same(t, "intended capacity", distribution.IntendedCapacity(fr, capacity), distribution.IntendedCapacity(p, capacity))
			same(t, "protected", evict.Protected(fr), evict.Protected(p))
			rs := decode[appsv1.ReplicaSet](t, fixtures(t, "workloads.yaml")["ReplicaSet/checkout-7d9f8b6c5d"])
			fw, err := cost.FromCluster(cost.Cluster{Nodes: []corev1.Node{*node}, Pods: []corev1.Pod{*full}, ReplicaSets: []appsv1.ReplicaSet{rs}})
			if err != nil {
				t.Fatal(err)
			}
			ref := cost.PodRef{Meta: &p.ObjectMeta, NodeName: p.Spec.NodeName, Phase: p.Status.Phase, Spec: p.Spec.PodSpec}
			tw, err := cost.FromCluster(cost.Cluster{Nodes: []corev1.Node{*n}, PodRefs: []cost.PodRef{ref}, ReplicaSets: []appsv1.ReplicaSet{*ReplicaSet(&rs)}})
			if err != nil {
				t.Fatal(err)
			}
			// A pod's labels stand for its workload's when the workload is not in the
			// cluster read (here its Deployment): the node's topology, which the trim
			// drops, is no workload's label (a rule selects workloads by theirs).
			for _, apps := range [][]cost.App{fw.Apps, fw.DaemonSets} {
				for i := range apps {
					apps[i].Labels = maps.Clone(apps[i].Labels)
					maps.DeleteFunc(apps[i].Labels, func(k, _ string) bool { return !podstore.KeepsLabel(k) })
				}
			}
			same(t, "cost", fw, tw)
			same(t, "trimming again", p, Pod(wholeOf(p)))
		})
	}

	full := fullPod(t)
	p := Pod(full.DeepCopy())
	for _, dropped := range []struct {
		what string
		gone bool
	}{
		{"managedFields", p.ManagedFields == nil},
		{"kubectl and mesh annotations (the reservation kept beside the others)", len(p.Annotations) == 2 && p.Reservation != ""},
		{"generateName and finalizers", p.GenerateName == "" && p.Finalizers == nil},
		{"images, commands, env, probes, mounts", p.Spec.Containers[0].Image == "" && p.Spec.Containers[0].Command == nil &&
			p.Spec.Containers[0].Env == nil && p.Spec.Containers[0].ReadinessProbe == nil && p.Spec.Containers[0].VolumeMounts == nil},
		{"ports that take nothing on the node", len(p.Spec.Containers[0].Ports) == 1 && p.Spec.Containers[0].Ports[0].HostPort == 9090},
		{"volumes that claim nothing", len(p.Spec.Volumes) == 1 && p.Spec.Volumes[0].PersistentVolumeClaim != nil},
		{"pod affinity", p.Spec.Affinity.PodAffinity == nil && p.Spec.Affinity.PodAntiAffinity == nil},
		{"service account, DNS, scheduler", p.Spec.ServiceAccountName == "" && p.Spec.DNSPolicy == "" && p.Spec.SchedulerName == ""},
		{"container statuses and IPs", !strings.Contains(jsonOf(t, p), "containerStatuses") && !strings.Contains(jsonOf(t, p), full.Status.HostIP)},
		{"conditions, PodScheduled=True included", len(p.Status.Conditions) == 0},
	} {
		if !dropped.gone {
			t.Errorf("the trimmed pod keeps %s: %s", dropped.what, jsonOf(t, p))
		}
	}
	labels := maps.Clone(full.Labels)
	delete(labels, corev1.LabelTopologyZone)
	delete(labels, corev1.LabelTopologyRegion)
	if len(labels) != len(full.Labels)-2 {
		t.Fatalf("the fixture pod has no topology labels: %v", full.Labels)
	}
	if !reflect.DeepEqual(p.Labels, labels) || !reflect.DeepEqual(p.OwnerReferences, full.OwnerReferences) || p.UID != full.UID ||
		p.ResourceVersion != full.ResourceVersion || !p.CreationTimestamp.Equal(&full.CreationTimestamp) {
		t.Errorf("the trimmed pod lost its identity, labels (the node's topology aside) or owners: %s", jsonOf(t, p))
	}
	// The pods of a workload in other zones share one label set.
	other := fullPod(t)
	other.Name, other.UID = "checkout-7d9f8b6c5d-q8w2e", "0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a"
	other.Labels[corev1.LabelTopologyZone] = "us-east-1c"
	if q := Pod(other); reflect.ValueOf(q.Labels).UnsafePointer() != reflect.ValueOf(p.Labels).UnsafePointer() {
		t.Errorf("two pods of a workload in two zones hold two label sets: %v, %v", p.Labels, q.Labels)
	}
	if len(jsonOf(t, p))*2 > len(jsonOf(t, full)) {
		t.Errorf("the trimmed pod is %d bytes of JSON, the whole one %d: expected at most half", len(jsonOf(t, p)), len(jsonOf(t, full)))
	}
}

// TestNodeKeepsWhatBallastReads: bin-packing, cost, commitments and placement read the
// same of a trimmed node; its images, conditions, addresses and system information
// are gone.
func TestNodeKeepsWhatBallastReads(t *testing.T) {
	full := fullNode(t)
	n := Node(full.DeepCopy())
	pod := fullPod(t)
	same(t, "usage", binpacking.UsageOf(&binpacking.Node{Node: full, Pods: podstore.Records(pod)}), binpacking.UsageOf(&binpacking.Node{Node: n, Pods: []*podstore.Pod{Pod(pod.DeepCopy())}}))
	same(t, "managed", binpacking.Managed(full, "prod"), binpacking.Managed(n, "prod"))
	same(t, "disrupting", binpacking.Disrupting(full), binpacking.Disrupting(n))
	same(t, "draining", binpacking.Draining(full), binpacking.Draining(n))
	same(t, "capacity", full.Status.Capacity, n.Status.Capacity)
	same(t, "labels", full.Labels, n.Labels)
	same(t, "bin-packing mark", full.Annotations[binpacking.UnderusedSinceAnnotation], n.Annotations[binpacking.UnderusedSinceAnnotation])
	fw, err := cost.FromCluster(cost.Cluster{Nodes: []corev1.Node{*full}})
	if err != nil {
		t.Fatal(err)
	}
	tw, err := cost.FromCluster(cost.Cluster{Nodes: []corev1.Node{*n}})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "cost", fw, tw)
	if n.Status.Images != nil || n.Status.Conditions != nil || n.Status.Addresses != nil || n.Status.NodeInfo.KernelVersion != "" ||
		n.ManagedFields != nil || len(n.Annotations) != 1 || n.Finalizers != nil {
		t.Errorf("the trimmed node keeps what nothing reads: %s", jsonOf(t, n))
	}
	same(t, "trimming again", n, Node(n.DeepCopy()))
	// Another node of the type shares its resource lists.
	other := fullNode(t)
	other.Name = "ip-10-0-9-9.eu-west-1.compute.internal"
	o := Node(other)
	if reflect.ValueOf(o.Status.Allocatable).Pointer() != reflect.ValueOf(n.Status.Allocatable).Pointer() ||
		reflect.ValueOf(o.Status.Capacity).Pointer() != reflect.ValueOf(n.Status.Capacity).Pointer() {
		t.Error("two nodes of one instance type hold two copies of their resources")
	}
}

// TestWorkloadsKeepWhatBallastReads: the webhook and the drift reconciler find the
// same workload, with the same split and the same scheduling constraints, from
// trimmed Deployments, ReplicaSets, StatefulSets and Jobs; bin-packing reads the same
// replica counts.
func TestWorkloadsKeepWhatBallastReads(t *testing.T) {
	docs := fixtures(t, "workloads.yaml")
	objects := []client.Object{
		ptr.To(decode[appsv1.Deployment](t, docs["Deployment/checkout"])),
		ptr.To(decode[appsv1.ReplicaSet](t, docs["ReplicaSet/checkout-7d9f8b6c5d"])),
		ptr.To(decode[appsv1.ReplicaSet](t, docs["ReplicaSet/canary-5c4b3a2918"])),
		ptr.To(decode[appsv1.StatefulSet](t, docs["StatefulSet/ledger"])),
		ptr.To(decode[batchv1.Job](t, docs["Job/nightly-report"])),
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	var trimmedObjects []client.Object
	for _, o := range objects {
		out, err := trimmed(o).transform(o.DeepCopyObject())
		if err != nil {
			t.Fatal(err)
		}
		trimmedObjects = append(trimmedObjects, out.(client.Object))
	}
	full := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objects...).Build()
	cached := fake.NewClientBuilder().WithScheme(scheme).WithObjects(trimmedObjects...).Build()
	policy := &v1alpha1.ClusterPolicy{Spec: v1alpha1.ClusterPolicySpec{Cluster: v1alpha1.ClusterIdentity{Name: "prod"}}}
	rules := []*v1alpha1.WorkloadDistributionRule{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "payments"},
		Spec: v1alpha1.WorkloadDistributionRuleSpec{
			WorkloadSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "payments"}},
			DistributionSpec: v1alpha1.DistributionSpec{OnDemandPercent: ptr.To[int32](10)},
		},
	}}
	pod := fullPod(t)
	ctx := context.Background()
	for _, owner := range []metav1.OwnerReference{
		{Kind: "ReplicaSet", Name: "checkout-7d9f8b6c5d", UID: "9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4"},
		{Kind: "ReplicaSet", Name: "canary-5c4b3a2918", UID: "2b3c4d5e-6f70-8192-a3b4-c5d6e7f80910"},
		{Kind: "StatefulSet", Name: "ledger", UID: "4d5e6f70-8192-a3b4-c5d6-e7f809101112"},
		{Kind: "Job", Name: "nightly-report", UID: "5e6f7081-92a3-b4c5-d6e7-f80910111213"},
	} {
		t.Run(owner.Kind+"/"+owner.Name, func(t *testing.T) {
			p := pod.DeepCopy()
			owner.Controller = ptr.To(true)
			p.OwnerReferences = []metav1.OwnerReference{owner}
			fw, err := distribution.WorkloadOf(ctx, full, p)
			if err != nil {
				t.Fatal(err)
			}
			tw, err := distribution.WorkloadOf(ctx, cached, Pod(p.DeepCopy()))
			if err != nil {
				t.Fatal(err)
			}
			same(t, "workload", [4]any{fw.Kind, fw.Name, fw.UID, fw.Replicas}, [4]any{tw.Kind, tw.Name, tw.UID, tw.Replicas})
			same(t, "selector", fw.Selector.String(), tw.Selector.String())
			same(t, "match labels", fw.MatchLabels, tw.MatchLabels)
			same(t, "labels", fw.Labels, tw.Labels)
			same(t, "owns", fw.Owns(p), tw.Owns(Pod(p.DeepCopy())))
			// What chooses() reads of the template: the node selector and node affinity.
			same(t, "node selector", fw.Template.Spec.NodeSelector, tw.Template.Spec.NodeSelector)
			same(t, "node affinity", nodeAffinity(fw.Template), nodeAffinity(tw.Template))
			same(t, "tolerations", fw.Template.Spec.Tolerations, tw.Template.Spec.Tolerations)
			fr, fErr := split.Resolve(policy, rules, fw.SplitWorkload())
			tr, tErr := split.Resolve(policy, rules, tw.SplitWorkload())
			same(t, "split", [2]any{fr, fErr}, [2]any{tr, tErr})
		})
	}
	if rs := trimmedObjects[1].(*appsv1.ReplicaSet); len(rs.Spec.Template.Spec.Containers) != 0 {
		t.Errorf("a Deployment's ReplicaSet keeps its template: %s", jsonOf(t, rs))
	}
	if rs := trimmedObjects[2].(*appsv1.ReplicaSet); rs.Spec.Template.Spec.NodeSelector == nil {
		t.Errorf("a ReplicaSet of its own loses its template's node selector: %s", jsonOf(t, rs))
	}
	d := trimmedObjects[0].(*appsv1.Deployment)
	if d.Annotations[v1alpha1.OnDemandPercentAnnotation] != "40" || len(d.Annotations) != 1 || d.ManagedFields != nil ||
		d.Status.Replicas != 0 || d.Spec.Template.Spec.Containers[0].Image != "" || d.Spec.Template.Spec.Affinity.PodAntiAffinity != nil ||
		d.Spec.Template.Labels != nil || d.Spec.Strategy.Type != "" {
		t.Errorf("the trimmed Deployment keeps what nothing reads, or lost its override: %s", jsonOf(t, d))
	}
	if s := trimmedObjects[3].(*appsv1.StatefulSet); s.Spec.VolumeClaimTemplates != nil || s.Spec.ServiceName != "" {
		t.Errorf("the trimmed StatefulSet keeps its claims and service: %s", jsonOf(t, s))
	}
	if j := trimmedObjects[4].(*batchv1.Job); j.Spec.Completions != nil || j.Status.Active != 0 || *j.Spec.Parallelism != 4 {
		t.Errorf("the trimmed Job: %s", jsonOf(t, j))
	}
	for i, o := range trimmedObjects {
		again, _ := trimmed(o).transform(o.DeepCopyObject())
		same(t, "trimming again "+objects[i].GetName(), o, again.(client.Object))
	}
}

// TestNamespaceAndNodeClaim: the opt-in scope and the NodeClaim conditions read the
// same.
func TestNamespaceAndNodeClaim(t *testing.T) {
	docs := fixtures(t, "others.yaml")
	ns := decode[corev1.Namespace](t, docs["Namespace/shop"])
	tns := Namespace(ns.DeepCopy())
	s := scope.Scope{Own: "ballast-system"}
	fIn, fWhy := s.Includes(&ns)
	tIn, tWhy := s.Includes(tns)
	same(t, "scope", [2]any{fIn, fWhy}, [2]any{tIn, tWhy})
	if tns.Spec.Finalizers != nil || tns.Status.Phase != "" || tns.ManagedFields != nil || len(tns.Annotations) != 1 {
		t.Errorf("the trimmed namespace: %s", jsonOf(t, tns))
	}

	nc := decode[karpv1.NodeClaim](t, docs["NodeClaim/ballast-prod-spot-abcde"])
	tnc := NodeClaim(nc.DeepCopy())
	launched := func(nc *karpv1.NodeClaim) any {
		// StatusConditions fills in missing conditions: ask a copy.
		c := nc.DeepCopy().StatusConditions().Get(karpv1.ConditionTypeLaunched)
		return [2]any{c.IsTrue(), c.LastTransitionTime}
	}
	same(t, "launched", launched(&nc), launched(tnc))
	same(t, "capacity", nc.Status.Capacity, tnc.Status.Capacity)
	same(t, "pool", nc.Labels[karpv1.NodePoolLabelKey], tnc.Labels[karpv1.NodePoolLabelKey])
	same(t, "provider ID (interruption notices name it)", nc.Status.ProviderID, tnc.Status.ProviderID)
	if tnc.Spec.Requirements != nil || tnc.Status.Allocatable != nil || tnc.Status.Conditions[0].Message != "" ||
		len(tnc.Annotations) != 0 {
		t.Errorf("the trimmed NodeClaim: %s", jsonOf(t, tnc))
	}
	if nc.Status.Conditions[0].Message == "" {
		t.Fatal("trimming changed the object it was given")
	}
}

// TestTransforms: every trimmed kind has its transform; objects of other types of a
// trimmed kind (metadata-only, unstructured) and of every other kind lose only their
// managedFields; NodePools stay whole.
func TestTransforms(t *testing.T) {
	transforms := Transforms()
	for _, k := range kinds {
		if _, ok := transforms[k.prototype]; !ok {
			t.Errorf("no transform for %T", k.prototype)
		}
	}
	managed := []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	for obj, transform := range transforms {
		partial := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "x", ManagedFields: managed,
			Annotations: map[string]string{"a": "b"}}}
		out, err := transform(partial)
		if err != nil {
			t.Fatal(err)
		}
		want := partial.DeepCopy()
		if _, isPool := obj.(*karpv1.NodePool); !isPool {
			want.ManagedFields = nil
		}
		same(t, "metadata-only "+reflect.TypeOf(obj).String(), any(want), out)
	}
	pool := &karpv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "p", ManagedFields: managed}}
	for obj, transform := range transforms {
		if _, ok := obj.(*karpv1.NodePool); ok {
			out, _ := transform(pool.DeepCopy())
			same(t, "NodePool", any(pool), out)
		}
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", ManagedFields: managed}, Data: map[string]string{"k": "v"}}
	out, _ := StripManagedFields(cm.DeepCopy())
	want := cm.DeepCopy()
	want.ManagedFields = nil
	same(t, "ConfigMap", any(want), out)
}

// TestTrimsInPlace: every trimmed kind's transform but the pods' (which makes the
// cache's record of a pod, podstore.Pod) hands back the object the informer decoded,
// trimmed, not a new one: a new struct (1.2 KB a workload) would leave the decoded one
// as garbage beside every object the cache keeps, and the heap's spans of that size
// half empty.
func TestTrimsInPlace(t *testing.T) {
	transforms := Transforms()
	for _, k := range kinds {
		if _, isPod := k.prototype.(*corev1.Pod); isPod {
			continue
		}
		in := k.prototype.DeepCopyObject()
		out, err := transforms[k.prototype](in)
		if err != nil {
			t.Fatal(err)
		}
		if reflect.ValueOf(out).Pointer() != reflect.ValueOf(in).Pointer() {
			t.Errorf("%T: the transform made a new object", in)
		}
	}
	n := fullNode(t)
	if len(n.Status.Images) == 0 {
		t.Fatal("the fixture's node has no images")
	}
	if Node(n) != n || len(n.Status.Images) != 0 {
		t.Error("the node handed back is not the trimmed one")
	}
}

// TestWorkloadsShareLabelSets: two ReplicaSets of one Deployment hold one copy of their
// labels and one of their selector's, a workload whose labels are its selector's
// (the canary ReplicaSet) one map for both; what they say is unchanged.
func TestWorkloadsShareLabelSets(t *testing.T) {
	docs := fixtures(t, "workloads.yaml")
	a := decode[appsv1.ReplicaSet](t, docs["ReplicaSet/checkout-7d9f8b6c5d"])
	b := a.DeepCopy()
	b.Name, b.UID = "checkout-7d9f8b6c5d-copy", "other"
	wantLabels, wantSelector := maps.Clone(a.Labels), a.Spec.Selector.DeepCopy()
	ta, tb := ReplicaSet(&a), ReplicaSet(b)
	ptr := func(v any) uintptr { return reflect.ValueOf(v).Pointer() }
	if ptr(ta.Labels) != ptr(tb.Labels) || ptr(ta.Spec.Selector.MatchLabels) != ptr(tb.Spec.Selector.MatchLabels) {
		t.Error("two ReplicaSets with the same labels and selector hold two copies")
	}
	if !reflect.DeepEqual(ta.Labels, wantLabels) || !reflect.DeepEqual(ta.Spec.Selector, wantSelector) {
		t.Errorf("labels %v, selector %v; want %v, %v", ta.Labels, ta.Spec.Selector, wantLabels, wantSelector)
	}
	canary := decode[appsv1.ReplicaSet](t, docs["ReplicaSet/canary-5c4b3a2918"])
	tc := ReplicaSet(&canary)
	if ptr(tc.Labels) != ptr(tc.Spec.Selector.MatchLabels) {
		t.Error("a ReplicaSet whose labels are its selector's holds two copies")
	}
}

// TestWholePathsAreKeptWhole: the fields the guard lets a patch replace are exactly
// as the API server has them in the trimmed objects (the guard's premise).
func TestWholePathsAreKeptWhole(t *testing.T) {
	docs := fixtures(t, "workloads.yaml")
	others := fixtures(t, "others.yaml")
	full := []client.Object{
		fullPod(t), fullNode(t),
		ptr.To(decode[appsv1.Deployment](t, docs["Deployment/checkout"])),
		ptr.To(decode[appsv1.ReplicaSet](t, docs["ReplicaSet/checkout-7d9f8b6c5d"])),
		ptr.To(decode[appsv1.StatefulSet](t, docs["StatefulSet/ledger"])),
		ptr.To(decode[batchv1.Job](t, docs["Job/nightly-report"])),
		ptr.To(decode[corev1.Namespace](t, others["Namespace/shop"])),
		ptr.To(decode[karpv1.NodeClaim](t, others["NodeClaim/ballast-prod-spot-abcde"])),
	}
	seen := map[reflect.Type]bool{}
	for _, o := range full {
		k := trimmed(o)
		seen[reflect.TypeOf(o)] = true
		out, err := k.transform(o.DeepCopyObject())
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := out.(*podstore.Pod); ok {
			out = wholeOf(p)
		}
		before, after := tree(t, o), tree(t, out)
		for _, path := range k.whole {
			same(t, kindName(k)+" "+path, at(before, path), at(after, path))
		}
	}
	for _, k := range kinds {
		if !seen[reflect.TypeOf(k.prototype)] {
			t.Errorf("no fixture of %s", kindName(&k))
		}
	}
}

func nodeAffinity(t *corev1.PodTemplateSpec) *corev1.NodeAffinity {
	if t.Spec.Affinity == nil {
		return nil
	}
	return t.Spec.Affinity.NodeAffinity
}

func tree(t *testing.T, obj any) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(jsonOf(t, obj)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func at(tree map[string]any, path string) any {
	var v any = tree
	for _, key := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[key]
	}
	return v
}

func jsonOf(t *testing.T, obj any) string {
	t.Helper()
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestPodsShareWhatTheyHaveInCommon: two pods of one ReplicaSet hold one copy of their
// labels, owner, node selector, tolerations, resource lists and containers; a pod with other
// requests holds its own; a full table starts afresh and still gives right values.
func TestPodsShareWhatTheyHaveInCommon(t *testing.T) {
	a, b := fullPod(t), fullPod(t)
	b.Name, b.UID = "checkout-7d9f8b6c5d-other", "other"
	ta, tb := Pod(a), Pod(b)
	ptr := func(v any) uintptr { return reflect.ValueOf(v).Pointer() }
	for what, pair := range map[string][2]any{
		"labels":        {ta.Labels, tb.Labels},
		"owners":        {ta.OwnerReferences, tb.OwnerReferences},
		"node selector": {ta.Spec.NodeSelector, tb.Spec.NodeSelector},
		"tolerations":   {ta.Spec.Tolerations, tb.Spec.Tolerations},
		"requests":      {ta.Spec.Containers[0].Resources.Requests, tb.Spec.Containers[0].Resources.Requests},
		"limits":        {ta.Spec.Containers[1].Resources.Limits, tb.Spec.Containers[1].Resources.Limits},
		"containers":    {ta.Spec.Containers, tb.Spec.Containers},
	} {
		if ptr(pair[0]) != ptr(pair[1]) {
			t.Errorf("the pods hold two copies of their %s", what)
		}
	}
	if ta.Name == tb.Name || ta.UID == tb.UID {
		t.Error("the pods share their identity")
	}
	// Their specs are one, but for the volume each claims (a StatefulSet pod's own):
	// without claims, the pods of a workload on any node hold one spec.
	if ta.Spec.PodSpec == tb.Spec.PodSpec {
		t.Error("two pods with claims of their own share one spec")
	}
	unclaimed := func(name, node string) *podstore.Pod {
		p := fullPod(t)
		p.Name, p.UID, p.Spec.NodeName = name, types.UID(name), node
		p.Spec.Volumes = p.Spec.Volumes[1:]
		return Pod(p)
	}
	ua, ub := unclaimed("ua", "node-a"), unclaimed("ub", "node-b")
	if ua.Spec.PodSpec != ub.Spec.PodSpec || ua.Spec.PodSpec.NodeName != "" {
		t.Error("the pods of a workload on two nodes hold two specs (or the shared spec names a node)")
	}
	if ua.Spec.NodeName != "node-a" || ub.Spec.NodeName != "node-b" {
		t.Errorf("nodes %q and %q", ua.Spec.NodeName, ub.Spec.NodeName)
	}
	str := func(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }
	// Their annotations are one map: each pod's reservation, one of a kind, is kept
	// beside them.
	if len(ta.Annotations) == 0 || ptr(ta.Annotations) != ptr(tb.Annotations) {
		t.Errorf("the pods hold two annotation maps: %v, %v", ta.Annotations, tb.Annotations)
	}
	if _, ok := ta.Annotations[distribution.ReservationAnnotation]; ok {
		t.Error("the shared annotations hold a pod's reservation")
	}
	if ta.Reservation != a.Annotations[distribution.ReservationAnnotation] || ta.Reservation == "" {
		t.Errorf("reservation %q, want the pod's %q", ta.Reservation, a.Annotations[distribution.ReservationAnnotation])
	}
	if podstore.ReservationAnnotation != distribution.ReservationAnnotation {
		t.Errorf("the cache keeps %s beside the annotations, not the reservations (%s)", podstore.ReservationAnnotation, distribution.ReservationAnnotation)
	}
	// Annotation maps of their own hold the keys and values they have in common once.
	c2 := fullPod(t)
	c2.Annotations[distribution.ReasonAnnotation] = "other"
	tc2 := Pod(c2)
	if ptr(tc2.Annotations) == ptr(ta.Annotations) {
		t.Fatal("pods with other annotations share them")
	}
	for k := range tc2.Annotations {
		for k2 := range ta.Annotations {
			if k2 == k && str(k2) != str(k) {
				t.Errorf("two annotation maps hold two copies of the key %s", k)
			}
		}
	}

	// Label sets of their own hold the keys and values they have in common once.
	e := fullPod(t)
	e.Labels["release"] = "canary"
	te := Pod(e)
	if ptr(te.Labels) == ptr(ta.Labels) {
		t.Fatal("pods with other labels share them")
	}
	for k, v := range te.Labels {
		for k2, v2 := range ta.Labels {
			if k2 == k && (str(k2) != str(k) || str(v2) != str(v)) {
				t.Errorf("two label sets hold two copies of %s=%s", k, v)
			}
		}
	}

	// A Deployment's template shares its containers and tolerations with its pods.
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "shop"}}
	d.Spec.Template.Spec = *fullPod(t).Spec.DeepCopy()
	td := Deployment(d)
	if ptr(td.Spec.Template.Spec.Containers) != ptr(ta.Spec.Containers) || ptr(td.Spec.Template.Spec.Tolerations) != ptr(ta.Spec.Tolerations) {
		t.Error("the Deployment's template holds copies of its pods' containers or tolerations")
	}
	if !reflect.DeepEqual(td.Spec.Template.Spec.Containers, ta.Spec.Containers) {
		t.Error("the shared containers differ")
	}

	// Nodes hold one copy of each label key and value they have in common.
	n1, n2 := fullNode(t), fullNode(t)
	n2.Name = "ip-10-0-9-99.ec2.internal"
	n2.Labels[corev1.LabelHostname] = n2.Name
	host1 := n1.Labels[corev1.LabelHostname]
	tn1, tn2 := Node(n1), Node(n2)
	for k, v := range tn1.Labels {
		for k2, v2 := range tn2.Labels {
			if k2 != k {
				continue
			}
			if str(k2) != str(k) {
				t.Errorf("the nodes hold two copies of the label key %s", k)
			}
			if v2 == v && str(v2) != str(v) {
				t.Errorf("the nodes hold two copies of the value of %s", k)
			}
		}
	}
	if tn2.Labels[corev1.LabelHostname] != "ip-10-0-9-99.ec2.internal" || tn1.Labels[corev1.LabelHostname] != host1 {
		t.Error("the nodes' hostnames mixed up")
	}
	c := fullPod(t)
	c.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("750m")
	tc := Pod(c)
	if ptr(tc.Spec.Containers[0].Resources.Requests) == ptr(ta.Spec.Containers[0].Resources.Requests) {
		t.Error("pods with other requests share them")
	}
	if ptr(tc.Spec.Containers) == ptr(ta.Spec.Containers) {
		t.Error("pods with other requests share their containers")
	}
	if ptr(tc.Spec.Containers[1].Resources.Limits) != ptr(ta.Spec.Containers[1].Resources.Limits) {
		t.Error("a container list of its own does not share the resource lists it has in common")
	}
	if got := tc.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; got.String() != "750m" {
		t.Errorf("requests %s, want 750m", got.String())
	}
	base := fullPod(t)
	for i := range maxShared + 10 {
		p := base.DeepCopy()
		p.Labels["pod-index"] = strconv.Itoa(i)
		if got := Pod(p).Labels["pod-index"]; got != strconv.Itoa(i) {
			t.Fatalf("pod %d: label %q", i, got)
		}
	}
	if n := len(stringMaps.m); n > maxShared {
		t.Errorf("the table holds %d entries, more than %d", n, maxShared)
	}
}
