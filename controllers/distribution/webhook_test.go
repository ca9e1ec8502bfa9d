package distribution_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/controllers/distribution"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/controllers/internal/scope"
	"github.com/ballast-dev/ballast/metrics"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
	"github.com/ballast-dev/ballast/split"
)

// fixture creates a namespace, the cluster's ClusterPolicy (once), a rule, and a
// Deployment with its ReplicaSet in the real API server (no controllers run in
// envtest, so nothing creates pods: admissions are the only writers).
func fixture(t testing.TB, cluster string, replicas int32, base, percent int32, nsLabels ...map[string]string) (ns string, rs *appsv1.ReplicaSet) {
	t.Helper()
	ctx := context.Background()
	c := env.Client
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "dist-",
		Labels: map[string]string{v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled}}}
	if len(nsLabels) > 0 {
		nsObj.Labels = nsLabels[0]
	}
	if err := c.Create(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	ns = nsObj.Name
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: cluster},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:      v1alpha1.ClusterIdentity{Name: cluster, Region: "eu-west-1"},
			NodeClass:    v1alpha1.NodeClassSpec{Role: "r"},
			Distribution: v1alpha1.DistributionSpec{Selector: v1alpha1.All},
		},
	}
	if err := c.Create(ctx, policy); err != nil && !isAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, np := range ballastPools(t, policy) {
		if err := c.Create(ctx, np); err != nil && !isAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	rule := &v1alpha1.WorkloadDistributionRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "r"},
		Spec: v1alpha1.WorkloadDistributionRuleSpec{DistributionSpec: v1alpha1.DistributionSpec{
			BaseOnDemand: ptr.To(base), OnDemandPercent: ptr.To(percent), Selector: v1alpha1.All,
		}},
	}
	if err := c.Create(ctx, rule); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template},
	}
	if err := c.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	rs = &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-1", Labels: labels, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: ptr.To(true),
		}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template},
	}
	if err := c.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	return ns, rs
}

// ballastPools are the NodePools Ballast renders for the policy.
func ballastPools(t testing.TB, policy *v1alpha1.ClusterPolicy) []*karpv1.NodePool {
	t.Helper()
	objs, err := render.Render(render.Input{Policy: policy, Source: "local", Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	var out []*karpv1.NodePool
	for _, o := range objs {
		if np, ok := o.(*karpv1.NodePool); ok {
			out = append(out, np)
		}
	}
	if len(out) == 0 {
		t.Fatal("the policy renders no NodePool")
	}
	return out
}

func isAlreadyExists(err error) bool { return err != nil && client.IgnoreAlreadyExists(err) == nil }

// admit sends a pod of the ReplicaSet through the webhook and returns the capacity it
// was placed on ("" when the pod was left alone).
func admit(t *testing.T, p *distribution.Placer, ns string, rs *appsv1.ReplicaSet) string {
	t.Helper()
	resp := handle(t, p, replicaSetPod(ns, rs))
	return capacityFromPatch(t, resp)
}

// replicaSetPod is a new, unplaced pod of the ReplicaSet.
func replicaSetPod(ns string, rs *appsv1.ReplicaSet) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "web-1-", Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}
}

// dryRun sends a new pod of the ReplicaSet through the webhook as a dry-run admission
// and returns the capacity it was placed on.
func dryRun(t *testing.T, p *distribution.Placer, ns string, rs *appsv1.ReplicaSet) string {
	t.Helper()
	raw, err := json.Marshal(replicaSetPod(ns, rs))
	if err != nil {
		t.Fatal(err)
	}
	resp := p.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: uuid.NewUUID(), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, DryRun: ptr.To(true),
		Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
	}})
	return capacityFromPatch(t, resp)
}

func handle(t *testing.T, p *distribution.Placer, pod *corev1.Pod) admission.Response {
	t.Helper()
	return handleAs(t, p, pod, uuid.NewUUID())
}

// handleAs is handle as the admission with the UID id.
func handleAs(t *testing.T, p *distribution.Placer, pod *corev1.Pod, id types.UID) admission.Response {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	resp := p.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: id, Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Namespace: pod.Namespace, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
	}})
	if !resp.Allowed {
		t.Fatalf("the webhook refused a pod: %+v", resp.Result)
	}
	return resp
}

func capacityFromPatch(t *testing.T, resp admission.Response) string {
	t.Helper()
	return patchedMember(t, resp, "/spec/nodeSelector", "karpenter.sh/capacity-type")
}

// patchedMember returns the value the patch gives the key of the map at path (as a
// whole or as a member), or "".
func patchedMember(t *testing.T, resp admission.Response, path, key string) string {
	t.Helper()
	member := path + "/" + strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
	for _, op := range resp.Patches {
		if op.Path != path && op.Path != member {
			continue
		}
		// The value as the API server reads it from the response.
		raw, err := json.Marshal(op.Value)
		if err != nil {
			t.Fatal(err)
		}
		var value any
		if err := json.Unmarshal(raw, &value); err != nil {
			t.Fatal(err)
		}
		if m, ok := value.(map[string]any); ok && op.Path == path {
			if v, ok := m[key]; ok {
				return fmt.Sprint(v)
			}
			return ""
		}
		return fmt.Sprint(value)
	}
	return ""
}

func newPlacer(t *testing.T, cluster string) *distribution.Placer {
	t.Helper()
	// An uncached client for both reads and the ledger: each placer stands for a
	// separate webhook replica with nothing in memory to share.
	c, err := client.New(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	// A generous timeout: these tests check the decisions, not their latency (that is
	// BenchmarkAdmission's job), and share the machine with other suites.
	return &distribution.Placer{Client: c, API: c, Cluster: cluster, Timeout: 20 * time.Second, Scope: scope.Scope{Own: "ballast-system"}}
}

// TestConcurrentAdmissionsAreExact: 40 admissions of one Deployment's pods race
// through two webhook replicas (two placers sharing no memory); the decisions add up to
// exactly the target split, because every decision is serialised through the
// workload's ledger in the API server.
func TestConcurrentAdmissionsAreExact(t *testing.T) {
	ns, rs := fixture(t, "race", 40, 2, 30) // 2 + ceil(38 * 0.3) = 2 + 12 = 14 On-Demand, 26 Spot
	placers := []*distribution.Placer{newPlacer(t, "race"), newPlacer(t, "race")}
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			capacity := admit(t, placers[i%2], ns, rs)
			mu.Lock()
			got[capacity]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got["on-demand"] != 14 || got["spot"] != 26 {
		t.Fatalf("40 racing admissions placed %v, want 14 on-demand and 26 spot", got)
	}
}

// TestWebhookLeavesPodsAlone: namespaces out of scope, pods that pin a capacity type
// or require node labels Ballast's NodePools may not have, and pods of no workload pass
// unchanged; pods that pin Spot and DaemonSet pods get the Spot toleration only.
func TestWebhookLeavesPodsAlone(t *testing.T) {
	ns, rs := fixture(t, "alone", 3, 1, 0)
	notOptedIn, rsOut := fixture(t, "alone", 3, 1, 0, map[string]string{})
	p := newPlacer(t, "alone")
	owned := func(kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: "u", Controller: ptr.To(true)}}
	}
	requires := func(e corev1.NodeSelectorRequirement) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{e}}},
		}}}
	}
	for _, tc := range []struct {
		name string
		pod  corev1.Pod
	}{
		{"system namespace", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "x", OwnerReferences: owned("ReplicaSet", rs.Name)}}},
		{"namespace not opted in", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: notOptedIn, Name: "x", OwnerReferences: owned("ReplicaSet", rsOut.Name)}}},
		{"pinned on-demand", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x", OwnerReferences: owned("ReplicaSet", rs.Name)},
			Spec: corev1.PodSpec{NodeSelector: map[string]string{"karpenter.sh/capacity-type": "on-demand"}}}},
		{"pinned on-demand by affinity", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x", OwnerReferences: owned("ReplicaSet", rs.Name)},
			Spec: corev1.PodSpec{Affinity: requires(corev1.NodeSelectorRequirement{Key: "karpenter.sh/capacity-type", Operator: corev1.NodeSelectorOpIn, Values: []string{"on-demand"}})}}},
		// Karpenter's own chart keeps its pods off Karpenter's nodes.
		{"Karpenter's affinity", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x", OwnerReferences: owned("ReplicaSet", rs.Name)},
			Spec: corev1.PodSpec{Affinity: requires(corev1.NodeSelectorRequirement{Key: "karpenter.sh/nodepool", Operator: corev1.NodeSelectorOpDoesNotExist})}}},
		{"a node group", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x", OwnerReferences: owned("ReplicaSet", rs.Name)},
			Spec: corev1.PodSpec{NodeSelector: map[string]string{"eks.amazonaws.com/nodegroup": "system"}}}},
		{"bare pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x"}}},
		{"pinned spot that tolerates everything", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x", OwnerReferences: owned("ReplicaSet", rs.Name)},
			Spec: corev1.PodSpec{NodeSelector: map[string]string{"karpenter.sh/capacity-type": "spot"}, Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp := handle(t, p, &tc.pod); len(resp.Patches) != 0 {
				t.Fatalf("pod was changed: %v", resp.Patches)
			}
		})
	}
	onlyToleration := func(t *testing.T, pod corev1.Pod) {
		t.Helper()
		resp := handle(t, p, &pod)
		if len(resp.Patches) != 1 || resp.Patches[0].Path != "/spec/tolerations" {
			t.Fatalf("want only the Spot toleration, got %v", resp.Patches)
		}
	}
	t.Run("daemonset pod", func(t *testing.T) {
		onlyToleration(t, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agent", OwnerReferences: owned("DaemonSet", "agent")}})
	})
	// Karpenter's published Spot example pins Spot with a node selector.
	t.Run("pinned spot", func(t *testing.T) {
		onlyToleration(t, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x", OwnerReferences: owned("ReplicaSet", rs.Name)},
			Spec: corev1.PodSpec{NodeSelector: map[string]string{"karpenter.sh/capacity-type": "spot"}}})
	})
	t.Run("pinned spot or on-demand by affinity", func(t *testing.T) {
		onlyToleration(t, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x", OwnerReferences: owned("ReplicaSet", rs.Name)},
			Spec: corev1.PodSpec{Affinity: requires(corev1.NodeSelectorRequirement{Key: "karpenter.sh/capacity-type", Operator: corev1.NodeSelectorOpIn, Values: []string{"spot", "on-demand"}})}})
	})
	t.Run("missing workload never blocks", func(t *testing.T) {
		pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x", OwnerReferences: owned("ReplicaSet", "gone")}}
		if resp := handle(t, p, &pod); len(resp.Patches) != 0 {
			t.Fatalf("pod was changed: %v", resp.Patches)
		}
	})
}

// TestWebhookPlacement: a placed pod carries the node selector, label, reason,
// reservation and (for Spot) the toleration.
func TestWebhookPlacement(t *testing.T) {
	ns, rs := fixture(t, "place", 3, 1, 0) // 1 On-Demand (base), 2 Spot
	p := newPlacer(t, "place")
	want := []string{"on-demand", "spot", "spot"}
	for i, w := range want {
		if got := admit(t, p, ns, rs); got != w {
			t.Fatalf("pod %d placed on %q, want %q", i, got, w)
		}
	}
}

// behind is a client whose cache has not caught up yet: it does not hold the objects
// hidden names (reads say NotFound, lists leave them out).
type behind struct {
	client.Client
	hidden map[string]bool
}

func (b behind) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if b.hidden[key.Name] {
		return apierrors.NewNotFound(schema.GroupResource{}, key.Name)
	}
	return b.Client.Get(ctx, key, obj, opts...)
}

func (b behind) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := b.Client.List(ctx, list, opts...); err != nil {
		return err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return err
	}
	kept := items[:0]
	for _, o := range items {
		if m, err := meta.Accessor(o); err == nil && !b.hidden[m.GetName()] {
			kept = append(kept, o)
		}
	}
	return meta.SetList(list, kept)
}

// TestWebhookPlacesWhatTheCacheHasNotSeen: the first pods of a new ReplicaSet (in a
// namespace just created) are admitted milliseconds after it, before the webhook's
// cache holds either; they are placed all the same (read from the API server), not
// admitted unplaced.
func TestWebhookPlacesWhatTheCacheHasNotSeen(t *testing.T) {
	ns, rs := fixture(t, "behind", 3, 1, 0) // 1 On-Demand (base), 2 Spot
	p := newPlacer(t, "behind")
	p.Client = behind{Client: p.Client, hidden: map[string]bool{ns: true, rs.Name: true}}
	want := []string{"on-demand", "spot", "spot"}
	for i, w := range want {
		if got := admit(t, p, ns, rs); got != w {
			t.Fatalf("pod %d placed on %q, want %q", i, got, w)
		}
	}
}

// TestWebhookPlacesJobs: a Job's pods are split like a workload whose replica count is
// the Job's parallelism (the example's batch-workers rule selects Jobs).
func TestWebhookPlacesJobs(t *testing.T) {
	ns, _ := fixture(t, "jobs", 1, 1, 0) // the namespace's rule: base 1, 0%, All
	ctx := context.Background()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crunch", Labels: map[string]string{"ballast.dev/tier": "worker"}},
		Spec: batchv1.JobSpec{Parallelism: ptr.To[int32](4), Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		}},
	}
	if err := env.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	p := newPlacer(t, "jobs")
	var got []string
	for range 4 {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "crunch-", Labels: job.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: ptr.To(true)}}},
			Spec: job.Spec.Template.Spec}
		got = append(got, capacityFromPatch(t, handle(t, p, pod)))
	}
	if want := []string{"on-demand", "spot", "spot", "spot"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Job pods placed %v, want %v", got, want)
	}
}

// TestDryRunWritesNoLedger: a dry-run admission is placed like a real one and leaves
// no reservation behind (the webhook declares sideEffects: NoneOnDryRun).
func TestDryRunWritesNoLedger(t *testing.T) {
	ns, rs := fixture(t, "dry", 3, 1, 0)
	p := newPlacer(t, "dry")
	for range 3 {
		// Nothing is reserved, so every dry run sees the empty workload: the base replica.
		if got := dryRun(t, p, ns, rs); got != "on-demand" {
			t.Fatalf("dry run placed %q, want on-demand", got)
		}
	}
	var leases coordinationv1.LeaseList
	if err := env.Client.List(context.Background(), &leases, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(leases.Items) != 0 {
		t.Fatalf("dry runs wrote %d ledgers", len(leases.Items))
	}
}

// TestDaemonSetTemplateTolerates: a DaemonSet in scope gets the Spot toleration on its
// pod template (the DaemonSet controller decides per node from the template); one out
// of scope, or one that tolerates everything, is left alone.
func TestDaemonSetTemplateTolerates(t *testing.T) {
	ns, _ := fixture(t, "ds", 1, 1, 0)
	out, _ := fixture(t, "ds", 1, 1, 0, map[string]string{})
	d := &distribution.DaemonSetTolerator{Client: env.Client, Scope: scope.Scope{Own: "ballast-system"}}
	ds := func(namespace string, tolerations ...corev1.Toleration) appsv1.DaemonSet {
		return appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "agent"}, Spec: appsv1.DaemonSetSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Tolerations: tolerations, Containers: []corev1.Container{{Name: "c", Image: "i"}}}},
		}}
	}
	admitDS := func(obj appsv1.DaemonSet, op admissionv1.Operation) admission.Response {
		raw, err := json.Marshal(&obj)
		if err != nil {
			t.Fatal(err)
		}
		return d.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			UID: uuid.NewUUID(), Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"},
			Namespace: obj.Namespace, Operation: op, Object: runtime.RawExtension{Raw: raw},
		}})
	}
	for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update} {
		resp := admitDS(ds(ns), op)
		if len(resp.Patches) != 1 || resp.Patches[0].Path != "/spec/template/spec/tolerations" {
			t.Fatalf("%s: want the Spot toleration on the template, got %v", op, resp.Patches)
		}
	}
	if resp := admitDS(ds(out), admissionv1.Create); len(resp.Patches) != 0 {
		t.Fatalf("a DaemonSet out of scope was changed: %v", resp.Patches)
	}
	if resp := admitDS(ds(ns, corev1.Toleration{Operator: corev1.TolerationOpExists}), admissionv1.Create); len(resp.Patches) != 0 {
		t.Fatalf("a DaemonSet that tolerates every taint was changed: %v", resp.Patches)
	}
	// A cache that has not seen the namespace's opt-in label yet (the namespace was
	// labelled a moment ago): the API server is asked, and the toleration added.
	d.Client = staleNamespaces{Client: env.Client}
	if resp := admitDS(ds(ns), admissionv1.Create); len(resp.Patches) != 0 {
		t.Fatalf("the stale cache alone put the namespace in scope: %v", resp.Patches)
	}
	d.API = env.Client
	if resp := admitDS(ds(ns), admissionv1.Create); len(resp.Patches) != 1 {
		t.Fatalf("a DaemonSet admitted while the cache lagged got no toleration: %v", resp.Patches)
	}
	if resp := admitDS(ds(out), admissionv1.Create); len(resp.Patches) != 0 {
		t.Fatalf("a DaemonSet out of scope was changed after asking the API server: %v", resp.Patches)
	}
}

// staleNamespaces reads namespaces as a cache that has not seen their labels yet.
type staleNamespaces struct{ client.Client }

func (s staleNamespaces) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := s.Client.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	if ns, ok := obj.(*corev1.Namespace); ok {
		ns.Labels = nil
	}
	return nil
}

// TestDepartingPodIsReplacedInItsClass: a Deployment at 50% runs 2 On-Demand and 2
// Spot replicas; one Spot replica is recorded as departing (evicted, or deleted to be
// replaced) but a cache still shows it. Its replacement takes its place on Spot rather
// than surging beside it On-Demand; once the record is withdrawn (the eviction was
// refused), the same admission is a surge again. Both ways of observing the pods are
// checked: a list of them, and the PodIndex kept from the informer's events.
func TestDepartingPodIsReplacedInItsClass(t *testing.T) {
	for _, observer := range []string{"list", "index"} {
		t.Run(observer, func(t *testing.T) {
			ns, rs := fixture(t, "depart", 4, 0, 50)
			p := newPlacer(t, "depart")
			if observer == "index" {
				p = cachedPlacer(t, "depart")
			}
			ctx := context.Background()
			var spotPod *corev1.Pod
			for i, capacity := range []string{"on-demand", "on-demand", "spot", "spot"} {
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("web-1-%d", i), Labels: map[string]string{"app": "web", v1alpha1.CapacityLabel: capacity},
						OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
				}
				if err := env.Client.Create(ctx, pod); err != nil {
					t.Fatal(err)
				}
				spotPod = pod
			}
			if p.Index != nil {
				poll(t, "the index to count the pods", func() (bool, error) {
					return p.Index.Owned(rs.UID) == split.Counts{OnDemand: 2, Spot: 2}, nil
				})
			}
			w, err := distribution.WorkloadOf(ctx, env.Client, spotPod)
			if err != nil || w == nil {
				t.Fatalf("no workload for the pod: %v", err)
			}
			if err := distribution.Depart(ctx, p.API, w, podstore.FromPod(spotPod), false); err != nil {
				t.Fatal(err)
			}
			if got := dryRun(t, p, ns, rs); got != "spot" {
				t.Fatalf("the replacement of a departing Spot replica was placed %q, want spot", got)
			}
			if err := distribution.Depart(ctx, p.API, w, podstore.FromPod(spotPod), true); err != nil {
				t.Fatal(err)
			}
			if got := dryRun(t, p, ns, rs); got != "on-demand" {
				t.Fatalf("with the departure withdrawn, a fifth pod of four (2/2) was placed %q, want on-demand (a surge tie)", got)
			}
		})
	}
}

// cachedPlacer is a webhook replica as the manager runs it: reads from an informer
// cache, the workloads' pods from the PodIndex, ledgers straight from the API server.
func cachedPlacer(t testing.TB, cluster string) *distribution.Placer {
	t.Helper()
	reader, index := cachedClient(t)
	return &distribution.Placer{Client: reader, API: uncachedClient(t), Cluster: cluster, Timeout: 20 * time.Second,
		Scope: scope.Scope{Own: "ballast-system"}, Index: index}
}

// handKeptPool is a NodePool kept beside Ballast's by hand, removed when the test ends
// (NodePools are cluster-wide, shared by every test of the suite).
func handKeptPool(t *testing.T, name string, labels map[string]string, taints []corev1.Taint, capacityTypes ...string) {
	t.Helper()
	np := &karpv1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: karpv1.NodePoolSpec{Template: karpv1.NodeClaimTemplate{
			ObjectMeta: karpv1.ObjectMeta{Labels: labels},
			Spec: karpv1.NodeClaimTemplateSpec{
				Requirements: []karpv1.NodeSelectorRequirementWithMinValues{{Key: karpv1.CapacityTypeLabelKey, Operator: corev1.NodeSelectorOpIn, Values: capacityTypes}},
				Taints:       taints,
				NodeClassRef: &karpv1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "default"},
			},
		}},
	}
	if err := env.Client.Create(context.Background(), np); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), np) })
}

// reasonFromPatch returns the ballast.dev/reason the webhook wrote, or "".
func reasonFromPatch(t *testing.T, resp admission.Response) string {
	t.Helper()
	return patchedMember(t, resp, "/metadata/annotations", distribution.ReasonAnnotation)
}

// TestWebhookIsPoolAware: beside Ballast's NodePools the cluster has pools kept by hand:
// an On-Demand-only GPU pool and a team pool (both tainted), and an untainted Spot-only
// batch pool. Pods that target nothing special keep the exact split; pods that can land
// only on the hand-kept pools are not changed at all; pods that can land on Ballast's
// pools and on hand-kept ones get only a capacity type one of those pools offers (each
// pod counted as what it got, so every pod the split meant for the other type says
// override).
func TestWebhookIsPoolAware(t *testing.T) {
	const cluster = "pools"
	handKeptPool(t, "e2e-gpu", map[string]string{"ballast.dev/e2e-gpu": "true"},
		[]corev1.Taint{{Key: "nvidia.com/gpu", Effect: corev1.TaintEffectNoSchedule}}, karpv1.CapacityTypeOnDemand)
	handKeptPool(t, "e2e-team", map[string]string{"team": "ml"},
		[]corev1.Taint{{Key: "team", Value: "ml", Effect: corev1.TaintEffectNoSchedule}}, karpv1.CapacityTypeSpot, karpv1.CapacityTypeOnDemand)
	handKeptPool(t, "e2e-batch", map[string]string{"ballast.dev/e2e-batch": "true"}, nil, karpv1.CapacityTypeSpot)
	// A pool of spec.nodePools with split: true (as render labels it): Ballast's.
	handKeptPool(t, "e2e-data", map[string]string{"team": "data"},
		[]corev1.Taint{{Key: "team", Value: "data", Effect: corev1.TaintEffectNoSchedule}}, karpv1.CapacityTypeSpot, karpv1.CapacityTypeOnDemand)
	var split karpv1.NodePool
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "e2e-data"}, &split); err != nil {
		t.Fatal(err)
	}
	split.Labels = map[string]string{v1alpha1.ClusterLabel: cluster, v1alpha1.SplitLabel: "true"}
	if err := env.Client.Update(context.Background(), &split); err != nil {
		t.Fatal(err)
	}
	p := newPlacer(t, cluster)
	gpu := []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	pools := func(names ...string) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: karpv1.NodePoolLabelKey, Operator: corev1.NodeSelectorOpIn, Values: names}}}},
		}}}
	}
	// admitAll admits n pods of a new workload (base 1, 0% On-Demand: 1 On-Demand, the
	// rest Spot) with the spec changed by shape, and returns the capacity and reason of
	// each ("" when the pod was left alone).
	admitAll := func(t *testing.T, n int32, shape func(*corev1.PodSpec)) (capacities, reasons []string) {
		t.Helper()
		ns, rs := fixture(t, cluster, n, 1, 0)
		for range n {
			pod := replicaSetPod(ns, rs)
			shape(&pod.Spec)
			resp := handle(t, p, pod)
			capacities = append(capacities, capacityFromPatch(t, resp))
			reasons = append(reasons, reasonFromPatch(t, resp))
			if capacityFromPatch(t, resp) == "" && len(resp.Patches) != 0 {
				t.Fatalf("a pod left unplaced was changed: %v", resp.Patches)
			}
		}
		return capacities, reasons
	}
	leftAlone := func(reason string) float64 { return testutil.ToFloat64(metrics.LeftAlone.WithLabelValues(reason)) }
	unmanaged, none := leftAlone(distribution.LeftAloneUnmanagedPool), leftAlone(distribution.LeftAloneNoNodePool)
	for _, tc := range []struct {
		name          string
		shape         func(*corev1.PodSpec)
		want, wantWhy []string
	}{
		{"nothing special: the exact split", func(*corev1.PodSpec) {},
			[]string{"on-demand", "spot", "spot", "spot"}, []string{"base", "split", "split", "split"}},
		{"tolerates the GPU taint only: the exact split", func(s *corev1.PodSpec) { s.Tolerations = gpu },
			[]string{"on-demand", "spot", "spot", "spot"}, []string{"base", "split", "split", "split"}},
		{"the GPU pool: left alone", func(s *corev1.PodSpec) {
			s.NodeSelector = map[string]string{"ballast.dev/e2e-gpu": "true"}
			s.Tolerations = gpu
		}, []string{"", "", "", ""}, []string{"", "", "", ""}},
		{"the GPU pool without its toleration (no pool): left alone", func(s *corev1.PodSpec) {
			s.NodeSelector = map[string]string{"ballast.dev/e2e-gpu": "true"}
		}, []string{"", "", "", ""}, []string{"", "", "", ""}},
		{"the team pool (Spot and On-Demand): left alone", func(s *corev1.PodSpec) {
			s.NodeSelector = map[string]string{"team": "ml"}
			s.Tolerations = []corev1.Toleration{{Key: "team", Operator: corev1.TolerationOpEqual, Value: "ml", Effect: corev1.TaintEffectNoSchedule}}
		}, []string{"", "", "", ""}, []string{"", "", "", ""}},
		{"a pool the split applies to: the exact split", func(s *corev1.PodSpec) {
			s.NodeSelector = map[string]string{"team": "data"}
			s.Tolerations = []corev1.Toleration{{Key: "team", Operator: corev1.TolerationOpEqual, Value: "data", Effect: corev1.TaintEffectNoSchedule}}
		}, []string{"on-demand", "spot", "spot", "spot"}, []string{"base", "split", "split", "split"}},
		{"the Spot-only batch pool: left alone", func(s *corev1.PodSpec) {
			s.Affinity = pools("e2e-batch")
		}, []string{"", "", "", ""}, []string{"", "", "", ""}},
		// Ballast's Spot toleration would be of no use there.
		{"the team pool, choosing Spot itself: left alone", func(s *corev1.PodSpec) {
			s.NodeSelector = map[string]string{"team": "ml", karpv1.CapacityTypeLabelKey: karpv1.CapacityTypeSpot}
			s.Tolerations = []corev1.Toleration{{Key: "team", Operator: corev1.TolerationOpExists}}
		}, []string{"", "", "", ""}, []string{"", "", "", ""}},
		{"the GPU pool or Ballast's On-Demand pool: never Spot", func(s *corev1.PodSpec) {
			s.Affinity = pools("e2e-gpu", render.NodePoolName(cluster, "on-demand"), render.NodePoolName(cluster, "spot"))
			s.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions = append(
				s.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions,
				corev1.NodeSelectorRequirement{Key: karpv1.NodePoolLabelKey, Operator: corev1.NodeSelectorOpNotIn, Values: []string{render.NodePoolName(cluster, "spot")}})
			s.Tolerations = gpu
		}, []string{"on-demand", "on-demand", "on-demand", "on-demand"}, []string{"base", "override", "override", "override"}},
		{"the batch pool or Ballast's Spot pool: never On-Demand", func(s *corev1.PodSpec) {
			s.Affinity = pools("e2e-batch", render.NodePoolName(cluster, "spot"))
		}, []string{"spot", "spot", "spot", "spot"}, []string{"override", "override", "override", "override"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := admitAll(t, 4, tc.shape)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || fmt.Sprint(why) != fmt.Sprint(tc.wantWhy) {
				t.Fatalf("placed %v for %v, want %v for %v", got, why, tc.want, tc.wantWhy)
			}
		})
	}
	// The GPU, team and batch pods (4 each) can land only on hand-kept pools; the GPU
	// pods that do not tolerate its taint on none.
	if d := leftAlone(distribution.LeftAloneUnmanagedPool) - unmanaged; d != 12 {
		t.Errorf("ballast_placements_left_alone_total{reason=unmanaged-pool} grew by %v, want 12", d)
	}
	if d := leftAlone(distribution.LeftAloneNoNodePool) - none; d != 4 {
		t.Errorf("ballast_placements_left_alone_total{reason=no-nodepool} grew by %v, want 4", d)
	}
}
