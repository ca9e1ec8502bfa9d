package plan

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ballast-dev/ballast/policies"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", name+".md")
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./plan -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./plan -update rewrites it):\n%s", file, got)
	}
}

func changesFor(t *testing.T) []Change {
	t.Helper()
	base := []Object{
		obj(t, "prod-eu", "NodePool", "", "ballast-prod-eu-spot", `{"spec":{"disruption":{"consolidateAfter":"5m"},"limits":{"cpu":"2000"}}}`),
		obj(t, "prod-eu", "ClusterPolicy", "", "prod-eu", `{"spec":{"distribution":{"onDemandPercent":40,"baseOnDemand":1}}}`),
		obj(t, "prod-eu", "WorkloadDistributionRule", "shop", "web", `{"spec":{"onDemandPercent":10,"selector":"All|SpotReady"}}`),
		obj(t, "old", "NodePool", "", "ballast-old-on-demand", `{}`),
		obj(t, "old", "EC2NodeClass", "", "ballast-old", `{}`),
	}
	head := []Object{
		obj(t, "prod-eu", "NodePool", "", "ballast-prod-eu-spot", `{"spec":{"disruption":{"consolidateAfter":"10m"},"limits":{"cpu":"1500"}}}`),
		obj(t, "prod-eu", "ClusterPolicy", "", "prod-eu", `{"spec":{"distribution":{"onDemandPercent":20,"baseOnDemand":1}}}`),
		obj(t, "prod-eu", "WorkloadDistributionRule", "shop", "web", `{"spec":{"onDemandPercent":10,"selector":"All|SpotReady","note":"uses `+"`"+`backticks`+"`"+`"}}`),
		obj(t, "prod-eu", "WorkloadDistributionRule", "batch", "nightly", `{"spec":{"onDemandPercent":0}}`),
		obj(t, "new", "EC2NodeClass", "", "ballast-new", `{}`),
	}
	return Diff(base, head)
}

func TestMarkdown(t *testing.T) {
	warning := policies.Finding{Position: policies.Position{File: "policies/clusters/prod-eu.yaml", Line: 12, Column: 5},
		Field: "spec.spot.enabled", Rule: "spot-disabled", Severity: policies.SeverityWarning, Message: "Spot is disabled <really>"}
	bad := policies.Finding{Position: policies.Position{File: "policies/rules/x.yaml", Line: 3, Column: 1},
		Rule: "unknown-cluster", Severity: policies.SeverityError, Message: "rule x names cluster \"nope\""}
	changes := changesFor(t)
	var prodOnly []Change
	for _, c := range changes {
		if c.Cluster == "prod-eu" {
			prodOnly = append(prodOnly, c)
		}
	}
	footer := "base <code>main</code> (1a2b3c4) → head 5d6e7f8 · Ballast v0.1.0"
	for _, tc := range []struct {
		name   string
		plan   Plan
		maxLen int
	}{
		{name: "single-cluster", plan: Plan{
			Base: "main (1a2b3c4)", Head: "5d6e7f8", Changes: prodOnly, Footer: footer,
			Prices:   "prices/negotiated.yaml (our contract, as of 2026-01) over the built-in catalogue (AWS public price lists, as of 2025-06)",
			Findings: policies.Findings{warning},
			Clusters: []Cluster{{Name: "prod-eu", InBase: true, InHead: true,
				Before:     &Cost{Monthly: 12340, Potential: 20000, Savings: 7660, SpotShare: 0.45, Nodes: 40},
				After:      &Cost{Monthly: 10120.4, Potential: 20000, Savings: 9879.6, SpotShare: 0.62, Nodes: 38},
				CostSource: "scenarios/prod-eu.yaml"}},
		}},
		{name: "multi-cluster", plan: Plan{
			Base: "main (1a2b3c4)", Head: "5d6e7f8", Changes: changes, Footer: footer,
			Findings: policies.Findings{bad, warning},
			Notes:    []string{"The head has validation errors: Ballast would not apply it."},
			Clusters: []Cluster{
				{Name: "new", InHead: true, After: &Cost{Monthly: 1000, Potential: 1500, Savings: 500, SpotShare: 0.5, Nodes: 3}, CostSource: "scenarios/new.yaml"},
				{Name: "old", InBase: true, CostNote: "no workload to estimate: set the ballast.dev/cost-scenario annotation"},
				{Name: "prod-eu", InBase: true, InHead: true,
					Before: &Cost{Monthly: 12340, Potential: 20000, Savings: 7660, SpotShare: 0.45, Nodes: 40},
					After:  &Cost{Monthly: 10120, Potential: 20000, Savings: 9880, SpotShare: 0.62, Nodes: 38}, CostSource: "scenarios/prod-eu.yaml"},
				{Name: "steady", InBase: true, InHead: true,
					Before: &Cost{Monthly: 5000, Potential: 6000, Savings: 1000, SpotShare: 0.3, Nodes: 10},
					After:  &Cost{Monthly: 5000, Potential: 6000, Savings: 1000, SpotShare: 0.3, Nodes: 10}, CostSource: "snapshot.yaml"},
			},
		}},
		{name: "no-change", plan: Plan{
			Base: "main (1a2b3c4)", Head: "5d6e7f8", Footer: footer,
			Clusters: []Cluster{{Name: "prod-eu", InBase: true, InHead: true, CostNote: "no workload to estimate"}},
		}},
		{name: "no-base", plan: Plan{
			Head: "working tree", Footer: footer,
			Notes: []string{"No base revision: showing the head alone."},
			Clusters: []Cluster{{Name: "prod-eu", InHead: true,
				After: &Cost{Monthly: 10120, Potential: 20000, Savings: 9880, SpotShare: 0.62, Nodes: 38}, CostSource: "scenarios/prod-eu.yaml"}},
		}},
		{name: "spot-pools", plan: Plan{
			Head: "working tree", Footer: footer,
			Clusters: []Cluster{
				{Name: "batch", InHead: true, SpotPools: &SpotPools{Strategy: "CostOptimized", Supply: 4, PerFamily: 3,
					Cheapest: spotPools("c7g.large:0:0.0071", "m6i.large:0:0.0183", "m6i.xlarge:0:0.0183", "r9.large:0:0"),
					Chosen:   spotPools("m6i.large:0:0.0183", "m6i.xlarge:0:0.0183", "c7g.large:0:0.0071", "r9.large:0:0"),
					Note:     "Placement scores unknown <offline>."}},
				{Name: "empty", InHead: true, SpotPools: &SpotPools{Strategy: "LeastInterrupted", PerFamily: 3}},
				{Name: "prod-eu", InHead: true, SpotPools: &SpotPools{Strategy: "LeastInterrupted", Supply: 40, PerFamily: 1,
					Chosen:   spotPools("m6i.large:9:0.0183", "c6i.large:8:0.0171"),
					Cheapest: spotPools("c7g.large:2:0.0071", "c6i.large:8:0.0171", "m6i.large:9:0.0183"),
					Note:     "Placement scores from scores.yaml."}},
			},
		}},
		{name: "truncated", maxLen: 1500, plan: Plan{
			Base: "main (1a2b3c4)", Head: "5d6e7f8", Changes: changes, Footer: footer,
			Findings: policies.Findings{bad, warning},
			Clusters: []Cluster{{Name: "new", InHead: true}, {Name: "old", InBase: true}, {Name: "prod-eu", InBase: true, InHead: true}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Markdown(tc.plan, tc.maxLen)
			if tc.maxLen > 0 && len(got) > tc.maxLen {
				t.Errorf("%d bytes, more than %d", len(got), tc.maxLen)
			}
			if !strings.HasPrefix(got, "**Ballast plan:** ") || strings.Count(strings.SplitN(got, "\n", 2)[0], "\n") != 0 {
				t.Errorf("the plan does not start with its summary line:\n%s", got)
			}
			golden(t, tc.name, got)
		})
	}
}

// spotPools makes SpotPools of "type:placement:price per vCPU" strings.
func spotPools(pools ...string) []SpotPool {
	out := make([]SpotPool, len(pools))
	for i, p := range pools {
		var price float64
		parts := strings.Split(p, ":")
		if _, err := fmt.Sscanf(parts[1]+" "+parts[2], "%d %g", &out[i].Placement, &price); err != nil {
			panic(err)
		}
		out[i].InstanceType, out[i].PricePerVCPU = parts[0], price
	}
	return out
}

func TestMarkdownShortensSpotPools(t *testing.T) {
	var chosen []SpotPool
	for i := range 15 {
		chosen = append(chosen, SpotPool{InstanceType: fmt.Sprintf("m%d.large", i), Placement: 7, PricePerVCPU: 0.01})
	}
	p := Plan{Head: "HEAD", Footer: "footer", Clusters: []Cluster{{Name: "prod", InHead: true,
		SpotPools: &SpotPools{Strategy: "LeastInterrupted", Supply: 80, PerFamily: 5, Chosen: chosen, Cheapest: chosen}}}}
	full := Markdown(p, 0)
	if !strings.Contains(full, "| 15 | `m14.large` | 7 | $0.0100 | `m14.large` | 7 | $0.0100 |") {
		t.Fatalf("full plan lacks the table:\n%s", full)
	}
	brief := Markdown(p, len(full)-1)
	if !strings.Contains(brief, "LeastInterrupted offers `m0.large`, `m1.large`") || strings.Contains(brief, "| 15 |") {
		t.Errorf("shortened plan lacks the one-line choice, or keeps the table:\n%s", brief)
	}
}

func TestMarkdownShortensDetailsFirst(t *testing.T) {
	var base, head []Object
	for i := range 200 {
		base = append(base, obj(t, "prod", "WorkloadDistributionRule", "ns", fmt.Sprintf("r%03d", i), `{"spec":{"onDemandPercent":10}}`))
		head = append(head, obj(t, "prod", "WorkloadDistributionRule", "ns", fmt.Sprintf("r%03d", i), `{"spec":{"onDemandPercent":20}}`))
	}
	p := Plan{Base: "main", Head: "HEAD", Changes: Diff(base, head), Footer: "footer",
		Clusters: []Cluster{{Name: "prod", InBase: true, InHead: true, Before: &Cost{Monthly: 1}, After: &Cost{Monthly: 2}}}}
	full := Markdown(p, 0)
	if !strings.Contains(full, "| `spec.onDemandPercent` | `10` | `20` |") {
		t.Fatalf("full plan lacks the field table:\n%.500s", full)
	}
	for _, tc := range []struct {
		maxLen        int
		want, notWant []string
	}{
		{maxLen: len(full), want: []string{"| `spec.onDemandPercent`"}, notWant: []string{"shortened"}},
		{maxLen: len(full) - 2000, want: []string{"- `~` WorkloadDistributionRule `ns/r199`", "shortened to fit the comment size limit"}, notWant: []string{"| `spec.onDemandPercent`"}},
		{maxLen: 1000, want: []string{"**Ballast plan:** prod: 200 objects changed, cost $1 → $2/month (+100%)", "| prod |", "<sub>footer</sub>"}, notWant: []string{"r199"}},
		{maxLen: 60, want: []string{"**Ballast plan:**"}},
	} {
		got := Markdown(p, tc.maxLen)
		if len(got) > tc.maxLen {
			t.Errorf("maxLen %d: got %d bytes", tc.maxLen, len(got))
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("maxLen %d: lacks %q:\n%.1500s", tc.maxLen, w, got)
			}
		}
		for _, w := range tc.notWant {
			if strings.Contains(got, w) {
				t.Errorf("maxLen %d: has %q", tc.maxLen, w)
			}
		}
	}
}

func TestFormatNumbers(t *testing.T) {
	for _, tc := range [][2]string{
		{money(0), "$0"}, {money(999.5), "$1,000"}, {money(1234567.4), "$1,234,567"}, {money(-12340), "-$12,340"},
		{percent(0.455), "46%"}, {relative(12340, 10120), "-18%"}, {relative(100, 105), "+5%"}, {relative(100, 100.2), "±0%"}, {relative(0, 5), ""},
	} {
		if tc[0] != tc[1] {
			t.Errorf("got %s, want %s", tc[0], tc[1])
		}
	}
}
