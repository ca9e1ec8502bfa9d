package distribution

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/controllers/internal/placement"
	"github.com/ballast-dev/ballast/controllers/internal/scope"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
)

// driftFixture is a Deployment of 4 replicas whose rule (base 0, 0%) wants every
// replica on Spot, with pods built by the caller, in a fake API server.
type driftFixture struct {
	c        client.Client
	r        *Reconciler
	recorder *events.FakeRecorder
	now      time.Time
	nextPod  int
}

func newDriftFixture(t *testing.T, optedIn bool, podEviction *v1alpha1.PodEvictionSpec, template corev1.PodSpec) *driftFixture {
	t.Helper()
	labels := map[string]string{"app": "web"}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	if optedIn {
		ns.Labels = map[string]string{v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled}
	}
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "prod"},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:      v1alpha1.ClusterIdentity{Name: "prod", Region: "eu-west-1"},
			Distribution: v1alpha1.DistributionSpec{BaseOnDemand: ptr.To[int32](0), OnDemandPercent: ptr.To[int32](0), Selector: v1alpha1.All},
			BinPacking:   v1alpha1.BinPackingSpec{PodEviction: podEviction},
		},
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "dep"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](4), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: template}},
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "rs", Labels: labels, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: KindDeployment, Name: "web", UID: "dep", Controller: ptr.To(true),
		}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](4), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: dep.Spec.Template},
	}
	c := fake.NewClientBuilder().WithScheme(controlplane.Scheme).WithObjects(ns, policy, dep, rs).
		WithStatusSubresource(&v1alpha1.ClusterPolicy{}).Build()
	f := &driftFixture{c: c, recorder: events.NewFakeRecorder(100), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	f.r = &Reconciler{Client: c, Recorder: f.recorder, Kind: KindDeployment, Cluster: "prod",
		Scope: scope.Scope{Own: "ballast-system"}, Now: func() time.Time { return f.now }}
	return f
}

// pod adds a pod of the Deployment; placed adds Ballast's placement on capacity,
// otherwise spec is the pod's own (unplaced, or choosing its capacity itself).
func (f *driftFixture) pod(t *testing.T, placed string, spec corev1.PodSpec) {
	t.Helper()
	f.nextPod++
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Namespace: "shop", Name: fmt.Sprintf("web-%d", f.nextPod), UID: types.UID(fmt.Sprintf("pod-%d", f.nextPod)),
		Labels:            map[string]string{"app": "web"},
		CreationTimestamp: metav1.NewTime(f.now),
		OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: KindReplicaSet, Name: "web-1", UID: "rs", Controller: ptr.To(true)}},
	}, Spec: spec}
	if placed != "" {
		p.Labels[v1alpha1.CapacityLabel] = placed
		p.Annotations = map[string]string{ReasonAnnotation: "split"}
		p.Spec.NodeSelector = map[string]string{capacityTypeKey: placed}
	}
	if err := f.c.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func (f *driftFixture) reconcile(t *testing.T) {
	t.Helper()
	if _, err := f.r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "shop", Name: "web"}}); err != nil {
		t.Fatal(err)
	}
}

func (f *driftFixture) pods(t *testing.T) []string {
	t.Helper()
	var list corev1.PodList
	if err := f.c.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range list.Items {
		out = append(out, p.Name)
	}
	return out
}

func (f *driftFixture) message(t *testing.T) string {
	t.Helper()
	var p v1alpha1.ClusterPolicy
	if err := f.c.Get(context.Background(), client.ObjectKey{Name: "prod"}, &p); err != nil {
		t.Fatal(err)
	}
	for _, w := range p.Status.Workloads {
		if w.Name == "web" {
			return w.Message
		}
	}
	return "(no status)"
}

var enabled = &v1alpha1.PodEvictionSpec{Enabled: true}

func TestDriftEvictsOnlyWhatTheWebhookWouldPlace(t *testing.T) {
	onDemand := corev1.PodSpec{NodeSelector: map[string]string{capacityTypeKey: v1alpha1.CapacityOnDemand}}
	for _, tc := range []struct {
		name        string
		optedIn     bool
		podEviction *v1alpha1.PodEvictionSpec
		template    corev1.PodSpec
		pods        func(t *testing.T, f *driftFixture)
		evicted     int
		message     string
	}{
		{"placed On-Demand surplus moves, at most the default 5 a pass", true, enabled, corev1.PodSpec{}, func(t *testing.T, f *driftFixture) {
			for range 4 {
				f.pod(t, v1alpha1.CapacityOnDemand, corev1.PodSpec{})
			}
		}, 4, "evicted 4 replicas"},
		{"unplaced pods (admitted while the webhook was down) move", true, &v1alpha1.PodEvictionSpec{Enabled: true, MaxEvictionsPerPass: ptr.To[int32](2)}, corev1.PodSpec{}, func(t *testing.T, f *driftFixture) {
			for range 4 {
				f.pod(t, "", corev1.PodSpec{})
			}
		}, 2, "evicted 2 replicas"},
		{"a namespace that is not opted in is never touched", false, enabled, corev1.PodSpec{}, func(t *testing.T, f *driftFixture) {
			for range 4 {
				f.pod(t, "", corev1.PodSpec{})
			}
		}, 0, "(no status)"},
		{"pods that pin On-Demand themselves stay", true, enabled, corev1.PodSpec{}, func(t *testing.T, f *driftFixture) {
			for range 4 {
				f.pod(t, "", onDemand)
			}
		}, 0, "choose their capacity type themselves"},
		{"a template that pins its capacity type is left alone", true, enabled, onDemand, func(t *testing.T, f *driftFixture) {
			for range 4 {
				f.pod(t, "", onDemand)
			}
		}, 0, "chooses its capacity type itself"},
		{"a template that requires other nodes is left alone", true, enabled, corev1.PodSpec{NodeSelector: map[string]string{"eks.amazonaws.com/nodegroup": "system"}}, func(t *testing.T, f *driftFixture) {
			for range 4 {
				f.pod(t, "", corev1.PodSpec{NodeSelector: map[string]string{"eks.amazonaws.com/nodegroup": "system"}})
			}
		}, 0, "requires node label eks.amazonaws.com/nodegroup"},
		{"without binPacking.podEviction.enabled nothing is evicted", true, &v1alpha1.PodEvictionSpec{MaxEvictionsPerPass: ptr.To[int32](3)}, corev1.PodSpec{}, func(t *testing.T, f *driftFixture) {
			for range 4 {
				f.pod(t, v1alpha1.CapacityOnDemand, corev1.PodSpec{})
			}
		}, 0, "binPacking.podEviction.enabled"},
		{"no podEviction at all: nothing is evicted", true, nil, corev1.PodSpec{}, func(t *testing.T, f *driftFixture) {
			for range 4 {
				f.pod(t, v1alpha1.CapacityOnDemand, corev1.PodSpec{})
			}
		}, 0, "binPacking.podEviction.enabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newDriftFixture(t, tc.optedIn, tc.podEviction, tc.template)
			tc.pods(t, f)
			before := len(f.pods(t))
			f.reconcile(t)
			if evicted := before - len(f.pods(t)); evicted != tc.evicted {
				t.Errorf("evicted %d pods, want %d", evicted, tc.evicted)
			}
			if msg := f.message(t); !strings.Contains(msg, tc.message) {
				t.Errorf("status message %q, want it to contain %q", msg, tc.message)
			}
		})
	}
}

// TestDriftPausesWhenReplacementsArriveUnplaced: when the replacements of an eviction
// pass arrive without Ballast's placement (the API server cannot reach the webhook),
// the next pass evicts nothing, says why, records one event, and waits for a backoff;
// once a replacement is placed, evictions resume.
func TestDriftPausesWhenReplacementsArriveUnplaced(t *testing.T) {
	f := newDriftFixture(t, true, &v1alpha1.PodEvictionSpec{Enabled: true, MaxEvictionsPerPass: ptr.To[int32](1)}, corev1.PodSpec{})
	for range 4 {
		f.pod(t, v1alpha1.CapacityOnDemand, corev1.PodSpec{})
	}
	f.reconcile(t) // evicts one
	if n := len(f.pods(t)); n != 3 {
		t.Fatalf("%d pods after the first pass, want 3", n)
	}
	if e := <-f.recorder.Events; !strings.Contains(e, EvictedReason) {
		t.Fatalf("event %q, want %s", e, EvictedReason)
	}
	f.now = f.now.Add(5 * time.Second)
	f.reconcile(t) // the replacement has not arrived: wait
	if n := len(f.pods(t)); n != 3 {
		t.Fatalf("a pass evicted before the replacement arrived: %d pods", n)
	}
	f.pod(t, "", corev1.PodSpec{}) // the replacement, unplaced
	f.now = f.now.Add(5 * time.Second)
	f.reconcile(t)
	if n := len(f.pods(t)); n != 4 {
		t.Fatalf("evicted after an unplaced replacement: %d pods", n)
	}
	if msg := f.message(t); !strings.Contains(msg, "paused") {
		t.Fatalf("status message %q does not say evictions paused", msg)
	}
	if e := <-f.recorder.Events; !strings.Contains(e, WebhookNotPlacingReason) {
		t.Fatalf("event %q, want %s", e, WebhookNotPlacingReason)
	}
	if c := f.placingCondition(t); c == nil || c.Status != metav1.ConditionFalse || c.Reason != WebhookNotPlacingReason {
		t.Fatalf("WebhookPlacing condition %+v, want False/%s", c, WebhookNotPlacingReason)
	}
	for range 3 { // still paused: no eviction, no new event
		f.now = f.now.Add(time.Minute)
		f.reconcile(t)
	}
	if n := len(f.pods(t)); n != 4 {
		t.Fatalf("evicted while paused: %d pods", n)
	}
	if len(f.recorder.Events) != 0 {
		t.Fatalf("more events while paused: %q", <-f.recorder.Events)
	}
	// After the backoff, one more pass; its replacement is placed, so evictions resume.
	f.now = f.now.Add(placement.FirstPause)
	f.reconcile(t)
	if n := len(f.pods(t)); n != 3 {
		t.Fatalf("no eviction after the backoff: %d pods", n)
	}
	<-f.recorder.Events
	f.now = f.now.Add(2 * time.Second)
	f.pod(t, v1alpha1.CapacitySpot, corev1.PodSpec{})
	f.reconcile(t)
	if n := len(f.pods(t)); n != 3 {
		t.Fatalf("evictions did not resume after a placed replacement: %d pods", n)
	}
	if c := f.placingCondition(t); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("WebhookPlacing condition %+v after evictions resumed, want True", c)
	}
}

func (f *driftFixture) placingCondition(t *testing.T) *metav1.Condition {
	t.Helper()
	var p v1alpha1.ClusterPolicy
	if err := f.c.Get(context.Background(), client.ObjectKey{Name: "prod"}, &p); err != nil {
		t.Fatal(err)
	}
	return apimeta.FindStatusCondition(p.Status.Conditions, placement.Condition)
}

// TestDriftWithTheWebhookUnreachableForAnHour: every replacement arrives unplaced for
// an hour, with the reconciler passing every 5 seconds: the evictions are bounded by
// the backoff (a pass at 0, 5, 15 and 35 minutes, one eviction each), and a restarted
// reconciler, reading the condition the first one wrote, does not allow an extra pass.
func TestDriftWithTheWebhookUnreachableForAnHour(t *testing.T) {
	f := newDriftFixture(t, true, &v1alpha1.PodEvictionSpec{Enabled: true, MaxEvictionsPerPass: ptr.To[int32](1)}, corev1.PodSpec{})
	for range 4 {
		f.pod(t, v1alpha1.CapacityOnDemand, corev1.PodSpec{})
	}
	start, evictions, restarted := f.now, 0, false
	for f.now.Sub(start) < time.Hour {
		if !restarted && f.now.Sub(start) >= 20*time.Minute {
			restarted = true
			// A restart: a new reconciler (and watch) restores the pause from the condition.
			f.r = &Reconciler{Client: f.c, Recorder: f.recorder, Kind: KindDeployment, Cluster: "prod", Scope: f.r.Scope, Now: f.r.Now}
		}
		before := len(f.pods(t))
		f.reconcile(t)
		if after := len(f.pods(t)); after < before {
			evictions += before - after
			f.now = f.now.Add(2 * time.Second)
			f.pod(t, "", corev1.PodSpec{}) // its replacement, unplaced
		}
		f.now = f.now.Add(5 * time.Second)
	}
	if evictions < 1 || evictions > 4 {
		t.Fatalf("%d evictions in an hour with the webhook unreachable, want between 1 and 4", evictions)
	}
	if c := f.placingCondition(t); c == nil || c.Status != metav1.ConditionFalse {
		t.Fatalf("WebhookPlacing condition %+v, want False", c)
	}
	t.Logf("%d evictions in an hour", evictions)
}

// TestDriftLeavesFallbackReplicasToReverseFallback: fallback replicas count as Spot and
// are never evicted to correct the split: with Spot over-represented, a replica really
// on Spot moves; when only fallback replicas make the surplus, nothing does, and the
// status says why (they run On-Demand already; reverse fallback moves them, and keeps
// the ones a commitment needs).
func TestDriftLeavesFallbackReplicasToReverseFallback(t *testing.T) {
	fallbackPod := func(t *testing.T, f *driftFixture) {
		t.Helper()
		f.pod(t, v1alpha1.CapacityOnDemand, corev1.PodSpec{})
		var p corev1.Pod
		if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: fmt.Sprintf("web-%d", f.nextPod)}, &p); err != nil {
			t.Fatal(err)
		}
		p.Annotations[ReasonAnnotation] = "fallback"
		if err := f.c.Update(context.Background(), &p); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		pods    func(t *testing.T, f *driftFixture)
		evicted []string
		message string
	}{
		{"a Spot replica moves, not a fallback one", func(t *testing.T, f *driftFixture) {
			f.pod(t, v1alpha1.CapacityOnDemand, corev1.PodSpec{})
			fallbackPod(t, f)
			f.pod(t, v1alpha1.CapacitySpot, corev1.PodSpec{})
			fallbackPod(t, f)
		}, []string{"web-3"}, "evicted 1 replicas"},
		{"only fallback replicas beyond the split: nothing moves", func(t *testing.T, f *driftFixture) {
			f.pod(t, v1alpha1.CapacityOnDemand, corev1.PodSpec{})
			fallbackPod(t, f)
			fallbackPod(t, f)
			fallbackPod(t, f)
		}, nil, "1 replicas beyond the split are on fallback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newDriftFixture(t, true, enabled, corev1.PodSpec{})
			var p v1alpha1.ClusterPolicy
			if err := f.c.Get(context.Background(), client.ObjectKey{Name: "prod"}, &p); err != nil {
				t.Fatal(err)
			}
			// Half On-Demand: 2 and 2 of 4.
			p.Spec.Distribution.OnDemandPercent = ptr.To[int32](50)
			if err := f.c.Update(context.Background(), &p); err != nil {
				t.Fatal(err)
			}
			tc.pods(t, f)
			before := f.pods(t)
			f.reconcile(t)
			after := f.pods(t)
			var evicted []string
			for _, name := range before {
				if !slices.Contains(after, name) {
					evicted = append(evicted, name)
				}
			}
			if !slices.Equal(evicted, tc.evicted) {
				t.Errorf("evicted %v, want %v", evicted, tc.evicted)
			}
			if msg := f.message(t); !strings.Contains(msg, tc.message) {
				t.Errorf("status message %q, want it to contain %q", msg, tc.message)
			}
		})
	}
}

// TestDriftLeavesPoolLimitedWorkloadsAlone: a workload whose pods can land only on
// NodePools Ballast does not manage, or only on pools that offer one capacity type, is
// not moved toward a split that its pools cannot give (its replacements would be placed
// the same way again); a workload of the same pods that can land anywhere is.
func TestDriftLeavesPoolLimitedWorkloadsAlone(t *testing.T) {
	arch := func(values ...string) karpv1.NodeSelectorRequirementWithMinValues {
		return req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, values...)
	}
	for _, tc := range []struct {
		name     string
		onDemand []string // the architectures of Ballast's On-Demand pool
		template corev1.PodSpec
		evicted  int
		message  string
	}{
		{"anywhere: moved", []string{"amd64"}, corev1.PodSpec{}, 4, "evicted 4 replicas"},
		{"only a hand-kept pool: left alone", []string{"amd64"}, corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelArchStable: "arm64"}},
			0, "left alone: the pod template targets NodePools Ballast does not manage"},
		{"only On-Demand pools: left alone", []string{"amd64", "arm64"}, corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelArchStable: "arm64"}},
			0, "left alone: no NodePool the pod template can land on offers Spot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newDriftFixture(t, true, enabled, tc.template)
			for _, np := range []*karpv1.NodePool{
				testPool("ballast-prod-spot", nil, []corev1.Taint{spotTaint}, req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "spot"), arch("amd64")),
				testPool("ballast-prod-on-demand", nil, nil, req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand"), arch(tc.onDemand...)),
				testPool("arm", nil, nil, req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand"), arch("arm64")),
			} {
				if err := f.c.Create(context.Background(), np); err != nil {
					t.Fatal(err)
				}
			}
			for range 4 {
				f.pod(t, v1alpha1.CapacityOnDemand, tc.template)
			}
			before := len(f.pods(t))
			f.reconcile(t)
			if evicted := before - len(f.pods(t)); evicted != tc.evicted {
				t.Errorf("evicted %d pods, want %d", evicted, tc.evicted)
			}
			if msg := f.message(t); !strings.Contains(msg, tc.message) {
				t.Errorf("status message %q, want it to contain %q", msg, tc.message)
			}
		})
	}
}
