package distribution

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ballast-dev/ballast/controllers/internal/scope"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
)

// TestStatusOfManyWorkloadsSettles: 1,000 workloads under one rule, reconciled again
// and again, write the rule's status a bounded number of times: once the list of 200
// is settled, passes over unchanged workloads write nothing. The workloads whose split
// is not exact are listed before settled ones, and a deleted workload's entry goes.
func TestStatusOfManyWorkloadsSettles(t *testing.T) {
	const n, unsettled = 1000, 30
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled}}}
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "prod"},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:      v1alpha1.ClusterIdentity{Name: "prod", Region: "eu-west-1"},
			Distribution: v1alpha1.DistributionSpec{BaseOnDemand: ptr.To[int32](0), OnDemandPercent: ptr.To[int32](0), Selector: v1alpha1.All},
		},
	}
	rule := &v1alpha1.WorkloadDistributionRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "all"},
		Spec:       v1alpha1.WorkloadDistributionRuleSpec{BaseOnDemand: ptr.To[int32](0), OnDemandPercent: ptr.To[int32](50), Selector: v1alpha1.All},
	}
	objs := []client.Object{ns, policy, rule}
	var names []string
	for i := range n {
		name := fmt.Sprintf("app-%04d", i)
		names = append(names, name)
		labels := map[string]string{"app": name}
		// The last ones want replicas that do not run: their split is not exact.
		replicas := int32(0)
		if i >= n-unsettled {
			replicas = 2
		}
		objs = append(objs, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID(name)},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}}},
		})
	}
	writes := 0
	c := fake.NewClientBuilder().WithScheme(controlplane.Scheme).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.ClusterPolicy{}, &v1alpha1.WorkloadDistributionRule{}).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			writes++
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		}}).Build()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := &Reconciler{Client: c, Recorder: events.NewFakeRecorder(10), Kind: KindDeployment, Cluster: "prod",
		Scope: scope.Scope{Own: "ballast-system"}, Now: func() time.Time { now = now.Add(time.Second); return now }}
	ctx := context.Background()
	pass := func(order []string) int {
		before := writes
		for _, name := range order {
			if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "shop", Name: name}}); err != nil {
				t.Fatal(err)
			}
		}
		return writes - before
	}
	rng := rand.New(rand.NewPCG(1, 2))
	shuffled := func() []string {
		out := append([]string(nil), names...)
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	first := pass(shuffled())
	if first > n {
		t.Errorf("the first pass over %d workloads wrote the status %d times", n, first)
	}
	for i := range 3 {
		if w := pass(shuffled()); w != 0 {
			t.Fatalf("pass %d over unchanged workloads wrote the status %d times, want 0", i+2, w)
		}
	}
	var got v1alpha1.WorkloadDistributionRule
	if err := c.Get(ctx, client.ObjectKeyFromObject(rule), &got); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, e := range got.Status.Workloads {
		listed[e.Name] = true
	}
	if len(listed) != maxStatusWorkloads {
		t.Fatalf("%d workloads listed, want %d", len(listed), maxStatusWorkloads)
	}
	for i, name := range names {
		want := i < maxStatusWorkloads-unsettled || i >= n-unsettled
		if listed[name] != want {
			t.Fatalf("%s listed = %v, want %v (the %d not exact, then the first settled ones by name)", name, listed[name], want, unsettled)
		}
	}

	// A deleted workload's entry goes.
	if err := c.Delete(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: names[0]}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "shop", Name: names[0]}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(rule), &got); err != nil {
		t.Fatal(err)
	}
	for _, e := range got.Status.Workloads {
		if e.Name == names[0] {
			t.Fatalf("the deleted %s is still listed", names[0])
		}
	}
}
