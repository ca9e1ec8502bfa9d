package commitments_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	ssautils "github.com/fluxcd/pkg/ssa/utils"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/controllers/commitments"
	"github.com/ballast-dev/ballast/controllers/internal/status"
	"github.com/ballast-dev/ballast/controllers/limits"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
	"github.com/ballast-dev/ballast/test/controlplane"
)

var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunTests(m, &env)) }

// applyRendered applies what the PolicySource applies for the policy: the rendered
// objects, with server-side apply under the PolicySource's field manager.
func applyRendered(t *testing.T, policy *v1alpha1.ClusterPolicy) {
	t.Helper()
	objs, err := render.Render(render.Input{Policy: policy, Source: "src", Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	data, err := render.Marshal(objs)
	if err != nil {
		t.Fatal(err)
	}
	us, err := ssautils.ReadObjects(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if err := env.Client.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("ballast"), client.ForceOwnership); err != nil {
			t.Fatalf("apply %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			var p v1alpha1.ClusterPolicyList
			_ = env.Client.List(context.Background(), &p)
			for _, x := range p.Items {
				t.Logf("ClusterPolicy %s: %+v", x.Name, x.Status.Conditions)
			}
			if debugEvents != nil {
				t.Logf("events: %q", debugEvents.all())
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func node(name, instanceType, capacityType, pool string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		corev1.LabelInstanceTypeStable: instanceType, karpv1.CapacityTypeLabelKey: capacityType,
		karpv1.NodePoolLabelKey: pool, corev1.LabelTopologyZone: "eu-west-1a",
	}}}
}

// TestCommittedPool: with 3 reserved m5.large in Git the committed pool allows
// m5.large up to 3 instances' CPU and memory; the limits follow On-Demand nodes (not
// Spot ones); the PolicySource's apply, the limits controller and a steady state do
// not change it.
func TestCommittedPool(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "com"},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:   v1alpha1.ClusterIdentity{Name: "com", Region: "eu-west-1"},
			NodeClass: v1alpha1.NodeClassSpec{Role: "r"},
			Limits:    &v1alpha1.LimitsSpec{CPU: ptr.To(resource.MustParse("100")), Nodes: ptr.To[int32](10)},
			Commitments: &v1alpha1.CommitmentsSpec{Enabled: true, Source: v1alpha1.CommitmentsFromGit,
				ReservedInstances: []v1alpha1.ReservedInstance{{InstanceType: "m5.large", Count: 3}}},
		},
	}
	applyRendered(t, policy)
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: controlplane.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorded{rec: events.NewFakeRecorder(1000)}
	debugEvents = rec
	defer func() { debugEvents = nil }()
	if err := (&commitments.Reconciler{Client: mgr.GetClient(), Cluster: "com", Recorder: rec.rec}).SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	if err := (&limits.Reconciler{Client: mgr.GetClient(), Cluster: "com"}).SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()

	name := commitments.PoolName("com")
	get := func() *karpv1.NodePool {
		var np karpv1.NodePool
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &np); err != nil {
			return nil
		}
		return &np
	}
	limitsAre := func(cpu, mem string, nodes int64) func() bool {
		return func() bool {
			np := get()
			if np == nil {
				return false
			}
			l := corev1.ResourceList(np.Spec.Limits)
			return l.Cpu().Cmp(resource.MustParse(cpu)) == 0 && l.Memory().Cmp(resource.MustParse(mem)) == 0 && l.Name("nodes", resource.DecimalSI).Value() == nodes
		}
	}
	eventually(t, "a committed pool for 3 m5.large", limitsAre("6", "24Gi", 3))
	eventually(t, "an event for the new pool", func() bool {
		return rec.count("Normal CommittedPoolChanged created the committed NodePool ballast-com-committed for m5.large with limits cpu 6, memory 24Gi, nodes 3") == 1
	})
	np := get()
	if np.Spec.Weight == nil || *np.Spec.Weight != render.CommittedWeight {
		t.Errorf("weight %v, want %d", np.Spec.Weight, render.CommittedWeight)
	}
	if np.Spec.Disruption.ConsolidationPolicy != karpv1.ConsolidationPolicyWhenEmpty {
		t.Errorf("consolidation policy %q, want WhenEmpty", np.Spec.Disruption.ConsolidationPolicy)
	}
	if np.Labels[v1alpha1.ClusterLabel] != "com" || np.Labels[v1alpha1.SourceLabel] != "" {
		t.Errorf("labels %v: want the cluster label and no source label", np.Labels)
	}
	if np.Spec.Template.Labels[v1alpha1.CapacityLabel] != v1alpha1.CapacityOnDemand || np.Spec.Template.Spec.NodeClassRef == nil {
		t.Errorf("template %+v: want the On-Demand pool's capacity label and node class", np.Spec.Template)
	}
	var types, capacity []string
	for _, r := range np.Spec.Template.Spec.Requirements {
		switch r.Key {
		case corev1.LabelInstanceTypeStable:
			types = append(types, r.Values...)
		case karpv1.CapacityTypeLabelKey:
			capacity = append(capacity, r.Values...)
		}
	}
	if !slices.Equal(types, []string{"m5.large"}) || !slices.Equal(capacity, []string{"on-demand"}) {
		t.Errorf("requirements %+v: want instance type [m5.large] and capacity type [on-demand] once each", np.Spec.Template.Spec.Requirements)
	}

	// An On-Demand m5.large of the On-Demand pool uses one reservation; a Spot one none.
	if err := env.Client.Create(ctx, node("od-1", "m5.large", "on-demand", render.NodePoolName("com", "on-demand"))); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, node("spot-1", "m5.large", "spot", render.NodePoolName("com", "spot"))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "room for 2 m5.large", limitsAre("4", "16Gi", 2))
	eventually(t, "an event for the new limits", func() bool {
		return rec.count("Normal CommittedPoolChanged the committed NodePool ballast-com-committed now allows cpu 4, memory 16Gi, nodes 2 (was cpu 6, memory 24Gi, nodes 3): 0 committed nodes running") == 1
	})
	// A node of the committed pool counts in its limits: its own 2 CPU plus 1 unused.
	if err := env.Client.Create(ctx, node("committed-1", "m5.large", "on-demand", name)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "1 committed node and room for 1 more", limitsAre("4", "16Gi", 2))
	eventually(t, "status.commitments", func() bool {
		var p v1alpha1.ClusterPolicy
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "com"}, &p); err != nil || p.Status.Commitments == nil {
			return false
		}
		c := status.Find(p.Status.Conditions, commitments.ReadyCondition)
		return c != nil && c.Status == metav1.ConditionTrue && slices.Equal(p.Status.Commitments.ReservedInstances,
			[]v1alpha1.ReservedInstanceUsage{{InstanceType: "m5.large", Committed: 3, Used: 2, Unused: 1}})
	})

	// Steady: the PolicySource applies the render again, the limits controller runs,
	// time passes; the committed pool is not written, and the limits controller never
	// manages its limits.
	rv := get().ResourceVersion
	applyRendered(t, policy)
	time.Sleep(2 * time.Second)
	np = get()
	if np.ResourceVersion != rv {
		t.Errorf("the committed NodePool changed in a steady state (resourceVersion %s -> %s)", rv, np.ResourceVersion)
	}
	// Limits that did not change (a committed node took the place of an unused
	// instance), and passes that change nothing, make no event.
	if got := rec.all(); len(got) != 2 {
		t.Errorf("events %q, want one for the new pool and one for its new limits", got)
	}
	for _, m := range np.ManagedFields {
		if m.Manager != commitments.FieldManager {
			t.Errorf("field manager %q manages fields of the committed NodePool", m.Manager)
		}
	}

	// Commitments disabled: the pool goes.
	policy.Spec.Commitments.Enabled = false
	applyRendered(t, policy)
	eventually(t, "no committed pool", func() bool { return get() == nil })
	eventually(t, "an event for the deleted pool", func() bool {
		return rec.count("Normal CommittedPoolChanged deleted the committed NodePool ballast-com-committed: commitments are disabled") == 1
	})
}

// TestDiscoveryFailureWarns: a failed discovery is a Warning on the ClusterPolicy and
// CommitmentsReady False, once: the same failure on the next pass records nothing new.
func TestDiscoveryFailureWarns(t *testing.T) {
	ctx := context.Background()
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "com-discover"},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:     v1alpha1.ClusterIdentity{Name: "com-discover", Region: "eu-west-1"},
			NodeClass:   v1alpha1.NodeClassSpec{Role: "r"},
			Commitments: &v1alpha1.CommitmentsSpec{Enabled: true, Source: v1alpha1.CommitmentsFromAWS},
		},
	}
	if err := env.Client.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), policy) })
	rec := &recorded{rec: events.NewFakeRecorder(100)}
	r := &commitments.Reconciler{Client: env.Client, Cluster: "com-discover", Recorder: rec.rec,
		Discover: func(context.Context, string) (cost.Commitments, error) {
			return cost.Commitments{}, errors.New("AccessDeniedException: not authorized to perform savingsplans:DescribeSavingsPlans")
		}}
	for range 2 {
		if _, err := r.Reconcile(ctx, reconcile.Request{}); err != nil {
			t.Fatal(err)
		}
	}
	var p v1alpha1.ClusterPolicy
	if err := env.Client.Get(ctx, client.ObjectKey{Name: policy.Name}, &p); err != nil {
		t.Fatal(err)
	}
	if c := status.Find(p.Status.Conditions, commitments.ReadyCondition); c == nil || c.Status != metav1.ConditionFalse || c.Reason != commitments.DiscoveryFailedReason {
		t.Fatalf("CommitmentsReady = %+v, want False/DiscoveryFailed", c)
	}
	got := rec.all()
	if len(got) != 1 || !strings.HasPrefix(got[0], "Warning DiscoveryFailed cannot discover the commitments: AccessDeniedException") {
		t.Fatalf("events %q, want one DiscoveryFailed Warning", got)
	}
}

var debugEvents *recorded

// recorded collects the events of a fake recorder.
type recorded struct {
	rec  *events.FakeRecorder
	seen []string
}

// all returns every event recorded so far.
func (r *recorded) all() []string {
	for {
		select {
		case e := <-r.rec.Events:
			r.seen = append(r.seen, e)
		default:
			return r.seen
		}
	}
}

// count is how many recorded events are exactly e.
func (r *recorded) count(e string) int {
	n := 0
	for _, x := range r.all() {
		if x == e {
			n++
		}
	}
	return n
}

// TestNodePoolFillsItsCommitments: a pool of spec.nodePools with commitments: true gets
// a committed NodePool of its own for the reservations its requirements allow (2
// g5.xlarge for a GPU pool), with its template (taint, labels, node class) and a weight
// just above it; the default supply's committed pool keeps the rest (3 c5.large); a
// pool whose types have no reservation gets none. A steady state writes nothing. When
// the pool stops filling commitments, its committed pool keeps its running node but
// launches no more, and goes once empty.
func TestNodePoolFillsItsCommitments(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const cluster = "gcom"
	pool := func(name string, weight int32, families ...string) v1alpha1.NodePool {
		return v1alpha1.NodePool{Name: name, Commitments: true, Spec: karpv1.NodePoolSpec{
			Weight: ptr.To(weight),
			Template: karpv1.NodeClaimTemplate{
				ObjectMeta: karpv1.ObjectMeta{Labels: map[string]string{"workload": name}},
				Spec: karpv1.NodeClaimTemplateSpec{
					NodeClassRef: &karpv1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "ballast-" + cluster},
					Requirements: []karpv1.NodeSelectorRequirementWithMinValues{
						{Key: karpv1.CapacityTypeLabelKey, Operator: corev1.NodeSelectorOpIn, Values: []string{"on-demand"}},
						{Key: "karpenter.k8s.aws/instance-family", Operator: corev1.NodeSelectorOpIn, Values: families},
					},
					Taints:      []corev1.Taint{{Key: "workload", Value: name, Effect: corev1.TaintEffectNoSchedule}},
					ExpireAfter: karpv1.MustParseNillableDuration("720h"),
				},
			},
			Disruption: karpv1.Disruption{ConsolidateAfter: karpv1.MustParseNillableDuration("0s")},
		}}
	}
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: cluster},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:   v1alpha1.ClusterIdentity{Name: cluster, Region: "eu-west-1"},
			NodeClass: v1alpha1.NodeClassSpec{Role: "r"},
			Commitments: &v1alpha1.CommitmentsSpec{Enabled: true, Source: v1alpha1.CommitmentsFromGit,
				ReservedInstances: []v1alpha1.ReservedInstance{{InstanceType: "c5.large", Count: 3}, {InstanceType: "g5.xlarge", Count: 2}}},
			NodePools: []v1alpha1.NodePool{pool("gpu", 20, "g5", "g6"), pool("compute", 5, "c6i")},
		},
	}
	applyRendered(t, policy)
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: controlplane.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorded{rec: events.NewFakeRecorder(1000)}
	if err := (&commitments.Reconciler{Client: mgr.GetClient(), Cluster: cluster, Recorder: rec.rec, Interval: time.Second}).SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()

	get := func(name string) *karpv1.NodePool {
		var np karpv1.NodePool
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &np); err != nil {
			return nil
		}
		return &np
	}
	typesOf := func(np *karpv1.NodePool) []string {
		for _, r := range np.Spec.Template.Spec.Requirements {
			if r.Key == corev1.LabelInstanceTypeStable {
				return r.Values
			}
		}
		return nil
	}
	limitsAre := func(name, cpu, mem string, nodes int64) func() bool {
		return func() bool {
			np := get(name)
			if np == nil {
				return false
			}
			l := corev1.ResourceList(np.Spec.Limits)
			return l.Cpu().Cmp(resource.MustParse(cpu)) == 0 && l.Memory().Cmp(resource.MustParse(mem)) == 0 && l.Name("nodes", resource.DecimalSI).Value() == nodes
		}
	}
	sibling := commitments.SiblingName("gpu")
	eventually(t, "a committed pool for the GPU pool's 2 g5.xlarge", limitsAre(sibling, "8", "32Gi", 2))
	eventually(t, "the default committed pool for 3 c5.large", limitsAre(commitments.PoolName(cluster), "6", "12Gi", 3))
	np := get(sibling)
	if got := typesOf(np); !slices.Equal(got, []string{"g5.xlarge"}) {
		t.Errorf("the GPU pool's committed pool allows %v, want [g5.xlarge]", got)
	}
	if got := typesOf(get(commitments.PoolName(cluster))); !slices.Equal(got, []string{"c5.large"}) {
		t.Errorf("the default committed pool allows %v, want [c5.large] (the g5.xlarge are the GPU pool's)", got)
	}
	if np.Spec.Weight == nil || *np.Spec.Weight != 21 {
		t.Errorf("weight %v, want 21: just above the GPU pool's 20", np.Spec.Weight)
	}
	if len(np.Spec.Template.Spec.Taints) != 1 || np.Spec.Template.Spec.Taints[0].Key != "workload" || np.Spec.Template.Labels["workload"] != "gpu" {
		t.Errorf("template %+v: want the GPU pool's taint and labels", np.Spec.Template)
	}
	if np.Labels[commitments.CommittedForLabel] != "gpu" || np.Labels[v1alpha1.SourceLabel] != "" {
		t.Errorf("labels %v: want committed-for gpu and no source label", np.Labels)
	}
	if get(commitments.SiblingName("compute")) != nil {
		t.Error("a committed pool for the compute pool, whose c6i has no reservation")
	}

	// Steady: the render applied again, passes every second: nothing written.
	rv := np.ResourceVersion
	applyRendered(t, policy)
	time.Sleep(3 * time.Second)
	if np := get(sibling); np.ResourceVersion != rv {
		t.Errorf("the GPU pool's committed pool changed in a steady state (resourceVersion %s -> %s)", rv, np.ResourceVersion)
	}

	// One of its nodes runs; then the GPU pool stops filling commitments: the pool
	// keeps that node and launches no more; without the node it goes.
	n := node("gpu-committed-1", "g5.xlarge", "on-demand", sibling)
	if err := env.Client.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	policy.Spec.NodePools[0].Commitments = false
	applyRendered(t, policy)
	eventually(t, "the committed pool held at its one node", limitsAre(sibling, "4", "16Gi", 1))
	if err := env.Client.Delete(ctx, n); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the committed pool gone with its last node", func() bool { return get(sibling) == nil })
	eventually(t, "the default committed pool gets the g5.xlarge back", func() bool {
		np := get(commitments.PoolName(cluster))
		return np != nil && slices.Equal(typesOf(np), []string{"c5.large", "g5.xlarge"})
	})
}
