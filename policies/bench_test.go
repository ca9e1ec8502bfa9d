package policies

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

// benchRepository is a policy repository of 2 cluster policies and 1,000 rules in 100
// namespaces, each namespace with a namespace-wide rule and rules selecting workloads
// by app (one requirement) or by app and tier (two).
func benchRepository() fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, c := range []string{"prod-eu", "prod-us"} {
		region := map[string]string{"prod-eu": "eu-central-1", "prod-us": "us-east-1"}[c]
		fsys["clusters/"+c+".yaml"] = &fstest.MapFile{Data: fmt.Appendf(nil, `apiVersion: ballast.dev/v1alpha1
kind: ClusterPolicy
metadata:
  name: %[1]s
spec:
  cluster:
    name: %[1]s
    region: %[2]s
  nodeClass:
    role: KarpenterNodeRole-%[1]s
  instances:
    categories: [c, m, r]
    minGeneration: 6
    cpu: {min: 2, max: 32}
    zones: [%[2]sa, %[2]sb]
  limits: {cpu: "2000", memory: 8000Gi, nodes: 300}
  distribution: {baseOnDemand: 1, onDemandPercent: 20}
  binPacking:
    spotToSpotConsolidation: true
    disruptionBudgets:
      - {nodes: "0", schedule: "0 9 * * 1-5", duration: 8h}
  maintenanceWindows:
    - {name: nights, days: [Mon, Tue, Wed, Thu, Fri], start: "22:00", end: "06:00", timeZone: Europe/Berlin, allow: [Consolidation]}
`, c, region)}
	}
	for ns := range 100 {
		var b strings.Builder
		for i := range 10 {
			if i > 0 {
				b.WriteString("---\n")
			}
			fmt.Fprintf(&b, "apiVersion: ballast.dev/v1alpha1\nkind: WorkloadDistributionRule\nmetadata:\n  name: rule-%d\n  namespace: team-%d\nspec:\n", i, ns)
			switch {
			case i == 0:
			case i < 6:
				fmt.Fprintf(&b, "  workloadSelector:\n    matchLabels:\n      app.kubernetes.io/name: app-%d\n", i)
			default:
				fmt.Fprintf(&b, "  workloadSelector:\n    matchLabels:\n      app.kubernetes.io/name: app-%d\n    matchExpressions:\n      - {key: tier, operator: In, values: [web, api]}\n", i)
			}
			if ns%2 == 0 {
				b.WriteString("  clusters: [prod-eu]\n")
			}
			fmt.Fprintf(&b, "  onDemandPercent: %d\n  baseOnDemand: %d\n", (i*10)%100, i%3)
		}
		fsys[fmt.Sprintf("rules/team-%03d.yaml", ns)] = &fstest.MapFile{Data: []byte(b.String())}
	}
	return fsys
}

func TestBenchRepositoryIsClean(t *testing.T) {
	repo, err := Load(benchRepository(), ".", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Rules) != 1000 || len(repo.ClusterPolicies) != 2 {
		t.Fatalf("%d rules, %d policies", len(repo.Rules), len(repo.ClusterPolicies))
	}
	if fs := repo.Validate(); len(fs) != 0 {
		t.Errorf("the benchmark repository must be valid, so the benchmark measures the whole validation: %v", fs[0])
	}
}

func BenchmarkLoadValidate(b *testing.B) {
	fsys := benchRepository()
	b.ReportAllocs()
	for b.Loop() {
		repo, err := Load(fsys, ".", "")
		if err != nil {
			b.Fatal(err)
		}
		if fs := repo.Validate(); len(fs) != 0 {
			b.Fatal(fs[0])
		}
	}
}
