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

// share compares a namespace's or workload's share to the cent and one more: shares
// are apportioned so that they add up to the total, which may move one by a cent.
func share(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 0.0101 {
		t.Errorf("%s = %.2f, want %.4f (to a cent)", what, got, want)
	}
}

// sums checks that the report's money adds up to the cent: potential - cost =
// savings = its breakdown, and the namespaces add up to the cost and the savings.
func sums(t *testing.T, r *cost.Report) {
	t.Helper()
	c := func(x float64) int64 { return int64(math.Round(x * 100)) }
	b := r.Savings
	if c(r.MonthlyPotential)-c(r.MonthlyCost) != c(r.MonthlySavings) || c(b.Spot)+c(b.Commitments)+c(b.ScaleDown) != c(r.MonthlySavings) {
		t.Errorf("potential %.2f, cost %.2f, savings %.2f, breakdown %+v do not add up", r.MonthlyPotential, r.MonthlyCost, r.MonthlySavings, b)
	}
	var cost, savings int64
	for _, a := range r.Namespaces {
		cost += c(a.MonthlyCost)
		savings += c(a.MonthlySavings)
	}
	if cost != c(r.MonthlyCost) || savings != c(r.MonthlySavings) {
		t.Errorf("namespaces add up to %d/%d cents, not %.2f/%.2f", cost, savings, r.MonthlyCost, r.MonthlySavings)
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
	//   cost 580.35; potential (10 nodes On-Demand all month) 730 * 10 * 0.192 = 1401.60;
	//   savings 1401.60 - 580.35 = 821.25, of which
	//     Spot: 6 nodes * 365 h * (0.192 - 0.073) = 260.61
	//     scale-down: 8 nodes off for 365 h at 0.192 = 560.64.
	r := estimateJSON(t, examples(t, "policies"), "--scenario", examples(t, "estimate/prod-us-nodes.yaml"))
	if r.Cluster != "prod-us" || r.Region != "us-east-1" || r.Mode != cost.ModeNodes {
		t.Errorf("cluster %s, region %s, mode %s", r.Cluster, r.Region, r.Mode)
	}
	money(t, "monthly cost", r.MonthlyCost, 580.35)
	money(t, "potential", r.MonthlyPotential, 1401.60)
	money(t, "savings", r.MonthlySavings, 821.25)
	money(t, "Spot savings", r.Savings.Spot, 260.61)
	money(t, "commitment savings", r.Savings.Commitments, 0)
	money(t, "scale-down savings", r.Savings.ScaleDown, 560.64)
	sums(t, r)
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
	share(t, "shop", attribution(r, "shop"), shop*580.35)
	share(t, "payments", attribution(r, "payments"), payments*580.35)
	share(t, "kube-system", attribution(r, "kube-system"), system*580.35)
	share(t, "idle", attribution(r, cost.Idle), (1-shop-payments-system)*580.35)

	code, out, _ := run("estimate", examples(t, "policies"), "--scenario", examples(t, "estimate/prod-us-nodes.yaml"))
	for _, want := range []string{"Cluster prod-us (us-east-1)", "Monthly cost         $580.35\n", "On-Demand potential  $1,401.60\n",
		"Savings              $821.25 (58.6%)\n  from Spot          $260.61\n  from scale-down    $560.64\nSpot share",
		"60.0% of replicas (18 of 30)", "10 (6 Spot), 2 while scaled down",
		"m6i.xlarge on-demand      4  $420.48", "commitments are discovered through the AWS API",
		"\nPrices: the built-in catalogue (AWS public price lists (On-Demand Linux, shared tenancy), Spot typical of the price history; approximate, as of 2025-06).\n"} {
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
	// 182.5 * 0.384 = 70.08 -> 795.52. Potential: 730 * 10 * 0.192 = 1401.60, savings
	// 606.08: Spot 547.5 * 5 * 0.119 = 325.76, scale-down 182.5 * 8 * 0.192 = 280.32.
	r := estimateJSON(t, policies, "--cluster", "prod-us", "--nodes", "10", "--instance-type", "m6i.xlarge", "--idle", "0.25", "--min-nodes", "2")
	money(t, "cost", r.MonthlyCost, 795.52)
	money(t, "potential", r.MonthlyPotential, 1401.60)
	money(t, "savings", r.MonthlySavings, 606.08)
	money(t, "Spot savings", r.Savings.Spot, 325.76)
	money(t, "scale-down savings", r.Savings.ScaleDown, 280.32)
	sums(t, r)
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

// TestEstimatePrices: the report names the prices it used.
func TestEstimatePrices(t *testing.T) {
	policies := examples(t, "policies")
	quick := []string{policies, "--cluster", "prod-us", "--nodes", "2", "--instance-type", "m6i.xlarge", "--spot-share", "0.5"}
	const builtIn = "the built-in catalogue (AWS public price lists (On-Demand Linux, shared tenancy), Spot typical of the price history; approximate, as of 2025-06)"
	if r := estimateJSON(t, quick...); r.Prices != builtIn {
		t.Errorf("prices = %q, want %q", r.Prices, builtIn)
	}
	// A file laid over it is named, with its own source and date, even when it sets
	// neither.
	dir := t.TempDir()
	named, bare := filepath.Join(dir, "negotiated.yaml"), filepath.Join(dir, "bare.yaml")
	for file, data := range map[string]string{
		named: "source: our EDP contract\nasOf: \"2026-03\"\nprices:\n  us-east-1:\n    m6i.xlarge: [0.18, 0]\n",
		bare:  "prices:\n  us-east-1:\n    m6i.xlarge: [0.18, 0]\n",
	} {
		if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for file, want := range map[string]string{
		named: named + " (our EDP contract, as of 2026-03) over " + builtIn,
		bare:  bare + " over " + builtIn,
	} {
		r := estimateJSON(t, append(quick, "--prices", file)...)
		if r.Prices != want {
			t.Errorf("prices = %q, want %q", r.Prices, want)
		}
		// 730 * (0.18 + 0.073): the file's On-Demand price, the catalogue's Spot price.
		money(t, "cost", r.MonthlyCost, 730*(0.18+0.073))
		code, out, _ := run(append([]string{"estimate"}, append(quick, "--prices", file)...)...)
		if code != ExitOK || !strings.Contains(out, "\nPrices: "+want+".\n") {
			t.Errorf("exit %d, the text output does not name the prices %q:\n%s", code, want, out)
		}
	}
}

// TestEstimateGPU: workloads requesting GPUs are planned on GPU instance types the
// policy allows, and a policy that allows none says so instead of planning CPU nodes.
func TestEstimateGPU(t *testing.T) {
	const scenario = `apiVersion: estimate.ballast.dev/v1alpha1
kind: Scenario
metadata: {name: gpu}
spec:
  workloads:
    - {namespace: ml, name: infer, replicas: 2, cpu: "2", memory: 8Gi, gpu: 1, annotations: {ballast.dev/spot: never}}
    - {namespace: shop, name: web, replicas: 2, cpu: 500m, memory: 1Gi, annotations: {ballast.dev/spot: never}}
`
	dir := tree(t, map[string]string{
		"policies/prod.yaml":   cleanPolicy,
		"policies/narrow.yaml": strings.ReplaceAll(cleanPolicy, "prod", "narrow") + "  instances:\n    categories: [c, m]\n",
		"gpu.yaml":             scenario,
	})
	// prod allows every amd64 type. In eu-west-1 the cheapest On-Demand packing of 2
	// replicas of 2 CPUs, 8 GiB and 1 GPU is 2 g4dn.xlarge (1 GPU, 0.587/h each):
	// 730 * 1.174 = 857.02. The web replicas go on a type without GPUs.
	r := estimateJSON(t, filepath.Join(dir, "policies"), "--cluster", "prod", "--scenario", filepath.Join(dir, "gpu.yaml"))
	var gpuPool, webPool bool
	for _, p := range r.Pools {
		switch {
		case p.InstanceType == "g4dn.xlarge" && p.CapacityType == cost.OnDemand && p.Nodes == 2:
			gpuPool = true
			money(t, "the GPU nodes", p.MonthlyCost, 857.02)
		case !strings.HasPrefix(p.InstanceType, "g") && !strings.HasPrefix(p.InstanceType, "p"):
			webPool = true
		}
	}
	if !gpuPool || !webPool || len(r.Pools) != 2 || r.Replicas != 4 || len(r.Notes) != 0 {
		t.Errorf("pools %+v, replicas %d, notes %q", r.Pools, r.Replicas, r.Notes)
	}
	sums(t, r)
	// narrow allows no GPU type: the GPU replicas are left out, with a note.
	r = estimateJSON(t, filepath.Join(dir, "policies"), "--cluster", "narrow", "--scenario", filepath.Join(dir, "gpu.yaml"))
	const note = "ml/infer requests 1 GPU (nvidia.com/gpu) per replica, but the policy's instances allow no GPU instance type with On-Demand prices in eu-west-1: its 2 On-Demand replicas are left out of the estimate"
	if len(r.Pools) != 1 || strings.HasPrefix(r.Pools[0].InstanceType, "g") || r.Replicas != 2 || len(r.Notes) != 1 || r.Notes[0] != note {
		t.Errorf("pools %+v, replicas %d, notes %q", r.Pools, r.Replicas, r.Notes)
	}
	code, out, _ := run("estimate", filepath.Join(dir, "policies"), "--cluster", "narrow", "--scenario", filepath.Join(dir, "gpu.yaml"))
	if code != ExitOK || !strings.Contains(out, "Notes:\n  - "+note+"\n") {
		t.Errorf("exit %d, the text output lacks the note:\n%s", code, out)
	}
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
	//   savings 1798.14 - 991.66 = 806.48: Spot 730 * ((0.3912 - 0.184) + (0.46 - 0.1958)
	//   + (0.304 - 0.1158)) = 481.51, commitments 730 * ((0.92 - 0.5796) + (0.388 - 0.28324))
	//   = 324.97
	r := estimateJSON(t, policies, "--cluster", "prod-eu", "--snapshot", snapshot, "--as-is", "--date", "2026-07-01")
	money(t, "cost", r.MonthlyCost, 991.66)
	money(t, "potential", r.MonthlyPotential, 1798.14)
	money(t, "Spot savings", r.Savings.Spot, 481.51)
	money(t, "commitment savings", r.Savings.Commitments, 324.97)
	money(t, "unused commitment", r.MonthlyUnusedCommitment, 4974.77)
	sums(t, r)
	// 24 running replicas (DaemonSet pods and the pending worker aside), 15 on Spot.
	if r.Mode != cost.ModeNodes || r.Replicas != 24 || r.SpotReplicas != 15 || r.Nodes != 6 {
		t.Errorf("mode %s, replicas %d/%d, nodes %d", r.Mode, r.SpotReplicas, r.Replicas, r.Nodes)
	}
	// Under the policy the replicas (the pending one too) are planned: 25 of them.
	planned := estimateJSON(t, policies, "--cluster", "prod-eu", "--snapshot", snapshot, "--date", "2026-07-01")
	if planned.Mode != cost.ModePlanned || planned.Replicas != 25 || planned.MonthlyCost <= 0 {
		t.Errorf("planned = %+v", planned)
	}
	sums(t, planned)
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
	if want := "live AWS prices (Price List API and EC2 Spot price history, 1 instance type in us-east-1, "; !strings.HasPrefix(r.Prices, want) ||
		!strings.HasSuffix(r.Prices, ") over the built-in catalogue (AWS public price lists (On-Demand Linux, shared tenancy), Spot typical of the price history; approximate, as of 2025-06)") {
		t.Errorf("prices = %q", r.Prices)
	}
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
