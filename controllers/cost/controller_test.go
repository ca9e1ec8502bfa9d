package cost_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	costctl "github.com/ballast-dev/ballast/controllers/cost"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/metrics"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// The test's own prices, so that the hand computation does not depend on the
// built-in catalogue.
const testPrices = `
instanceTypes:
  t1.large: {vcpu: 2, memory: 8, arch: amd64, maxPods: 29}
  t1.xlarge: {vcpu: 4, memory: 16, arch: amd64, maxPods: 58}
prices:
  us-east-1:
    t1.large: [0.10, 0.04]
    t1.xlarge: [0.20, 0.07]
`

func node(name, instanceType, capacity string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		corev1.LabelInstanceTypeStable: instanceType, "karpenter.sh/capacity-type": capacity,
		corev1.LabelTopologyRegion: "us-east-1", corev1.LabelTopologyZone: "us-east-1a",
	}}}
}

func pod(ns, name, nodeName, cpu, memory string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "x",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}}}}},
	}
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
		if p, ok := o.(*corev1.Pod); ok {
			p.Status.Phase = corev1.PodRunning
			if err := env.Client.Status().Update(context.Background(), p); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func money(x float64) string { return fmt.Sprintf("%.2f", x) }

// TestCostOfTheClusterAsItRuns prices three nodes and checks status.cost, the
// condition and the metrics against a hand computation, then that an unchanged
// cluster is not rewritten, that a node going away changes the figures, and that a
// node of a type without a price is left out and said so.
func TestCostOfTheClusterAsItRuns(t *testing.T) {
	ctx := context.Background()
	const cluster = "cost-test"
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "cost-test"},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:   v1alpha1.ClusterIdentity{Name: cluster, Region: "us-east-1"},
			NodeClass: v1alpha1.NodeClassSpec{Role: "r"},
		},
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	create(t, policy, ns,
		node("cost-od-1", "t1.large", "on-demand"), node("cost-spot-1", "t1.large", "spot"), node("cost-spot-2", "t1.xlarge", "spot"),
		pod("shop", "web-a", "cost-od-1", "1", "4Gi"), pod("shop", "web-b", "cost-spot-1", "1", "4Gi"), pod("shop", "web-c", "cost-spot-2", "2", "8Gi"))

	book, err := cost.ParseCatalogue([]byte(testPrices))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	r := &costctl.Reconciler{Client: env.Client, Cluster: cluster, Prices: &costctl.Prices{Base: book}, Now: func() time.Time { return now }}
	reconcileOnce := func() *v1alpha1.ClusterPolicy {
		t.Helper()
		if _, err := r.Reconcile(ctx, reconcile.Request{}); err != nil {
			t.Fatal(err)
		}
		var got v1alpha1.ClusterPolicy
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(policy), &got); err != nil {
			t.Fatal(err)
		}
		return &got
	}

	got := reconcileOnce()
	// By hand: 730 hours of each node.
	potential := 730 * (0.10 + 0.10 + 0.20)
	actual := 730 * (0.10 + 0.04 + 0.07)
	c := got.Status.Cost
	if c == nil {
		t.Fatalf("no status.cost; conditions %+v", got.Status.Conditions)
	}
	want := v1alpha1.CostStatus{Prices: costctl.PricesCatalogue, Nodes: 3, SpotNodes: 2, Replicas: 3, SpotReplicas: 2, SpotPercent: 66,
		MonthlyPotential: money(potential), MonthlyActual: money(actual), MonthlySavings: money(potential - actual),
		SpotSavings: money(potential - actual), CommitmentSavings: "0.00"}
	if c.Prices != want.Prices || c.Nodes != want.Nodes || c.SpotNodes != want.SpotNodes || c.Replicas != want.Replicas ||
		c.SpotReplicas != want.SpotReplicas || c.SpotPercent != want.SpotPercent || c.MonthlyPotential != want.MonthlyPotential ||
		c.MonthlyActual != want.MonthlyActual || c.MonthlySavings != want.MonthlySavings || c.SpotSavings != want.SpotSavings ||
		c.CommitmentSavings != want.CommitmentSavings {
		t.Fatalf("status.cost = %+v\nwant %+v", *c, want)
	}
	if len(c.Namespaces) == 0 || c.Namespaces[0].Namespace != "shop" {
		t.Fatalf("namespaces = %+v, want shop first", c.Namespaces)
	}
	cond := findCondition(got.Status.Conditions, costctl.CostReportedCondition)
	if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != costctl.PricedReason {
		t.Fatalf("CostReported = %+v", cond)
	}
	for name, m := range map[string]struct{ got, want float64 }{
		"potential": {testutil.ToFloat64(metrics.CostPotential.WithLabelValues(cluster)), potential},
		"actual":    {testutil.ToFloat64(metrics.CostActual.WithLabelValues(cluster)), actual},
		"spot":      {testutil.ToFloat64(metrics.CostSavings.WithLabelValues(cluster, "spot")), potential - actual},
		"share":     {testutil.ToFloat64(metrics.SpotShare.WithLabelValues(cluster)), 2.0 / 3},
	} {
		if diff := m.got - m.want; diff > 0.005 || diff < -0.005 {
			t.Errorf("metric %s = %v, want %v", name, m.got, m.want)
		}
	}

	// Steady state: nothing changed, nothing written.
	now = now.Add(time.Minute)
	if again := reconcileOnce(); again.ResourceVersion != got.ResourceVersion {
		t.Fatalf("an unchanged cluster rewrote the ClusterPolicy (resourceVersion %s -> %s)", got.ResourceVersion, again.ResourceVersion)
	}

	// A Spot node goes away: its cost and its savings go with it.
	if err := env.Client.Delete(ctx, node("cost-spot-2", "", "")); err != nil {
		t.Fatal(err)
	}
	got = reconcileOnce()
	if p, a := money(730*0.20), money(730*0.14); got.Status.Cost.MonthlyPotential != p || got.Status.Cost.MonthlyActual != a {
		t.Fatalf("after a node left: potential %s actual %s, want %s %s", got.Status.Cost.MonthlyPotential, got.Status.Cost.MonthlyActual, p, a)
	}

	// A node of an instance type without a price: left out, and the condition says so.
	create(t, node("cost-odd", "x9.huge", "on-demand"))
	got = reconcileOnce()
	cond = findCondition(got.Status.Conditions, costctl.CostReportedCondition)
	if cond == nil || cond.Reason != costctl.PartlyPricedReason || got.Status.Cost.Nodes != 2 {
		t.Fatalf("with an unpriced node: CostReported %+v, nodes %d", cond, got.Status.Cost.Nodes)
	}
}

func findCondition(list []metav1.Condition, typ string) *metav1.Condition {
	for i := range list {
		if list[i].Type == typ {
			return &list[i]
		}
	}
	return nil
}
