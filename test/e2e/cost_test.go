package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	splitmodel "github.com/ballast-dev/ballast/split"
	"github.com/ballast-dev/ballast/test/argocd"
)

// handCost prices the cluster's nodes by hand from kwok's price table, the way a
// user checks a bill: every node 730 hours at On-Demand (potential), and at the price
// of its capacity type (actual).
func handCost(ctx context.Context, table map[string]localcluster.KwokPrice) (potential, actual float64, nodes, spot, replicas, spotReplicas int, err error) {
	var list corev1.NodeList
	if err := kube.Client.List(ctx, &list); err != nil {
		return 0, 0, 0, 0, 0, 0, err
	}
	var pods corev1.PodList
	if err := kube.Client.List(ctx, &pods); err != nil {
		return 0, 0, 0, 0, 0, 0, err
	}
	onSpot := map[string]bool{}
	for _, n := range list.Items {
		p, ok := table[n.Labels[corev1.LabelInstanceTypeStable]]
		if !ok {
			continue // not a kwok node: the controller cannot price it either
		}
		nodes++
		onSpot[n.Name] = n.Labels[karpv1.CapacityTypeLabelKey] == karpv1.CapacityTypeSpot
		potential += 730 * p.OnDemand
		if n.Labels[karpv1.CapacityTypeLabelKey] == karpv1.CapacityTypeSpot {
			spot++
			actual += 730 * p.Spot
		} else {
			actual += 730 * p.OnDemand
		}
	}
	// Workload replicas: pods running on the priced nodes, DaemonSet pods not counted.
	for _, p := range pods.Items {
		spotNode, priced := onSpot[p.Spec.NodeName]
		owner := metav1.GetControllerOf(&p)
		if !priced || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || (owner != nil && (owner.Kind == "DaemonSet" || owner.Kind == "Node")) {
			continue
		}
		replicas++
		if spotNode {
			spotReplicas++
		}
	}
	return potential, actual, nodes, spot, replicas, spotReplicas, nil
}

// gauge returns the sum of the series of family (a gauge or a counter) whose labels
// include want.
func gauge(families map[string]*dto.MetricFamily, family string, want map[string]string) (float64, bool) {
	f := families[family]
	if f == nil {
		return 0, false
	}
	sum, found := 0.0, false
	for _, m := range f.GetMetric() {
		match := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if match {
			found = true
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return sum, found
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.015 }

// TestRuntimeCostAndStatus: after the distributor places a workload, the cost the
// controller reports — in its metrics, in the ClusterPolicy's status and columns,
// and through `ballast status` — equals a hand computation of the nodes' prices; the
// policy is Ready, and a quiet cluster leaves the ClusterPolicy unwritten.
func TestRuntimeCostAndStatus(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	optIn(t, ns)
	createRule(t, ns, 1, 0, v1alpha1.CostOptimized)
	if err := kube.Client.Create(ctx, deployment(ns, "shop", 4, "500m", nil)); err != nil {
		t.Fatal(err)
	}
	waitSplit(t, ns, "shop", splitmodel.Counts{OnDemand: 1, Spot: 3}, 3*time.Minute)

	table, err := localcluster.KwokPriceTable()
	if err != nil {
		t.Fatal(err)
	}
	var policy v1alpha1.ClusterPolicy
	var families map[string]*dto.MetricFamily
	err = kube.Eventually(ctx, "the reported cost to equal the hand computation", 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		potential, actual, nodes, spot, replicas, spotReplicas, err := handCost(ctx, table)
		if err != nil {
			return false, "", err
		}
		if err := kube.Client.Get(ctx, client.ObjectKey{Name: e2eCluster}, &policy); err != nil {
			return false, "", err
		}
		if families, err = localcluster.ScrapeMetrics(ctx, ballast.MetricsURL); err != nil {
			return false, "", err
		}
		c := policy.Status.Cost
		if c == nil {
			return false, "no status.cost yet", nil
		}
		mPotential, _ := gauge(families, "ballast_cost_potential_monthly_usd", map[string]string{"cluster": e2eCluster})
		mActual, _ := gauge(families, "ballast_cost_actual_monthly_usd", map[string]string{"cluster": e2eCluster})
		mSpot, _ := gauge(families, "ballast_cost_savings_monthly_usd", map[string]string{"cluster": e2eCluster, "source": "spot"})
		ok := c.MonthlyPotential == fmt.Sprintf("%.2f", potential) && c.MonthlyActual == fmt.Sprintf("%.2f", actual) &&
			c.MonthlySavings == fmt.Sprintf("%.2f", potential-actual) && int(c.Nodes) == nodes && int(c.SpotNodes) == spot &&
			int(c.Replicas) == replicas && int(c.SpotReplicas) == spotReplicas &&
			near(mPotential, potential) && near(mActual, actual) && near(mSpot, potential-actual)
		return ok, fmt.Sprintf("by hand %d nodes (%d Spot) %d replicas (%d Spot) potential %.2f actual %.2f; status %d nodes (%d Spot) %d replicas (%d Spot) potential %s actual %s savings %s; metrics potential %.2f actual %.2f spot savings %.2f",
			nodes, spot, replicas, spotReplicas, potential, actual, c.Nodes, c.SpotNodes, c.Replicas, c.SpotReplicas, c.MonthlyPotential, c.MonthlyActual, c.MonthlySavings, mPotential, mActual, mSpot), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := policy.Status.Cost
	t.Logf("cost: %d nodes, potential %s, actual %s, savings %s, %d of %d replicas on Spot (%d%%)", c.Nodes, c.MonthlyPotential, c.MonthlyActual, c.MonthlySavings, c.SpotReplicas, c.Replicas, c.SpotPercent)

	// The workload's split is in the metrics as it is in the rule's status.
	for capacity, want := range map[string]float64{v1alpha1.CapacityOnDemand: 1, v1alpha1.CapacitySpot: 3} {
		got, ok := gauge(families, "ballast_workload_replicas", map[string]string{"namespace": ns, "workload": "shop", "capacity_type": capacity, "split": "desired"})
		if !ok || got != want {
			t.Errorf("ballast_workload_replicas desired %s = %v (found %v), want %v", capacity, got, ok, want)
		}
	}
	if got, ok := gauge(families, "ballast_placements_total", map[string]string{"capacity_type": v1alpha1.CapacitySpot}); !ok || got < 3 {
		t.Errorf("ballast_placements_total{capacity_type=spot} = %v (found %v), want at least 3", got, ok)
	}

	// Ready, as kstatus reads it.
	ready := findCondition(policy.Status.Conditions, "Ready")
	if ready == nil || ready.Status != metav1.ConditionTrue || policy.Status.ObservedGeneration != policy.Generation {
		t.Fatalf("Ready = %+v, observedGeneration %d of %d", ready, policy.Status.ObservedGeneration, policy.Generation)
	}

	// Argo CD shows it Healthy.
	if status, msg := argoHealth(t, &policy); status != argocd.Healthy {
		t.Fatalf("Argo CD health of the ClusterPolicy: %s (%s)", status, msg)
	}

	// The columns of `kubectl get clusterpolicy` show the figures.
	cells := tableRow(t, "/apis/ballast.dev/v1alpha1/clusterpolicies/"+e2eCluster)
	if cells["Savings/mo"] != c.MonthlySavings || cells["Spot Share"] != fmt.Sprint(c.SpotPercent) || cells["Ready"] != "True" {
		t.Fatalf("kubectl get columns %v, want Savings/mo %s, Spot Share %d, Ready True", cells, c.MonthlySavings, c.SpotPercent)
	}

	// A quiet cluster is not rewritten: the runtime controllers' writes settle.
	err = kube.Eventually(ctx, "the ClusterPolicy to stay unwritten for 10s", 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		var before, after v1alpha1.ClusterPolicy
		if err := kube.Client.Get(ctx, client.ObjectKey{Name: e2eCluster}, &before); err != nil {
			return false, "", err
		}
		time.Sleep(10 * time.Second)
		if err := kube.Client.Get(ctx, client.ObjectKey{Name: e2eCluster}, &after); err != nil {
			return false, "", err
		}
		return before.ResourceVersion == after.ResourceVersion, fmt.Sprintf("resourceVersion %s -> %s", before.ResourceVersion, after.ResourceVersion), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// `ballast status` prints the same numbers.
	if err := kube.Client.Get(ctx, client.ObjectKey{Name: e2eCluster}, &policy); err != nil {
		t.Fatal(err)
	}
	c = policy.Status.Cost
	bin, err := localcluster.BuildBallast()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "status", "--kubeconfig", kube.Kubeconfig, "--cluster", e2eCluster, "-o", "json").Output()
	if err != nil {
		t.Fatalf("ballast status: %v", err)
	}
	var rep struct {
		Cost struct {
			MonthlyPotential, MonthlyActual, MonthlySavings *float64
			SpotPercent                                     int32
		}
		Workloads []struct {
			Namespace, Name   string
			Desired, Observed struct{ OnDemand, Spot int32 }
			Reasons           map[string]int32
		}
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("ballast status -o json: %v\n%s", err, out)
	}
	money := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.2f", *p)
	}
	if money(rep.Cost.MonthlyPotential) != c.MonthlyPotential || money(rep.Cost.MonthlyActual) != c.MonthlyActual ||
		money(rep.Cost.MonthlySavings) != c.MonthlySavings || rep.Cost.SpotPercent != c.SpotPercent {
		t.Fatalf("ballast status cost %s/%s/%s %d%%, status %s/%s/%s %d%%", money(rep.Cost.MonthlyPotential), money(rep.Cost.MonthlyActual),
			money(rep.Cost.MonthlySavings), rep.Cost.SpotPercent, c.MonthlyPotential, c.MonthlyActual, c.MonthlySavings, c.SpotPercent)
	}
	found := false
	for _, w := range rep.Workloads {
		if w.Namespace == ns && w.Name == "shop" {
			found = true
			if w.Desired.OnDemand != 1 || w.Desired.Spot != 3 || w.Observed.OnDemand != 1 || w.Observed.Spot != 3 || w.Reasons["base"] != 1 || w.Reasons["split"] != 3 {
				t.Fatalf("ballast status of shop: %+v", w)
			}
		}
	}
	if !found {
		t.Fatalf("ballast status lists no %s/shop:\n%s", ns, out)
	}
	text, err := exec.Command(bin, "status", "--kubeconfig", kube.Kubeconfig, "--cluster", e2eCluster).Output()
	if err != nil || !strings.Contains(string(text), c.MonthlySavings) {
		t.Fatalf("ballast status (table) does not show the savings %s (%v):\n%s", c.MonthlySavings, err, text)
	}
}

// argoHealth evaluates the object's health.lua as Argo CD does.
func argoHealth(t *testing.T, obj client.Object) (string, string) {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(reflect.TypeOf(obj).Elem().Name()))
	status, msg, err := argocd.Health(u)
	if err != nil {
		t.Fatal(err)
	}
	return status, msg
}

// TestArgoCDHealthOfABrokenSource: a PolicySource whose repository cannot be reached
// keeps failing; Argo CD shows it Degraded, with the failure, not Healthy.
func TestArgoCDHealthOfABrokenSource(t *testing.T) {
	ctx := context.Background()
	ps := &v1alpha1.PolicySource{
		ObjectMeta: metav1.ObjectMeta{Namespace: localcluster.BallastNamespace, Name: "broken"},
		Spec: v1alpha1.PolicySourceSpec{
			Cluster: e2eCluster, Interval: metav1.Duration{Duration: time.Minute},
			Git: &v1alpha1.GitSource{URL: "https://127.0.0.1:1/nowhere.git"},
		},
	}
	if err := kube.Client.Create(ctx, ps); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.Client.Delete(context.Background(), ps) })
	var status, msg string
	err := kube.Eventually(ctx, "Argo CD health Degraded", time.Minute, func(ctx context.Context) (bool, string, error) {
		if err := kube.Client.Get(ctx, client.ObjectKeyFromObject(ps), ps); err != nil {
			return false, "", err
		}
		status, msg = argoHealth(t, ps)
		return status == argocd.Degraded, status + ": " + msg, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "127.0.0.1:1") {
		t.Fatalf("the Degraded message does not say what failed: %q", msg)
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

// tableRow reads path the way kubectl get does (as a server-side Table) and returns
// the first row's cells by column name.
func tableRow(t *testing.T, path string) map[string]string {
	t.Helper()
	httpc, err := rest.HTTPClientFor(kube.Config)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, strings.TrimSuffix(kube.Config.Host, "/")+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tbl metav1.Table
	if err := json.Unmarshal(body, &tbl); err != nil || len(tbl.Rows) == 0 {
		t.Fatalf("not a table (%v): %s", err, body)
	}
	out := map[string]string{}
	for i, col := range tbl.ColumnDefinitions {
		if i < len(tbl.Rows[0].Cells) {
			out[col.Name] = fmt.Sprint(tbl.Rows[0].Cells[i])
		}
	}
	return out
}
