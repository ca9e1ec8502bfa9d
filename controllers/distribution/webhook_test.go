package distribution_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ballast-dev/ballast/controllers/distribution"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// fixture creates a namespace, the cluster's ClusterPolicy (once), a rule, and a
// Deployment with its ReplicaSet in the real API server (no controllers run in
// envtest, so nothing creates pods: admissions are the only writers).
func fixture(t testing.TB, cluster string, replicas int32, base, percent int32, nsLabels ...map[string]string) (ns string, rs *appsv1.ReplicaSet) {
	t.Helper()
	ctx := context.Background()
	c := env.Client
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "dist-"}}
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

func isAlreadyExists(err error) bool { return err != nil && client.IgnoreAlreadyExists(err) == nil }

// admit sends a pod of the ReplicaSet through the webhook and returns the capacity it
// was placed on ("" when the pod was left alone).
func admit(t *testing.T, p *distribution.Placer, ns string, rs *appsv1.ReplicaSet) string {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "web-1-", Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}
	resp := handle(t, p, pod)
	return capacityFromPatch(t, resp)
}

func handle(t *testing.T, p *distribution.Placer, pod *corev1.Pod) admission.Response {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	resp := p.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: uuid.NewUUID(), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Namespace: pod.Namespace, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
	}})
	if !resp.Allowed {
		t.Fatalf("the webhook refused a pod: %+v", resp.Result)
	}
	return resp
}

func capacityFromPatch(t *testing.T, resp admission.Response) string {
	t.Helper()
	for _, op := range resp.Patches {
		if op.Path == "/spec/nodeSelector" {
			if m, ok := op.Value.(map[string]any); ok {
				return fmt.Sprint(m["karpenter.sh/capacity-type"])
			}
		}
		if op.Path == "/spec/nodeSelector/karpenter.sh~1capacity-type" {
			return fmt.Sprint(op.Value)
		}
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
	return &distribution.Placer{Client: c, API: c, Cluster: cluster, Timeout: 20 * time.Second}
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

// TestWebhookLeavesPodsAlone: system namespaces, pods that pin a capacity type and pods
// of no Deployment or StatefulSet pass unchanged; DaemonSet pods get the Spot
// toleration only.
func TestWebhookLeavesPodsAlone(t *testing.T) {
	ns, rs := fixture(t, "alone", 3, 1, 0)
	p := newPlacer(t, "alone")
	owned := func(kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: "u", Controller: ptr.To(true)}}
	}
	for _, tc := range []struct {
		name string
		pod  corev1.Pod
	}{
		{"system namespace", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "x", OwnerReferences: owned("ReplicaSet", rs.Name)}}},
		{"pinned capacity", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x", OwnerReferences: owned("ReplicaSet", rs.Name)},
			Spec: corev1.PodSpec{NodeSelector: map[string]string{"karpenter.sh/capacity-type": "on-demand"}}}},
		{"bare pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x"}}},
		{"job pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x", OwnerReferences: owned("Job", "j")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp := handle(t, p, &tc.pod); len(resp.Patches) != 0 {
				t.Fatalf("pod was changed: %v", resp.Patches)
			}
		})
	}
	t.Run("daemonset pod", func(t *testing.T) {
		pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agent", OwnerReferences: owned("DaemonSet", "agent")}}
		resp := handle(t, p, &pod)
		if len(resp.Patches) != 1 || resp.Patches[0].Path != "/spec/tolerations" {
			t.Fatalf("want only the Spot toleration, got %v", resp.Patches)
		}
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
