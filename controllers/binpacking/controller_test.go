package binpacking_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ballast-dev/ballast/controllers/binpacking"
	"github.com/ballast-dev/ballast/controllers/distribution"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// fixture is one cluster in its own names: a ClusterPolicy, nodes, a namespace with a
// ReplicaSet of 3 replicas whose pods are placed on the nodes by hand.
type fixture struct {
	t       *testing.T
	cluster string
	ns      string
	rs      *appsv1.ReplicaSet
	now     time.Time
	r       *binpacking.Reconciler
}

func newFixture(t *testing.T, name string, pe *v1alpha1.PodEvictionSpec, windows []v1alpha1.MaintenanceWindow) *fixture {
	ctx := context.Background()
	f := &fixture{t: t, cluster: name, ns: name, now: time.Now()}
	f.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled}}})
	f.create(&v1alpha1.ClusterPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.ClusterPolicySpec{
		Cluster: v1alpha1.ClusterIdentity{Name: name, Region: "us-east-1"}, NodeClass: v1alpha1.NodeClassSpec{Role: "r"},
		BinPacking: v1alpha1.BinPackingSpec{PodEviction: pe}, MaintenanceWindows: windows,
	}})
	f.rs = &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "web"}, Spec: appsv1.ReplicaSetSpec{
		Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}}}
	f.create(f.rs)
	f.r = &binpacking.Reconciler{Client: env.Client, Cluster: name, StablePeriod: 5 * time.Minute, Now: func() time.Time { return f.now }}
	_ = ctx
	return f
}

func (f *fixture) create(o client.Object) {
	f.t.Helper()
	if err := env.Client.Create(context.Background(), o); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o, client.GracePeriodSeconds(0)) })
}

// node creates a Spot node of a NodePool (Ballast's when managed) with 4 CPUs and
// 16Gi.
func (f *fixture) node(name string, managed bool) {
	pool := "someone-else"
	if managed {
		pool = "ballast-" + f.cluster + "-spot"
	}
	f.nodeWith(name, map[string]string{binpacking.NodePoolLabel: pool, "karpenter.sh/capacity-type": "spot"})
}

// onDemand creates an On-Demand m5.large of Ballast's On-Demand NodePool, with 4 CPUs
// and 16Gi.
func (f *fixture) onDemand(name string) {
	f.nodeWith(name, map[string]string{binpacking.NodePoolLabel: "ballast-" + f.cluster + "-on-demand",
		"karpenter.sh/capacity-type": "on-demand", corev1.LabelInstanceTypeStable: "m5.large"})
}

func (f *fixture) nodeWith(name string, labels map[string]string) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: f.cluster + "-" + name, Labels: labels}}
	f.create(n)
	// The API server taints a new node not-ready until a kubelet reports; this one is
	// ready.
	n.Spec.Taints = nil
	if err := env.Client.Update(context.Background(), n); err != nil {
		f.t.Fatal(err)
	}
	n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"),
		corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110")}
	n.Status.Capacity = n.Status.Allocatable
	if err := env.Client.Status().Update(context.Background(), n); err != nil {
		f.t.Fatal(err)
	}
}

// pod creates a running pod of the ReplicaSet on node.
func (f *fixture) pod(name, node, cpu string) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name, Labels: map[string]string{"app": "web"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: f.rs.UID, Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{NodeName: f.cluster + "-" + node, Containers: []corev1.Container{{Name: "c", Image: "x",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("1Gi")}}}}}}
	f.create(p)
	p.Status.Phase = corev1.PodRunning
	if err := env.Client.Status().Update(context.Background(), p); err != nil {
		f.t.Fatal(err)
	}
}

// pass runs a pass, the clock stepped by step first.
func (f *fixture) pass(step time.Duration) *v1alpha1.BinPackingStatus {
	f.t.Helper()
	f.now = f.now.Add(step)
	if _, err := f.r.Reconcile(context.Background(), reconcile.Request{}); err != nil {
		f.t.Fatal(err)
	}
	var p v1alpha1.ClusterPolicy
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: f.cluster}, &p); err != nil {
		f.t.Fatal(err)
	}
	return p.Status.BinPacking
}

// evicted lists the pods the Eviction API took (envtest runs no kubelet: an evicted
// pod stays, terminating).
func (f *fixture) evicted() []string {
	var pods corev1.PodList
	if err := env.Client.List(context.Background(), &pods, client.InNamespace(f.ns)); err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			out = append(out, p.Name)
		}
	}
	return out
}

func (f *fixture) tainted(node string) bool {
	var n corev1.Node
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: f.cluster + "-" + node}, &n); err != nil {
		f.t.Fatal(err)
	}
	return binpacking.Draining(&n)
}

var cpu30 = &v1alpha1.PodEvictionSpec{Enabled: true, CPUThresholdPercent: ptr.To[int32](30), MaxEvictionsPerPass: ptr.To[int32](5)}

// TestDrainsAnUnderusedNodeAfterTheStablePeriod: an underused Ballast node whose pods
// fit elsewhere is tainted and emptied through the Eviction API, only after the stable
// period, at most maxEvictionsPerPass pods per pass; a node of another NodePool is
// never touched.
func TestDrainsAnUnderusedNodeAfterTheStablePeriod(t *testing.T) {
	pe := cpu30.DeepCopy()
	pe.MaxEvictionsPerPass = ptr.To[int32](1)
	f := newFixture(t, "bp-drain", pe, nil)
	f.node("small", true)
	f.node("busy", true)
	f.node("foreign", false)
	f.pod("a", "small", "500m")
	f.pod("b", "small", "500m")
	f.pod("c", "busy", "2")
	f.pod("f", "foreign", "100m")

	st := f.pass(0)
	if len(f.evicted()) != 0 || len(st.Candidates) != 0 {
		t.Fatalf("first sight: evicted %v, candidates %v; want nothing before the stable period", f.evicted(), st.Candidates)
	}
	st = f.pass(6 * time.Minute)
	if got := f.evicted(); len(got) != 1 || !f.tainted("small") {
		t.Fatalf("after the stable period: evicted %v (want 1, the cap), tainted %v; %s", got, f.tainted("small"), st.Message)
	}
	if len(st.Candidates) != 1 || st.Candidates[0] != "bp-drain-small" || st.Evicted != 1 || len(st.Draining) != 1 {
		t.Fatalf("status %+v", st)
	}
	if f.tainted("foreign") || f.tainted("busy") {
		t.Fatal("only the drained node is tainted")
	}
	f.pass(time.Minute)
	if got := f.evicted(); len(got) != 2 {
		t.Fatalf("second pass: evicted %v, want both pods of the small node", got)
	}
}

// TestBlockedByPodDisruptionBudget: a PDB with maxUnavailable 0 refuses the eviction;
// the status says so, nothing is evicted and the node is untainted again.
func TestBlockedByPodDisruptionBudget(t *testing.T) {
	f := newFixture(t, "bp-pdb", cpu30, nil)
	f.node("small", true)
	f.node("busy", true)
	f.pod("a", "small", "500m")
	f.pod("c", "busy", "2")
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "web"}, Spec: policyv1.PodDisruptionBudgetSpec{
		MaxUnavailable: ptr.To(intstr.FromInt32(0)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	f.create(pdb)
	// The status the disruption controller (not running here) gives it: neither pod
	// is Ready, so none may go. Without a status, the Eviction API answers 429 with a
	// Retry-After that client-go waits out ten times.
	pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, ExpectedPods: 2, DesiredHealthy: 2}
	if err := env.Client.Status().Update(context.Background(), pdb); err != nil {
		t.Fatal(err)
	}
	f.pass(0)
	st := f.pass(6 * time.Minute)
	if got := f.evicted(); len(got) != 0 {
		t.Fatalf("evicted %v despite the PodDisruptionBudget", got)
	}
	if !strings.Contains(st.Message, "blocked by PodDisruptionBudget") || f.tainted("small") {
		t.Fatalf("message %q, tainted %v; want blocked and untainted", st.Message, f.tainted("small"))
	}
}

// TestOutsideTheWindowNothingIsEvicted: a maintenance window that does not allow
// PodEviction now keeps every pod in place.
func TestOutsideTheWindowNothingIsEvicted(t *testing.T) {
	now := time.Now().UTC()
	// A one-hour window twelve hours away, every day.
	start := now.Add(12 * time.Hour)
	days := []v1alpha1.Weekday{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	windows := []v1alpha1.MaintenanceWindow{{Name: "night", Days: days, Start: fmt.Sprintf("%02d:00", start.Hour()),
		End: fmt.Sprintf("%02d:00", start.Add(time.Hour).Hour()), TimeZone: "UTC", Allow: []v1alpha1.MaintenanceOperation{v1alpha1.OperationPodEviction}}}
	f := newFixture(t, "bp-window", cpu30, windows)
	f.node("small", true)
	f.node("busy", true)
	f.pod("a", "small", "500m")
	f.pod("c", "busy", "2")
	f.pass(0)
	st := f.pass(6 * time.Minute)
	if got := f.evicted(); len(got) != 0 || !strings.Contains(st.Message, "maintenance window") {
		t.Fatalf("evicted %v, message %q; want nothing outside the window", got, st.Message)
	}
}

// TestNoRoomElsewhereLeavesTheNodeAlone: pods that fit on no other node keep their
// node: nothing is evicted, no taint, and the status says why.
func TestNoRoomElsewhereLeavesTheNodeAlone(t *testing.T) {
	f := newFixture(t, "bp-noroom", cpu30, nil)
	f.node("small", true)
	f.node("full", true)
	f.pod("a", "small", "1")
	f.pod("c", "full", "3500m")
	f.pass(0)
	st := f.pass(6 * time.Minute)
	if got := f.evicted(); len(got) != 0 || f.tainted("small") {
		t.Fatalf("evicted %v, tainted %v; want the node left alone", got, f.tainted("small"))
	}
	if !strings.Contains(st.Message, "fits on no other node") {
		t.Fatalf("message %q", st.Message)
	}
}

// commit gives the fixture's policy commitments.
func (f *fixture) commit(c *v1alpha1.CommitmentsSpec) {
	f.t.Helper()
	var p v1alpha1.ClusterPolicy
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: f.cluster}, &p); err != nil {
		f.t.Fatal(err)
	}
	p.Spec.Commitments = c
	if err := env.Client.Update(context.Background(), &p); err != nil {
		f.t.Fatal(err)
	}
}

// events returns the events recorded so far.
func (f *fixture) events(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

var threeM5 = &v1alpha1.CommitmentsSpec{Enabled: true, Source: v1alpha1.CommitmentsFromGit,
	ReservedInstances: []v1alpha1.ReservedInstance{{InstanceType: "m5.large", Count: 3}}}

// TestKeepsNodesThatCoverACommitment: 3 reserved m5.large and 4 lightly used
// On-Demand m5.large: one may go (the least used; ties by name), the 3 others are kept,
// and the status and one event say so; the pod of the emptied node moves onto them.
func TestKeepsNodesThatCoverACommitment(t *testing.T) {
	f := newFixture(t, "bp-keep", cpu30, nil)
	f.commit(threeM5)
	rec := events.NewFakeRecorder(100)
	f.r.Recorder = rec
	for i, n := range []string{"n1", "n2", "n3", "n4"} {
		f.onDemand(n)
		f.pod(fmt.Sprintf("p%d", i+1), n, "500m")
	}
	f.pass(0)
	st := f.pass(6 * time.Minute)
	if got := f.evicted(); len(got) != 1 || got[0] != "p1" || !f.tainted("n1") {
		t.Fatalf("evicted %v, n1 tainted %v; want p1 of n1 alone: %s", got, f.tainted("n1"), st.Message)
	}
	if len(st.Candidates) != 1 || st.Candidates[0] != "bp-keep-n1" {
		t.Errorf("candidates %v, want n1 alone", st.Candidates)
	}
	const kept = "kept bp-keep-n2, bp-keep-n3, bp-keep-n4: they cover commitments"
	if !strings.Contains(st.Message, kept) || !strings.Contains(st.Message, "draining node bp-keep-n1") {
		t.Errorf("message %q, want the drain and %q", st.Message, kept)
	}
	for _, n := range []string{"n2", "n3", "n4"} {
		if f.tainted(n) {
			t.Errorf("%s is tainted although it covers a commitment", n)
		}
	}
	st = f.pass(time.Minute)
	if got := f.evicted(); len(got) != 1 || !strings.Contains(st.Message, kept) {
		t.Errorf("second pass: evicted %v, message %q", got, st.Message)
	}
	var keptEvents []string
	for _, e := range f.events(rec) {
		if strings.Contains(e, binpacking.KeptReason) {
			keptEvents = append(keptEvents, e)
		}
	}
	if len(keptEvents) != 1 || !strings.Contains(keptEvents[0], kept) {
		t.Errorf("events %q, want one %s event for the kept nodes", keptEvents, binpacking.KeptReason)
	}
}

// TestNoneGoesWhenAllCover: 3 reserved m5.large and 2 On-Demand m5.large: both cover,
// nothing is evicted or tainted; a Spot node, which covers nothing, is still emptied.
func TestNoneGoesWhenAllCover(t *testing.T) {
	f := newFixture(t, "bp-allcover", cpu30, nil)
	f.commit(threeM5)
	f.onDemand("n1")
	f.onDemand("n2")
	f.pod("a", "n1", "500m")
	f.pod("b", "n2", "500m")
	f.pass(0)
	st := f.pass(6 * time.Minute)
	if got := f.evicted(); len(got) != 0 || f.tainted("n1") || f.tainted("n2") {
		t.Fatalf("evicted %v; want nothing: both nodes cover the reservations: %s", got, st.Message)
	}
	if !strings.Contains(st.Message, "no node to empty; kept bp-allcover-n1, bp-allcover-n2: they cover commitments") || len(st.Candidates) != 0 {
		t.Errorf("status %+v", st)
	}
	f.node("spot", true)
	f.pod("c", "spot", "500m")
	f.pass(time.Minute)
	st = f.pass(6 * time.Minute)
	if got := f.evicted(); len(got) != 1 || got[0] != "c" {
		t.Errorf("evicted %v, want the Spot node's pod: %s", got, st.Message)
	}
}

// TestCommitmentsUnknownKeepsOnDemandNodes: with source Discover and discovery failing
// (nothing reported yet), every On-Demand node is kept, and the status says why.
func TestCommitmentsUnknownKeepsOnDemandNodes(t *testing.T) {
	f := newFixture(t, "bp-unknown", cpu30, nil)
	f.commit(&v1alpha1.CommitmentsSpec{Enabled: true, Source: v1alpha1.CommitmentsFromAWS})
	f.r.Discover = func(context.Context, string) (cost.Commitments, error) {
		return cost.Commitments{}, errors.New("AccessDeniedException")
	}
	f.onDemand("n1")
	f.onDemand("n2")
	f.pod("a", "n1", "500m")
	f.pod("b", "n2", "500m")
	f.pass(0)
	st := f.pass(6 * time.Minute)
	if got := f.evicted(); len(got) != 0 {
		t.Fatalf("evicted %v while the commitments are unknown: %s", got, st.Message)
	}
	if !strings.Contains(st.Message, "AccessDeniedException") || !strings.Contains(st.Message, "every On-Demand node counts as covering") {
		t.Errorf("message %q does not say why the nodes are kept", st.Message)
	}
}

// TestNotWhileTheWebhookIsNotPlacing: while the placement watch says Ballast's webhook
// is not placing pods, no node is emptied (the replacements would lose their placement)
// and the status says why; once a placed pod shows the webhook works, packing goes on.
func TestNotWhileTheWebhookIsNotPlacing(t *testing.T) {
	f := newFixture(t, "bp-unplaced", cpu30, nil)
	watch := distribution.NewPlacementWatch()
	watch.Restore(false, f.now.Add(-time.Minute), f.now)
	f.r.Placement = watch
	f.node("small", true)
	f.node("busy", true)
	f.pod("a", "small", "500m")
	f.pod("c", "busy", "2")
	f.pass(0)
	st := f.pass(6 * time.Minute)
	if got := f.evicted(); len(got) != 0 || !strings.Contains(st.Message, "webhook did not place") {
		t.Fatalf("evicted %v, message %q; want nothing while the webhook is not placing pods", got, st.Message)
	}
	placed := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "x", Name: "new",
		CreationTimestamp: metav1.NewTime(f.now), Annotations: map[string]string{distribution.ReasonAnnotation: "split"}}}
	if v := watch.Observe(podstore.Records(&placed)); !v.Changed {
		t.Fatalf("a placed pod did not end the pause: %+v", v)
	}
	if st := f.pass(time.Minute); len(f.evicted()) != 1 {
		t.Fatalf("evicted %v after the webhook placed a pod, want a (%s)", f.evicted(), st.Message)
	}
}
