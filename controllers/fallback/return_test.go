package fallback_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ballast-dev/ballast/controllers/distribution"
	"github.com/ballast-dev/ballast/controllers/fallback"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
)

// bench is one cluster in its own names, read by the controller through a cache with
// the pod index it needs, on a clock the test steps.
type bench struct {
	t       *testing.T
	cluster string
	cached  client.Client
	now     time.Time
	rec     *events.FakeRecorder
	r       *fallback.Reconciler
	rs      *appsv1.ReplicaSet
	created time.Time
}

func newBench(t *testing.T, name string, spec v1alpha1.ClusterPolicySpec) *bench {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, err := cache.New(env.Config, cache.Options{Scheme: controlplane.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := podstore.ForManager(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := pods.AddIndex(fallback.RoleIndex, fallback.IndexRole); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	cached, err := client.New(env.Config, client.Options{Scheme: controlplane.Scheme, Cache: &client.CacheOptions{Reader: c}})
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{t: t, cluster: name, cached: cached, now: time.Now().UTC().Truncate(time.Second), rec: events.NewFakeRecorder(100)}
	b.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled}}})
	spec.Cluster = v1alpha1.ClusterIdentity{Name: name, Region: "us-east-1"}
	spec.NodeClass = v1alpha1.NodeClassSpec{Role: "r"}
	policy := &v1alpha1.ClusterPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	b.create(policy)
	// Fallen back an hour ago; the return is due.
	policy.Status.Fallback = &v1alpha1.FallbackStatus{State: v1alpha1.FallbackFallenBack,
		FallenBackSince: &metav1.Time{Time: b.now.Add(-time.Hour)}, NextReturnAttempt: &metav1.Time{Time: b.now.Add(-time.Minute)}}
	if err := env.Client.Status().Update(ctx, policy); err != nil {
		t.Fatal(err)
	}
	b.rs = &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "web"}, Spec: appsv1.ReplicaSetSpec{
		Replicas: ptr.To[int32](10), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}}}
	b.create(b.rs)
	b.r = &fallback.Reconciler{Client: cached, Pods: pods, Recorder: b.rec, Cluster: name, Now: func() time.Time { return b.now }}
	return b
}

func (b *bench) create(o client.Object) {
	b.t.Helper()
	if err := env.Client.Create(context.Background(), o); err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o, client.GracePeriodSeconds(0)) })
}

// node creates an On-Demand node of the instance type.
func (b *bench) node(name, instanceType string) {
	b.create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: b.cluster + "-" + name, Labels: map[string]string{
		corev1.LabelInstanceTypeStable: instanceType, "karpenter.sh/capacity-type": "on-demand",
		"karpenter.sh/nodepool": "ballast-" + b.cluster + "-on-demand"}}})
}

// pod creates a running pod of the ReplicaSet on node, placed for reason (fallback,
// base...), each pod a second younger than the last.
func (b *bench) pod(name, node, reason string) {
	b.t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: b.cluster, Name: name, Labels: map[string]string{"app": "web", v1alpha1.CapacityLabel: v1alpha1.CapacityOnDemand},
		Annotations:     map[string]string{"ballast.dev/reason": reason},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: b.rs.UID, Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{NodeName: b.cluster + "-" + node, Containers: []corev1.Container{{Name: "c", Image: "x",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}}}
	b.create(p)
	p.Status.Phase = corev1.PodRunning
	if err := env.Client.Status().Update(context.Background(), p); err != nil {
		b.t.Fatal(err)
	}
	// Creation timestamps have a resolution of a second: keep the order apart.
	time.Sleep(time.Until(b.created.Add(1100 * time.Millisecond)))
	b.created = time.Now()
}

// evicted lists the pods the Eviction API took, sorted (envtest runs no kubelet: an
// evicted pod stays, terminating).
func (b *bench) evicted() []string {
	var pods corev1.PodList
	if err := env.Client.List(context.Background(), &pods, client.InNamespace(b.cluster)); err != nil {
		b.t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			out = append(out, p.Name)
		}
	}
	slices.Sort(out)
	return out
}

// pass steps the clock and runs a pass once the cache holds what the last one did:
// the pods evicted so far and the fallback state.
func (b *bench) pass(step time.Duration) *v1alpha1.FallbackStatus {
	b.t.Helper()
	ctx := context.Background()
	want := len(b.evicted())
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pods corev1.PodList
		var p v1alpha1.ClusterPolicy
		if err := b.cached.List(ctx, &pods, client.InNamespace(b.cluster)); err != nil {
			b.t.Fatal(err)
		}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: b.cluster}, &p); err != nil {
			b.t.Fatal(err)
		}
		var cp v1alpha1.ClusterPolicy
		if err := b.cached.Get(ctx, client.ObjectKey{Name: b.cluster}, &cp); err != nil {
			b.t.Fatal(err)
		}
		gone := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				gone++
			}
		}
		if gone == want && cp.ResourceVersion == p.ResourceVersion {
			break
		}
		if time.Now().After(deadline) {
			b.t.Fatal("the cache did not catch up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.now = b.now.Add(step)
	if _, err := b.r.Reconcile(ctx, reconcile.Request{}); err != nil {
		b.t.Fatal(err)
	}
	var p v1alpha1.ClusterPolicy
	if err := env.Client.Get(ctx, client.ObjectKey{Name: b.cluster}, &p); err != nil {
		b.t.Fatal(err)
	}
	return p.Status.Fallback
}

func (b *bench) events() []string {
	var out []string
	for {
		select {
		case e := <-b.rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// TestReturnKeepsCommitmentsUsed: 2 reserved m5.large; node busy (m5.large) runs a
// base replica, node a (m5.large) two fallback replicas, node b (c5.large, no
// commitment) two younger ones. The return moves b's replicas first although a's are
// older, then the older of a's; the newest stays, since a covers the second reservation
// and nothing else keeps it busy; the return ends with it On-Demand, and the status and
// events say why. With one reservation left, a covers nothing any more and the replica
// left on fallback returns too.
func TestReturnKeepsCommitmentsUsed(t *testing.T) {
	b := newBench(t, "fb-keep", v1alpha1.ClusterPolicySpec{
		Commitments: &v1alpha1.CommitmentsSpec{Enabled: true, Source: v1alpha1.CommitmentsFromGit,
			ReservedInstances: []v1alpha1.ReservedInstance{{InstanceType: "m5.large", Count: 2}}},
		BinPacking: v1alpha1.BinPackingSpec{PodEviction: &v1alpha1.PodEvictionSpec{MaxEvictionsPerPass: ptr.To[int32](2)}},
	})
	b.node("busy", "m5.large")
	b.node("a", "m5.large")
	b.node("b", "c5.large")
	b.pod("base", "busy", "base")
	b.pod("a1", "a", "fallback")
	b.pod("a2", "a", "fallback")
	b.pod("b1", "b", "fallback")
	b.pod("b2", "b", "fallback")

	st := b.pass(0)
	if got := b.evicted(); !slices.Equal(got, []string{"b1", "b2"}) || st.State != v1alpha1.FallbackReturning {
		t.Fatalf("first pass: evicted %v, state %s (%s); want b's replicas, returning", got, st.State, st.Message)
	}
	st = b.pass(11 * time.Second)
	if got := b.evicted(); !slices.Equal(got, []string{"a1", "b1", "b2"}) {
		t.Fatalf("second pass: evicted %v, want a1 too and a2 kept: %s", got, st.Message)
	}
	st = b.pass(11 * time.Second)
	if got := b.evicted(); len(got) != 3 || st.State != v1alpha1.FallbackAvailable || st.Replicas != 1 ||
		!strings.Contains(st.Message, "1 fallback replicas stay On-Demand") {
		t.Fatalf("third pass: evicted %v, status %s with %d replicas (%s); want available, a2 kept", got, st.State, st.Replicas, st.Message)
	}
	var batch, returned []string
	for _, e := range b.events() {
		switch {
		case strings.Contains(e, fallback.ReturnBatchReason):
			batch = append(batch, e)
		case strings.HasPrefix(e, "Normal "+fallback.ReturnedReason+" every fallback replica"):
			returned = append(returned, e)
		}
	}
	if len(batch) != 2 || !strings.Contains(batch[1], "1 stay On-Demand, each the last workload pod of a node that covers a commitment (fb-keep/a2)") {
		t.Errorf("return events %q", batch)
	}
	if len(returned) != 1 || !strings.Contains(returned[0], "but 1 that keep nodes covering a commitment busy") {
		t.Errorf("returned events %q", returned)
	}
	// Steady: a2 stays.
	if st = b.pass(time.Minute); st.State != v1alpha1.FallbackAvailable || len(b.evicted()) != 3 {
		t.Fatalf("steady: %s, evicted %v", st.State, b.evicted())
	}

	// One reservation left: busy covers it, a covers nothing; a2 goes back too.
	var p v1alpha1.ClusterPolicy
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: b.cluster}, &p); err != nil {
		t.Fatal(err)
	}
	p.Spec.Commitments.ReservedInstances[0].Count = 1
	if err := env.Client.Update(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
	st = b.pass(time.Minute)
	if got := b.evicted(); len(got) != 4 || st.State != v1alpha1.FallbackReturning {
		t.Fatalf("a covers nothing any more: evicted %v, state %s (%s); want a2 returned", got, st.State, st.Message)
	}
	if st = b.pass(11 * time.Second); st.State != v1alpha1.FallbackAvailable || st.Replicas != 0 {
		t.Fatalf("after the last return: %s with %d replicas (%s)", st.State, st.Replicas, st.Message)
	}
	var base corev1.Pod
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: b.cluster, Name: "base"}, &base); err != nil || base.DeletionTimestamp != nil {
		t.Errorf("the base replica was touched: %v", err)
	}
}

// TestReturnWithoutCommitments: every fallback replica returns, oldest first.
func TestReturnWithoutCommitments(t *testing.T) {
	b := newBench(t, "fb-plain", v1alpha1.ClusterPolicySpec{
		BinPacking: v1alpha1.BinPackingSpec{PodEviction: &v1alpha1.PodEvictionSpec{MaxEvictionsPerPass: ptr.To[int32](1)}},
	})
	b.node("a", "m5.large")
	b.pod("a1", "a", "fallback")
	b.pod("a2", "a", "fallback")
	for i, want := range [][]string{{"a1"}, {"a1", "a2"}} {
		st := b.pass(11 * time.Second)
		if got := b.evicted(); !slices.Equal(got, want) {
			t.Fatalf("pass %d: evicted %v, want %v (%s)", i+1, got, want, st.Message)
		}
	}
	if st := b.pass(11 * time.Second); st.State != v1alpha1.FallbackAvailable || st.Replicas != 0 {
		t.Fatalf("status %s with %d replicas: %s", st.State, st.Replicas, st.Message)
	}
}

// TestNoReturnWhileTheWebhookIsNotPlacing: while the placement watch says Ballast's
// webhook is not placing pods, no fallback replica is evicted (its replacement would
// not be placed on Spot); once a placed pod shows the webhook works, the return goes on.
func TestNoReturnWhileTheWebhookIsNotPlacing(t *testing.T) {
	b := newBench(t, "fb-unplaced", v1alpha1.ClusterPolicySpec{
		BinPacking: v1alpha1.BinPackingSpec{PodEviction: &v1alpha1.PodEvictionSpec{MaxEvictionsPerPass: ptr.To[int32](1)}},
	})
	watch := distribution.NewPlacementWatch()
	watch.Restore(false, b.now.Add(-time.Minute), b.now)
	b.r.Placement = watch
	b.node("a", "m5.large")
	b.pod("a1", "a", "fallback")
	for range 3 {
		if st := b.pass(11 * time.Second); len(b.evicted()) != 0 {
			t.Fatalf("evicted %v while the webhook is not placing pods (%s)", b.evicted(), st.Message)
		}
	}
	placed := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "x", Name: "new",
		CreationTimestamp: metav1.NewTime(b.now), Annotations: map[string]string{distribution.ReasonAnnotation: "split"}}}
	if v := watch.Observe(podstore.Records(&placed)); !v.Changed {
		t.Fatalf("a placed pod did not end the pause: %+v", v)
	}
	if st := b.pass(11 * time.Second); !slices.Equal(b.evicted(), []string{"a1"}) {
		t.Fatalf("evicted %v after the webhook placed a pod, want a1 (%s)", b.evicted(), st.Message)
	}
}
