package app

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ballast-dev/ballast/cloud"
	"github.com/ballast-dev/ballast/cloud/fake"
	"github.com/ballast-dev/ballast/cost"
)

// examples returns the absolute path of a file under examples/.
func examples(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "..", "examples", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func estimateJSON(t *testing.T, args ...string) *cost.Report {
	t.Helper()
	code, out, errOut := run(append([]string{"estimate", "--output", "json"}, args...)...)
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	var r cost.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output is not a report: %v\n%s", err, out)
	}
	return &r
}

func money(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 0.005 {
		t.Errorf("%s = %.2f, want %.2f", what, got, want)
	}
}

func attribution(r *cost.Report, ns string) float64 {
	for _, a := range r.Namespaces {
		if a.Namespace == ns {
			return a.MonthlyCost
		}
	}
	return -1
}

// TestEstimateDescribedScenario is the "done when": ballast estimate on a
// described scenario gives the figures of a hand computation.
func TestEstimateDescribedScenario(t *testing.T) {
	// examples/estimate/prod-us-nodes.yaml under examples/policies (prod-us, us-east-1,
	// commitments discovered through the AWS API, so none offline):
	// 10 m6i.xlarge, Spot share 0.6 -> ceil(10 * 0.4) = 4 On-Demand, 6 Spot.
	// cost/prices.yaml, us-east-1: m6i.xlarge On-Demand 0.192, Spot 0.073 per hour.
	// Idle half the month (365 h) with 2 nodes, the On-Demand ones.
	//   active: 365 * (4 * 0.192 + 6 * 0.073) = 365 * 1.206 = 440.19
	//   idle:   365 * (2 * 0.192)                          = 140.16
	//   cost 580.35; On-Demand 365 * 10 * 0.192 + 140.16 = 700.80 + 140.16 = 840.96
	//   savings 840.96 - 580.35 = 260.61; without scale-down 730 * 1.206 = 880.38, so the
	//   scale-down saves 880.38 - 580.35 = 300.03.
	r := estimateJSON(t, examples(t, "policies"), "--scenario", examples(t, "estimate/prod-us-nodes.yaml"))
	if r.Cluster != "prod-us" || r.Region != "us-east-1" || r.Mode != cost.ModeNodes {
		t.Errorf("cluster %s, region %s, mode %s", r.Cluster, r.Region, r.Mode)
	}
	money(t, "monthly cost", r.MonthlyCost, 580.35)
	money(t, "On-Demand cost", r.MonthlyOnDemandCost, 840.96)
	money(t, "savings", r.MonthlySavings, 260.61)
	money(t, "scale-down savings", r.MonthlyScaleDownSavings, 300.03)
	// Every node runs 2 shop/web + 1 payments/api (replicas) and 1 aws-node pod.
	if r.SpotShare != 0.6 || r.Replicas != 30 || r.SpotReplicas != 18 || r.Nodes != 10 || r.SpotNodes != 6 || r.IdleNodes != 2 {
		t.Errorf("spot share %v, replicas %d/%d, nodes %d/%d/%d", r.SpotShare, r.SpotReplicas, r.Replicas, r.SpotNodes, r.Nodes, r.IdleNodes)
	}
	// All nodes run the same pods, so each namespace gets its weight on one m6i.xlarge
	// (allocatable 3920m CPU and 14850143027 bytes, see cost.Allocatable) times the
	// total, 580.35: a pod weighs the average of its CPU and memory shares.
	const cpu, mem = 3920.0, 14850143027.0
	gib := float64(1 << 30)
	shop := 2 * (1000/cpu + 2*gib/mem) / 2
	payments := (500/cpu + gib/mem) / 2
	system := (25/cpu + 64*(1<<20)/mem) / 2
	money(t, "shop", attribution(r, "shop"), shop*580.35)
	money(t, "payments", attribution(r, "payments"), payments*580.35)
	money(t, "kube-system", attribution(r, "kube-system"), system*580.35)
	money(t, "idle", attribution(r, cost.Idle), (1-shop-payments-system)*580.35)

	code, out, _ := run("estimate", examples(t, "policies"), "--scenario", examples(t, "estimate/prod-us-nodes.yaml"))
	for _, want := range []string{"Cluster prod-us (us-east-1)", "Monthly cost        $580.35", "On-Demand only      $840.96",
		"Savings             $260.61 (31.0%)", "60.0% of replicas (18 of 30)", "10 (6 Spot), 2 while scaled down",
		"m6i.xlarge on-demand      4  $420.48", "commitments are discovered through the AWS API", "as of 2025-06"} {
		if code != ExitOK || !strings.Contains(out, want) {
			t.Errorf("exit %d, text output lacks %q:\n%s", code, want, out)
		}
	}
}

func TestEstimateFlags(t *testing.T) {
	policies := examples(t, "policies")
	// 10 m6i.xlarge without a Spot share: prod-us splits the nodes like replicas,
	// 2 base + ceil(8 * 30%) = 5 On-Demand, 5 Spot. A quarter of the month (182.5 h)
	// only 2 run: 547.5 * (5 * 0.192 + 5 * 0.073) = 547.5 * 1.325 = 725.4375, plus
	// 182.5 * 0.384 = 70.08 -> 795.52. On-Demand: 547.5 * 1.92 + 70.08 = 1121.28.
	r := estimateJSON(t, policies, "--cluster", "prod-us", "--nodes", "10", "--instance-type", "m6i.xlarge", "--idle", "0.25", "--min-nodes", "2")
	money(t, "cost", r.MonthlyCost, 795.52)
	money(t, "On-Demand", r.MonthlyOnDemandCost, 1121.28)
	money(t, "savings", r.MonthlySavings, 1121.28-795.52)
	if r.SpotShare != 0.5 || r.SpotNodes != 5 || r.IdleNodes != 2 {
		t.Errorf("spot share %v, spot nodes %d, idle nodes %d", r.SpotShare, r.SpotNodes, r.IdleNodes)
	}
	// With a Spot share and pods: 4 nodes, 2 On-Demand, 2 Spot, 3 pods each, all month:
	// 730 * (2 * 0.192 + 2 * 0.073) = 730 * 0.53 = 386.90; 6 of 12 replicas on Spot.
	r = estimateJSON(t, policies, "--cluster", "prod-us", "--nodes", "4", "--instance-type", "m6i.xlarge", "--spot-share", "0.5",
		"--pods-per-node", "3", "--pod-cpu", "1", "--pod-memory", "2Gi")
	money(t, "cost", r.MonthlyCost, 386.90)
	if r.Replicas != 12 || r.SpotReplicas != 6 || attribution(r, "default") <= 0 {
		t.Errorf("replicas %d/%d, namespaces %+v", r.SpotReplicas, r.Replicas, r.Namespaces)
	}
	// A price file laid over the catalogue: m6i.xlarge at 0.20 On-Demand, 0.10 Spot.
	// 730 * (2 * 0.20 + 2 * 0.10) = 438.
	prices := filepath.Join(t.TempDir(), "prices.yaml")
	if err := os.WriteFile(prices, []byte("prices:\n  us-east-1:\n    m6i.xlarge: [0.20, 0.10]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = estimateJSON(t, policies, "--cluster", "prod-us", "--nodes", "4", "--instance-type", "m6i.xlarge", "--spot-share", "0.5", "--prices", prices)
	money(t, "cost with the price file", r.MonthlyCost, 438)
}

func TestEstimateSnapshot(t *testing.T) {
	policies, snapshot := examples(t, "policies"), examples(t, "estimate/prod-eu-snapshot.yaml")
	// As it runs, under prod-eu (12 reserved m6i.2xlarge, a 4.20/h Compute Savings Plan,
	// discounts 37% and 27%), cost/prices.yaml eu-central-1 per hour:
	//   2 On-Demand m6i.2xlarge, reserved: 2 * 0.46 * 0.63           = 0.5796
	//   On-Demand c6i.2xlarge, other family, Savings Plan: 0.388 * 0.73 = 0.28324
	//   Spot m7g.2xlarge 0.184 + m6i.2xlarge 0.1958 + r6i.xlarge 0.1158 = 0.4956
	//   730 * 1.35844 = 991.66; On-Demand 730 * (3 * 0.46 + 0.388 + 0.3912 + 0.304) = 1798.14
	//   unused: 10 reservations * 0.2898 + (4.20 - 0.28324) = 6.81476/h -> 4974.77
	r := estimateJSON(t, policies, "--cluster", "prod-eu", "--snapshot", snapshot, "--as-is", "--date", "2026-07-01")
	money(t, "cost", r.MonthlyCost, 991.66)
	money(t, "On-Demand", r.MonthlyOnDemandCost, 1798.14)
	money(t, "unused commitment", r.MonthlyUnusedCommitment, 4974.77)
	// 24 running replicas (DaemonSet pods and the pending worker aside), 15 on Spot.
	if r.Mode != cost.ModeNodes || r.Replicas != 24 || r.SpotReplicas != 15 || r.Nodes != 6 {
		t.Errorf("mode %s, replicas %d/%d, nodes %d", r.Mode, r.SpotReplicas, r.Replicas, r.Nodes)
	}
	// Under the policy the replicas (the pending one too) are planned: 25 of them.
	planned := estimateJSON(t, policies, "--cluster", "prod-eu", "--snapshot", snapshot, "--date", "2026-07-01")
	if planned.Mode != cost.ModePlanned || planned.Replicas != 25 || planned.MonthlyCost <= 0 ||
		math.Abs(planned.MonthlyOnDemandCost-planned.MonthlyCost-planned.MonthlySavings) > 0.011 {
		t.Errorf("planned = %+v", planned)
	}
	// The commitments expire in 2031: after that they are left out and noted.
	late := estimateJSON(t, policies, "--cluster", "prod-eu", "--snapshot", snapshot, "--as-is", "--date", "2032-01-01")
	if late.MonthlyUnusedCommitment != 0 || late.MonthlyCost <= r.MonthlyCost || len(late.Notes) != 2 {
		t.Errorf("after expiry: cost %v, unused %v, notes %q", late.MonthlyCost, late.MonthlyUnusedCommitment, late.Notes)
	}
}

func TestEstimateWorkloadsScenario(t *testing.T) {
	r := estimateJSON(t, examples(t, "policies"), "--scenario", examples(t, "estimate/prod-eu-workloads.yaml"), "--date", "2026-07-01")
	if r.Cluster != "prod-eu" || r.Mode != cost.ModePlanned || r.Replicas != 90 {
		t.Fatalf("cluster %s, mode %s, replicas %d", r.Cluster, r.Mode, r.Replicas)
	}
	for _, w := range r.Workloads {
		// The ledger is annotated ballast.dev/spot: never; batch workers are all Spot.
		if w.Workload == "ledger" && (w.OnDemandReplicas != 3 || w.SpotReplicas != 0) {
			t.Errorf("ledger split %d/%d", w.OnDemandReplicas, w.SpotReplicas)
		}
		if w.Workload == "workers" && (w.OnDemandReplicas != 0 || w.SpotReplicas != 40) {
			t.Errorf("workers split %d/%d", w.OnDemandReplicas, w.SpotReplicas)
		}
		// checkout: rule checkout, 2 base + ceil(6 * 50%) = 5 On-Demand.
		if w.Workload == "checkout" && (w.OnDemandReplicas != 5 || w.SpotReplicas != 3) {
			t.Errorf("checkout split %d/%d", w.OnDemandReplicas, w.SpotReplicas)
		}
	}
}

func TestEstimateUsage(t *testing.T) {
	policies, scenario := examples(t, "policies"), examples(t, "estimate/prod-us-nodes.yaml")
	workloads, snapshot := examples(t, "estimate/prod-eu-workloads.yaml"), examples(t, "estimate/prod-eu-snapshot.yaml")
	broken := filepath.Join(t.TempDir(), "broken")
	if err := os.MkdirAll(broken, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(broken, "p.yaml"), []byte(cleanPolicy+"  distribution:\n    onDemandPercent: 120\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"nothing described", []string{policies, "--cluster", "prod-us"}, ExitError, "describe the cluster with one of"},
		{"two descriptions", []string{policies, "--scenario", scenario, "--snapshot", snapshot}, ExitError, "describe the cluster with one of"},
		{"unknown output", []string{policies, "--scenario", scenario, "--output", "xml"}, ExitError, `unknown output "xml"`},
		{"unknown cluster", []string{policies, "--scenario", scenario, "--cluster", "prod-mars"}, ExitError, `no ClusterPolicy for cluster "prod-mars"`},
		{"cluster not named", []string{policies, "--snapshot", snapshot}, ExitError, "name the cluster with --cluster (clusters in"},
		{"missing file", []string{policies, "--scenario", "nope.yaml"}, ExitError, "cannot read nope.yaml"},
		{"scenario is not a scenario", []string{policies, "--scenario", snapshot, "--cluster", "prod-eu"}, ExitError, "not a scenario"},
		{"as-is without nodes", []string{policies, "--scenario", workloads, "--as-is"}, ExitError, "describes no nodes"},
		{"bad idle", []string{policies, "--scenario", scenario, "--idle", "2"}, ExitError, "--idle must be between 0 and 1"},
		{"bad date", []string{policies, "--scenario", scenario, "--date", "soon"}, ExitError, `--date "soon"`},
		{"bad price file", []string{policies, "--scenario", scenario, "--prices", scenario}, ExitError, "invalid price catalogue"},
		{"quick scenario without a type", []string{policies, "--cluster", "prod-us", "--nodes", "3"}, ExitError, "needs --nodes (at least 1) and --instance-type"},
		{"unpriced instance type", []string{policies, "--cluster", "prod-us", "--nodes", "3", "--instance-type", "x9.huge", "--spot-share", "0"}, ExitError, "no On-Demand price for x9.huge in us-east-1"},
		{"policy with errors", []string{broken, "--cluster", "prod", "--nodes", "1", "--instance-type", "m6i.large"}, ExitFindings, "nothing estimated: fix the errors above"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(append([]string{"estimate"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("exit %d, want %d; stderr %q lacks %q", code, tc.code, errOut, tc.stderr)
			}
			if out != "" {
				t.Errorf("stdout is not empty: %q", out)
			}
		})
	}
}

func TestEstimateLivePrices(t *testing.T) {
	src := &fake.Prices{
		OnDemand: map[string]map[string]float64{"us-east-1": {"m6i.xlarge": 0.25}},
		Spot:     map[string]map[string]float64{"us-east-1": {"m6i.xlarge": 0.05}},
	}
	var regions []string
	old := newPriceSource
	newPriceSource = func(_ context.Context, region string) (cloud.PriceSource, error) {
		regions = append(regions, region)
		return src, nil
	}
	t.Cleanup(func() { newPriceSource = old })
	args := []string{examples(t, "policies"), "--cluster", "prod-us", "--nodes", "4", "--instance-type", "m6i.xlarge", "--spot-share", "0.5", "--live-prices"}
	// 730 * (2 * 0.25 + 2 * 0.05) = 438, from the live prices.
	r := estimateJSON(t, args...)
	money(t, "cost at live prices", r.MonthlyCost, 438)
	calls := src.Calls()
	if len(regions) != 1 || regions[0] != "us-east-1" || len(calls) != 2 || strings.Join(calls[0].InstanceTypes, ",") != "m6i.xlarge" {
		t.Errorf("regions %v, calls %+v", regions, calls)
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&cloud.ThrottledError{APIError: cloud.APIError{Op: "pricing:GetProducts", Code: "ThrottlingException"}}, "AWS throttled the price queries"},
		{&cloud.AccessDeniedError{APIError: cloud.APIError{Op: "pricing:GetProducts", Code: "AccessDeniedException"}}, "need pricing:GetProducts and ec2:DescribeSpotPriceHistory"},
		{errors.New("connection refused"), "failed to fetch live prices: connection refused"},
	} {
		src.Reset()
		src.SetNextError(tc.err)
		code, _, errOut := run(append([]string{"estimate"}, args...)...)
		if code != ExitError || !strings.Contains(errOut, tc.want) {
			t.Errorf("exit %d, stderr %q lacks %q", code, errOut, tc.want)
		}
	}
}
