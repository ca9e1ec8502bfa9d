package interruption_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ssautils "github.com/fluxcd/pkg/ssa/utils"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/cloud"
	"github.com/ballast-dev/ballast/cloud/fake"
	"github.com/ballast-dev/ballast/controllers/interruption"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
	"github.com/ballast-dev/ballast/test/controlplane"
)

var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunTests(m, &env)) }

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// applyRendered applies what the PolicySource applies for the policy, steered by the
// live status as the PolicySource's render is, under its field manager.
func applyRendered(t testing.TB, policy *v1alpha1.ClusterPolicy, steering *v1alpha1.InterruptionsStatus) {
	t.Helper()
	objs, err := render.Render(render.Input{Policy: policy, Source: "src", Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Steering: steering})
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
		if u.GetKind() == v1alpha1.ClusterPolicyKind {
			// The controller reads the live policy's spec; keep the test's own object.
			continue
		}
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
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// spotNode creates a Spot (or On-Demand) node of an instance type in a zone.
func spotNode(t *testing.T, name, instanceType, zone, capacityType, providerID string) {
	t.Helper()
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			corev1.LabelInstanceTypeStable: instanceType, corev1.LabelTopologyZone: zone,
			karpv1.CapacityTypeLabelKey: capacityType, karpv1.NodePoolLabelKey: render.NodePoolName("steer", capacityType),
		}},
		Spec: corev1.NodeSpec{ProviderID: providerID},
	}
	if err := env.Client.Create(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), n) })
}

func TestSteering(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := env.Client
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	clk := &clock{now: t0}

	// Four instance types, of which at least two stay.
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "steer"},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:   v1alpha1.ClusterIdentity{Name: "steer", Region: "eu-west-1"},
			NodeClass: v1alpha1.NodeClassSpec{Role: "KarpenterNodeRole-steer"},
			Instances: v1alpha1.InstancesSpec{Include: []string{"m5.large", "m5.xlarge", "c5.large", "c5.xlarge"}},
			Spot: v1alpha1.SpotSpec{Interruptions: v1alpha1.InterruptionsSpec{
				ExcludeFor: "20m", MinInstanceTypes: ptr.To[int32](2),
			}},
		},
	}
	if err := c.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	applyRendered(t, policy, nil)
	spotNode(t, "steer-a", "m5.large", "eu-west-1a", karpv1.CapacityTypeSpot, "aws:///eu-west-1a/i-0aaa")
	spotNode(t, "steer-b", "c5.large", "eu-west-1b", karpv1.CapacityTypeSpot, "aws:///eu-west-1b/i-0bbb")
	spotNode(t, "steer-c", "m5.xlarge", "eu-west-1a", karpv1.CapacityTypeSpot, "aws:///eu-west-1a/i-0ccc")
	spotNode(t, "steer-d", "m5.large", "eu-west-1a", karpv1.CapacityTypeOnDemand, "aws:///eu-west-1a/i-0ddd")
	spotNode(t, "steer-e", "c5.xlarge", "test-zone-a", karpv1.CapacityTypeSpot, "kwok://steer-e")

	pool := render.NodePoolName("steer", v1alpha1.CapacitySpot)
	getPool := func() *karpv1.NodePool {
		var np karpv1.NodePool
		if err := c.Get(ctx, client.ObjectKey{Name: pool}, &np); err != nil {
			t.Fatal(err)
		}
		return &np
	}
	getStatus := func() *v1alpha1.InterruptionsStatus {
		var p v1alpha1.ClusterPolicy
		if err := c.Get(ctx, client.ObjectKey{Name: "steer"}, &p); err != nil {
			t.Fatal(err)
		}
		return p.Status.Interruptions
	}
	original := getPool()

	rec := events.NewFakeRecorder(100)
	mgr := newManager(t)
	r := &interruption.Reconciler{
		Client: mgr.GetClient(), API: mgr.GetAPIReader(), Recorder: rec, Cluster: "steer",
		Shapes: cost.DefaultCatalogue(), Now: clk.Now,
	}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	notify := func(reason string, at time.Time, ids ...string) {
		t.Helper()
		// The cache may lag behind the nodes just created.
		eventually(t, "the nodes in the cache", func() bool {
			var nodes corev1.NodeList
			return mgr.GetClient().List(ctx, &nodes) == nil && len(nodes.Items) >= 5
		})
		if err := r.Notify(ctx, reason, ids, at); err != nil {
			t.Fatal(err)
		}
	}

	// An interruption warning for a Spot node excludes its type at once.
	notify(interruption.SpotInterruptionReason, t0.Add(-30*time.Second), "i-0aaa")
	st := getStatus()
	if st == nil || !slices.Equal(st.ExcludedInstanceTypes, []string{"m5.large"}) {
		t.Fatalf("status.interruptions = %+v, want m5.large excluded", st)
	}
	if len(st.Pools) != 1 || st.Pools[0].InstanceType != "m5.large" || st.Pools[0].Zone != "eu-west-1a" || st.Pools[0].Interruptions != 1 {
		t.Errorf("history %+v", st.Pools)
	}
	if e := st.Exclusions[0]; !e.Applied || !e.Until.Time.Equal(t0.Add(-30*time.Second+20*time.Minute)) {
		t.Errorf("exclusion %+v: want applied until 20m after the notice", e)
	}
	np := getPool()
	last := np.Spec.Template.Spec.Requirements[len(np.Spec.Template.Spec.Requirements)-1]
	if last.Key != corev1.LabelInstanceTypeStable || last.Operator != corev1.NodeSelectorOpNotIn || !slices.Equal(last.Values, []string{"m5.large"}) {
		t.Errorf("the Spot NodePool's requirements %+v do not leave m5.large out", np.Spec.Template.Spec.Requirements)
	}
	if b := np.Spec.Disruption.Budgets; len(b) != len(original.Spec.Disruption.Budgets)+1 {
		t.Errorf("budgets %+v: want drift held", b)
	}

	// The PolicySource's next apply, rendered with the live status, writes the same
	// values (the first apply only records its co-ownership), and then nothing.
	applyRendered(t, policy, getStatus())
	if got := getPool(); !apiequality.Semantic.DeepEqual(got.Spec, np.Spec) || got.Annotations[render.SteeringAnnotation] != np.Annotations[render.SteeringAnnotation] {
		t.Errorf("the PolicySource's apply changed the steered NodePool:\n%+v\nwas\n%+v", got.Spec, np.Spec)
	}
	rv := getPool().ResourceVersion
	applyRendered(t, policy, getStatus())
	if got := getPool().ResourceVersion; got != rv {
		t.Errorf("the PolicySource's second apply wrote the steered NodePool (resourceVersion %s -> %s)", rv, got)
	}
	// An apply rendered without the steering (a PolicySource that read the status
	// before the notice) is repaired.
	applyRendered(t, policy, nil)
	eventually(t, "the exclusion restored", func() bool {
		ex, _ := render.Steered(getPool())
		return slices.Equal(ex, []string{"m5.large"})
	})

	// The same notice again (a redelivery), and the same instance through Karpenter's
	// events, count once.
	notify(interruption.SpotInterruptionReason, t0.Add(-30*time.Second), "i-0aaa")
	if p := getStatus().Pools[0]; p.Interruptions != 1 {
		t.Errorf("a redelivered notice counted again: %+v", p)
	}
	// Notices for an On-Demand node and for an unknown instance change nothing.
	rv = getPool().ResourceVersion
	notify(interruption.SpotInterruptionReason, t0, "i-0ddd", "i-unknown")
	if got := getPool().ResourceVersion; got != rv {
		t.Error("a notice for an On-Demand node or an unknown instance changed the NodePool")
	}

	// A rebalance recommendation excludes a second type; a third would leave fewer
	// than minInstanceTypes (2 of 4), so it is held, with a warning.
	clk.Set(t0.Add(time.Minute))
	notify(interruption.RebalanceRecommendationReason, t0.Add(time.Minute), "i-0bbb")
	notify(interruption.SpotInterruptionReason, t0.Add(2*time.Minute), "i-0ccc")
	st = getStatus()
	if !slices.Equal(st.ExcludedInstanceTypes, []string{"c5.large", "m5.large"}) {
		t.Errorf("excluded %v, want c5.large and m5.large (m5.xlarge held by the floor)", st.ExcludedInstanceTypes)
	}
	held := slices.IndexFunc(st.Exclusions, func(e v1alpha1.SpotExclusion) bool { return e.InstanceType == "m5.xlarge" })
	if held < 0 || st.Exclusions[held].Applied {
		t.Errorf("exclusions %+v: want m5.xlarge recorded and not applied", st.Exclusions)
	}
	if !hasEvent(rec, interruption.HeldReason) {
		t.Error("no warning that an exclusion was held")
	}
	// A kwok node's provider ID names the instance by its last segment.
	notify(interruption.RebalanceRecommendationReason, t0.Add(2*time.Minute), "steer-e")
	if i := slices.IndexFunc(getStatus().Pools, func(p v1alpha1.SpotPoolHistory) bool { return p.InstanceType == "c5.xlarge" }); i < 0 {
		t.Error("the kwok node's notice was not recorded")
	}

	// A steady state writes nothing.
	policyRV := func() string {
		var p v1alpha1.ClusterPolicy
		if err := c.Get(ctx, client.ObjectKey{Name: "steer"}, &p); err != nil {
			t.Fatal(err)
		}
		return p.ResourceVersion
	}
	rv, prv := getPool().ResourceVersion, policyRV()
	for range 3 {
		if _, err := r.Reconcile(ctx, reconcile.Request{}); err != nil {
			t.Fatal(err)
		}
	}
	if getPool().ResourceVersion != rv || policyRV() != prv {
		t.Error("a steady state wrote the NodePool or the ClusterPolicy")
	}

	// When the exclusions end, the NodePool is the policy's again; the history stays.
	clk.Set(t0.Add(30 * time.Minute))
	res, err := r.Reconcile(ctx, reconcile.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if res.RequeueAfter != 0 {
		t.Errorf("requeue after %s with no exclusion left", res.RequeueAfter)
	}
	np = getPool()
	if !apiequality.Semantic.DeepEqual(np.Spec.Template.Spec.Requirements, original.Spec.Template.Spec.Requirements) ||
		!apiequality.Semantic.DeepEqual(np.Spec.Disruption.Budgets, original.Spec.Disruption.Budgets) {
		t.Errorf("after the exclusions ended the NodePool is\n%+v\nwant the policy's\n%+v", np.Spec, original.Spec)
	}
	if ex, pref := render.Steered(np); ex != nil || pref != nil {
		t.Errorf("the steering annotation still names %v %v", ex, pref)
	}
	st = getStatus()
	if len(st.ExcludedInstanceTypes) != 0 || len(st.Exclusions) != 0 || len(st.Pools) != 4 {
		t.Errorf("after the exclusions ended: %+v", st)
	}
	if !hasEvent(rec, interruption.ReturnedReason) {
		t.Error("no event that the types are offered again")
	}

	// A notice older than excludeFor counts in the history and excludes nothing.
	notify(interruption.SpotInterruptionReason, t0.Add(5*time.Minute), "i-0bbb")
	if len(getStatus().ExcludedInstanceTypes) != 0 {
		t.Error("a notice from 25 minutes ago excluded a type for 20 minutes")
	}
}

func hasEvent(rec *events.FakeRecorder, reason string) bool {
	for {
		select {
		case e := <-rec.Events:
			if strings.Contains(e, reason) {
				return true
			}
		default:
			return false
		}
	}
}

// TestLeastInterruptedChoosesPools: a LeastInterrupted cluster's Spot NodePool offers
// the types the ranking chooses (placement scores favour one family), without writing
// again while nothing changes; CostOptimized offers every type again.
func TestLeastInterruptedChoosesPools(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := env.Client
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "rank"},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:   v1alpha1.ClusterIdentity{Name: "rank", Region: "eu-west-1"},
			NodeClass: v1alpha1.NodeClassSpec{Role: "KarpenterNodeRole-rank"},
			Instances: v1alpha1.InstancesSpec{Categories: []string{"c", "m", "r"}, CPU: &v1alpha1.IntRange{Min: ptr.To[int32](2), Max: ptr.To[int32](16)}},
			Spot:      v1alpha1.SpotSpec{Strategy: v1alpha1.LeastInterrupted},
		},
	}
	if err := c.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	applyRendered(t, policy, nil)
	book := cost.DefaultCatalogue()
	defaulted := policy.DeepCopy()
	defaulted.Default()
	supply := cost.SupplyTypes(defaulted, book)

	// Every family scores 3, but r6i scores 9 in every zone.
	scores := &fake.PlacementScores{}
	scores.SetScores("eu-west-1", cloud.PlacementScore{Region: "eu-west-1", ZoneID: "euw1-az1", Score: 3})
	var r6i []string
	for _, typ := range supply {
		if strings.HasPrefix(typ, "r6i.") {
			r6i = append(r6i, typ)
		}
	}
	scores.SetScoresFor("eu-west-1", r6i, cloud.PlacementScore{Region: "eu-west-1", ZoneID: "euw1-az1", Score: 9})

	r := &interruption.Reconciler{
		Client: c, API: c, Cluster: "rank", Shapes: book, Book: book,
		Scores: &cloud.CachedPlacementScores{Source: scores}, Now: func() time.Time { return time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC) },
	}
	res, err := r.Reconcile(ctx, reconcile.Request{})
	if err != nil {
		t.Fatal(err)
	}
	var p v1alpha1.ClusterPolicy
	if err := c.Get(ctx, client.ObjectKey{Name: "rank"}, &p); err != nil {
		t.Fatal(err)
	}
	st := p.Status.Interruptions
	if st == nil || len(st.PreferredInstanceTypes) < 10 || len(st.PreferredInstanceTypes) >= len(supply) {
		t.Fatalf("preferred %v of a supply of %d: want at least 10, not all", st, len(supply))
	}
	if !slices.ContainsFunc(st.PreferredInstanceTypes[:1], func(t string) bool { return strings.HasPrefix(t, "r6i.") }) {
		t.Errorf("preferred %v: the family with the best placement score comes first", st.PreferredInstanceTypes)
	}
	if res.RequeueAfter <= 0 || res.RequeueAfter > interruption.DefaultRankEvery {
		t.Errorf("requeue after %s, want the next ranking", res.RequeueAfter)
	}
	var np karpv1.NodePool
	if err := c.Get(ctx, client.ObjectKey{Name: render.NodePoolName("rank", v1alpha1.CapacitySpot)}, &np); err != nil {
		t.Fatal(err)
	}
	_, preferred := render.Steered(&np)
	want := slices.Clone(st.PreferredInstanceTypes)
	slices.Sort(want)
	if !slices.Equal(preferred, want) {
		t.Errorf("the NodePool offers %v, want the preferred %v", preferred, want)
	}
	// The PolicySource's apply agrees, and a second pass writes nothing.
	applyRendered(t, policy, st)
	if err := c.Get(ctx, client.ObjectKey{Name: np.Name}, &np); err != nil {
		t.Fatal(err)
	}
	rv := np.ResourceVersion
	if _, err := r.Reconcile(ctx, reconcile.Request{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: np.Name}, &np); err != nil {
		t.Fatal(err)
	}
	if np.ResourceVersion != rv {
		t.Error("a second pass rewrote the NodePool")
	}

	// CostOptimized: every type again.
	p.Spec.Spot.Strategy = v1alpha1.CostOptimized
	if err := c.Update(ctx, &p); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, reconcile.Request{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: np.Name}, &np); err != nil {
		t.Fatal(err)
	}
	if _, preferred := render.Steered(&np); preferred != nil || slices.ContainsFunc(np.Spec.Template.Spec.Requirements, func(r karpv1.NodeSelectorRequirementWithMinValues) bool {
		return r.Key == corev1.LabelInstanceTypeStable && r.Operator == corev1.NodeSelectorOpIn
	}) {
		t.Errorf("a CostOptimized cluster's Spot NodePool still prefers %v", preferred)
	}
}

// TestKarpenterEvents: without a queue of Ballast's own, the SpotInterrupted and
// SpotRebalanceRecommendation events Karpenter records on a NodeClaim and its node are
// the notices; the two events of one instance count once.
func TestKarpenterEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := env.Client
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "kevents"},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:   v1alpha1.ClusterIdentity{Name: "kevents", Region: "eu-west-1"},
			NodeClass: v1alpha1.NodeClassSpec{Role: "KarpenterNodeRole-kevents"},
			Spot:      v1alpha1.SpotSpec{Interruptions: v1alpha1.InterruptionsSpec{MinInstanceTypes: ptr.To[int32](1)}},
		},
	}
	if err := c.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	applyRendered(t, policy, nil)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "kevents-node", Labels: map[string]string{
			corev1.LabelInstanceTypeStable: "m6i.large", corev1.LabelTopologyZone: "eu-west-1b", karpv1.CapacityTypeLabelKey: karpv1.CapacityTypeSpot,
		}},
		Spec: corev1.NodeSpec{ProviderID: "aws:///eu-west-1b/i-0kevents"},
	}
	if err := c.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Delete(context.Background(), node) }()

	mgr := newManager(t)
	r := &interruption.Reconciler{Client: mgr.GetClient(), API: mgr.GetAPIReader(), Cluster: "kevents", Shapes: cost.DefaultCatalogue()}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	httpClient, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	events, err := interruption.EventsClient(env.Config, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Add(&interruption.KarpenterEvents{Events: events, Steer: r}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()
	eventually(t, "the node in the cache", func() bool {
		var n corev1.Node
		return mgr.GetClient().Get(ctx, client.ObjectKey{Name: node.Name}, &n) == nil
	})

	// Karpenter's events: one on the node, one unrelated (another reason).
	for i, reason := range []string{interruption.KarpenterSpotInterrupted, "Launched", interruption.KarpenterSpotInterrupted} {
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("kevents-%d", i)},
			InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: node.Name, APIVersion: "v1"},
			Reason:         reason, Type: corev1.EventTypeWarning, Message: "Spot interruption warning was triggered",
			FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Source: corev1.EventSource{Component: "karpenter"},
		}
		if err := c.Create(ctx, ev); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Delete(context.Background(), ev) }()
	}
	var p v1alpha1.ClusterPolicy
	eventually(t, "the notice recorded from Karpenter's event", func() bool {
		return c.Get(ctx, client.ObjectKey{Name: "kevents"}, &p) == nil && p.Status.Interruptions != nil &&
			slices.Equal(p.Status.Interruptions.ExcludedInstanceTypes, []string{"m6i.large"})
	})
	if pools := p.Status.Interruptions.Pools; len(pools) != 1 || pools[0].Zone != "eu-west-1b" || pools[0].Interruptions != 1 {
		t.Errorf("history %+v: want one interruption of m6i.large in eu-west-1b", pools)
	}
}

// newManager is a manager on the test API server with no metrics or probes.
func newManager(t testing.TB) ctrl.Manager {
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: controlplane.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return mgr
}
