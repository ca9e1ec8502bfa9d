package distribution

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
// manyWorkloads is n Deployments of namespace shop under one rule (the last unsettled
// of them want replicas that do not run), and a reconciler over a fake client that
// counts the status patches and fails the first failPatches of them.
type manyWorkloads struct {
	c      client.Client
	r      *Reconciler
	rule   *v1alpha1.WorkloadDistributionRule
	names  []string
	mu     sync.Mutex
	writes int
}

func newManyWorkloads(n, unsettled, failPatches int) *manyWorkloads {
	m := &manyWorkloads{}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled}}}
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "prod"},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:      v1alpha1.ClusterIdentity{Name: "prod", Region: "eu-west-1"},
			Distribution: v1alpha1.DistributionSpec{BaseOnDemand: ptr.To[int32](0), OnDemandPercent: ptr.To[int32](0), Selector: v1alpha1.All},
		},
	}
	m.rule = &v1alpha1.WorkloadDistributionRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "all"},
		Spec:       v1alpha1.WorkloadDistributionRuleSpec{BaseOnDemand: ptr.To[int32](0), OnDemandPercent: ptr.To[int32](50), Selector: v1alpha1.All},
	}
	objs := []client.Object{ns, policy, m.rule}
	for i := range n {
		name := fmt.Sprintf("app-%04d", i)
		m.names = append(m.names, name)
		labels := map[string]string{"app": name}
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
	m.c = fake.NewClientBuilder().WithScheme(controlplane.Scheme).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.ClusterPolicy{}, &v1alpha1.WorkloadDistributionRule{}).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			if failPatches > 0 {
				failPatches--
				return apierrors.NewServiceUnavailable("the API server is restarting")
			}
			m.writes++
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		}}).Build()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var clock sync.Mutex
	m.r = &Reconciler{Client: m.c, Recorder: events.NewFakeRecorder(10), Kind: KindDeployment, Cluster: "prod",
		Scope: scope.Scope{Own: "ballast-system"}, Now: func() time.Time {
			clock.Lock()
			defer clock.Unlock()
			now = now.Add(time.Second)
			return now
		}}
	return m
}

func (m *manyWorkloads) written() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes
}

// pass reconciles the workloads in order and returns the status writes it made.
func (m *manyWorkloads) pass(t *testing.T, order []string) int {
	t.Helper()
	before := m.written()
	for _, name := range order {
		if _, err := m.r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "shop", Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	return m.written() - before
}

// listed returns the workloads the rule's status lists.
func (m *manyWorkloads) listed(t *testing.T) map[string]bool {
	t.Helper()
	var got v1alpha1.WorkloadDistributionRule
	if err := m.c.Get(context.Background(), client.ObjectKeyFromObject(m.rule), &got); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range got.Status.Workloads {
		out[e.Name] = true
	}
	return out
}

// wantListed fails unless the rule lists the unsettled workloads, then the first
// settled ones by name, maxStatusWorkloads in all.
func (m *manyWorkloads) wantListed(t *testing.T, listed map[string]bool, unsettled int) {
	t.Helper()
	if len(listed) != maxStatusWorkloads {
		t.Fatalf("%d workloads listed, want %d", len(listed), maxStatusWorkloads)
	}
	n := len(m.names)
	for i, name := range m.names {
		want := i < maxStatusWorkloads-unsettled || i >= n-unsettled
		if listed[name] != want {
			t.Fatalf("%s listed = %v, want %v (the %d not exact, then the first settled ones by name)", name, listed[name], want, unsettled)
		}
	}
}

func TestStatusOfManyWorkloadsSettles(t *testing.T) {
	const n, unsettled = 1000, 30
	m := newManyWorkloads(n, unsettled, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	shuffled := func() []string {
		out := append([]string(nil), m.names...)
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	if first := m.pass(t, shuffled()); first > n {
		t.Errorf("the first pass over %d workloads wrote the status %d times", n, first)
	}
	for i := range 3 {
		if w := m.pass(t, shuffled()); w != 0 {
			t.Fatalf("pass %d over unchanged workloads wrote the status %d times, want 0", i+2, w)
		}
	}
	m.wantListed(t, m.listed(t), unsettled)

	// A deleted workload's entry goes.
	ctx := context.Background()
	if err := m.c.Delete(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: m.names[0]}}); err != nil {
		t.Fatal(err)
	}
	m.pass(t, m.names[:1])
	if m.listed(t)[m.names[0]] {
		t.Fatalf("the deleted %s is still listed", m.names[0])
	}
}

// runFlusher starts the reconciler's status flusher and returns its stop, which waits
// for the flusher's last write.
func runFlusher(t *testing.T, r *Reconciler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.RunStatusFlusher(ctx) }()
	for !r.statusBatch.flushing.Load() {
		time.Sleep(time.Millisecond)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestStatusWritesBatched: with the flusher running, a pass over 1,000 workloads
// writes the rule's status a few times at once (the limiter's burst) and the rest in
// one patch, and the status lists what writing each entry at once would have listed.
func TestStatusWritesBatched(t *testing.T) {
	const n, unsettled, burst = 1000, 30, 3
	m := newManyWorkloads(n, unsettled, 0)
	m.r.StatusInterval = time.Hour // only the flush at the end
	m.r.statusBatch.limiter = rate.NewLimiter(0, burst)
	stop := runFlusher(t, m.r)
	if w := m.pass(t, m.names); w != burst {
		t.Errorf("the pass wrote the status %d times at once, want %d (the burst)", w, burst)
	}
	stop()
	if w := m.written(); w != burst+1 {
		t.Errorf("%d status writes in all, want %d: the burst, then one for every waiting entry", w, burst+1)
	}
	m.wantListed(t, m.listed(t), unsettled)
}

// TestStatusBatchRetriesAndRemoves: entries whose write fails wait for the next flush,
// and a workload deleted while its entry waits is not listed once written. The
// flushes are made by hand, so that the pass has queued every entry before the first.
func TestStatusBatchRetriesAndRemoves(t *testing.T) {
	const n, unsettled = 300, 10
	m := newManyWorkloads(n, unsettled, 2)
	// As while the flusher runs, with nothing written at once.
	m.r.statusBatch.flushing.Store(true)
	m.r.statusBatch.limiter = rate.NewLimiter(0, 0)
	if w := m.pass(t, m.names); w != 0 {
		t.Fatalf("the pass wrote the status %d times, want every entry waiting", w)
	}
	// The first (unsettled) workload in name order that the status lists goes.
	gone := m.names[n-unsettled]
	ctx := context.Background()
	if err := m.c.Delete(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: gone}}); err != nil {
		t.Fatal(err)
	}
	m.pass(t, []string{gone})
	target := targetOf(m.rule)
	for i := range 2 {
		if err := m.r.flushStatus(ctx, target); err == nil {
			t.Fatalf("flush %d succeeded; the client fails the first two", i+1)
		}
		if listed := m.listed(t); len(listed) != 0 {
			t.Fatalf("a failed flush listed %d workloads", len(listed))
		}
	}
	if err := m.r.flushStatus(ctx, target); err != nil {
		t.Fatal(err)
	}
	if w := m.written(); w != 1 {
		t.Errorf("%d status writes, want 1: every waiting entry in one patch", w)
	}
	listed := m.listed(t)
	if len(listed) != maxStatusWorkloads {
		t.Fatalf("%d workloads listed, want %d", len(listed), maxStatusWorkloads)
	}
	for i, name := range m.names {
		want := name != gone && (i < maxStatusWorkloads-(unsettled-1) || i >= n-unsettled)
		if listed[name] != want {
			t.Fatalf("%s listed = %v, want %v", name, listed[name], want)
		}
	}
}

// sharingReader reads WorkloadDistributionRules as a cache does without deep copies
// (client.UnsafeDisableDeepCopy): what it returns shares its lists with an object it
// keeps, with a copy of that object as it was read.
type sharingReader struct {
	client.Client
	read, asRead []*v1alpha1.WorkloadDistributionRule
}

func (s *sharingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	rule, ok := obj.(*v1alpha1.WorkloadDistributionRule)
	if !ok {
		return s.Client.Get(ctx, key, obj, opts...)
	}
	kept := &v1alpha1.WorkloadDistributionRule{}
	if err := s.Client.Get(ctx, key, kept); err != nil {
		return err
	}
	s.read, s.asRead = append(s.read, kept), append(s.asRead, kept.DeepCopy())
	*rule = *kept
	return nil
}

// TestFlushLeavesWhatItReadAlone: the flush reads the rule or policy from the cache
// without a copy, so it must change the workloads list only by copy, when it replaces
// an entry as when it removes one.
func TestFlushLeavesWhatItReadAlone(t *testing.T) {
	const n, unsettled = 300, 10
	m := newManyWorkloads(n, unsettled, 0)
	m.r.statusBatch.flushing.Store(true)
	m.r.statusBatch.limiter = rate.NewLimiter(0, 0)
	ctx := context.Background()
	target := targetOf(m.rule)
	m.pass(t, m.names)
	if err := m.r.flushStatus(ctx, target); err != nil {
		t.Fatal(err)
	}
	// One listed workload (unsettled) wants other replicas, then another goes: a flush
	// each, as the first changes the list in place if any.
	gone, scaled := m.names[n-unsettled], m.names[n-1]
	reader := &sharingReader{Client: m.c}
	m.r.Client = reader
	for _, change := range []func() error{
		func() error {
			patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"replicas":5}}`))
			return m.c.Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: scaled}}, patch)
		},
		func() error {
			return m.c.Delete(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: gone}})
		},
	} {
		if err := change(); err != nil {
			t.Fatal(err)
		}
		m.pass(t, []string{gone, scaled})
		reader.read, reader.asRead = nil, nil
		if err := m.r.flushStatus(ctx, target); err != nil {
			t.Fatal(err)
		}
		if len(reader.read) == 0 {
			t.Fatal("the flush did not read the rule")
		}
		for i := range reader.read {
			if !equality.Semantic.DeepEqual(reader.read[i], reader.asRead[i]) {
				t.Fatalf("the flush changed the rule it read:\n%+v\nwas\n%+v", reader.read[i].Status.Workloads, reader.asRead[i].Status.Workloads)
			}
		}
	}
	listed := m.listed(t)
	if listed[gone] || !listed[scaled] {
		t.Errorf("after the flush %s listed %v, %s listed %v", gone, listed[gone], scaled, listed[scaled])
	}
	rule := &v1alpha1.WorkloadDistributionRule{}
	if err := m.c.Get(ctx, client.ObjectKeyFromObject(m.rule), rule); err != nil {
		t.Fatal(err)
	}
	for _, w := range rule.Status.Workloads {
		if w.Name == scaled && w.Replicas != 5 {
			t.Errorf("%s listed with %d replicas, want 5", scaled, w.Replicas)
		}
	}
}
