// Package policytest generates policy repositories for tests and benchmarks.
package policytest

import (
	"fmt"
	"strings"
	"testing/fstest"
)

// Size is the shape of a generated repository: Rules rules spread evenly over
// Namespaces namespaces.
type Size struct {
	Namespaces, Rules int
}

// String names the size in benchmark names, e.g. "rules=20000/namespaces=1".
func (s Size) String() string { return fmt.Sprintf("rules=%d/namespaces=%d", s.Rules, s.Namespaces) }

// ScaleSizes are the repositories the scale benchmarks of validation and rendering
// measure: 1,000 and 20,000 rules in one namespace and spread over 100.
var ScaleSizes = []Size{{1, 1000}, {100, 1000}, {1, 20000}, {100, 20000}}

// WriteRepository writes Repository(s.Namespaces, s.Rules/s.Namespaces) under dir, for
// benchmarks that read a tree from disk as `ballast validate` does.
func WriteRepository(dir string, s Size) error {
	for name, f := range Repository(s.Namespaces, s.Rules/s.Namespaces) {
		if err := write(dir, name, string(f.Data)); err != nil {
			return err
		}
	}
	return nil
}

// Repository generates a valid policy repository of 2 cluster policies and
// namespaces*perNamespace rules: in each namespace a namespace-wide rule and rules
// selecting workloads by app (one requirement) or by app and tier (two).
func Repository(namespaces, perNamespace int) fstest.MapFS {
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
	for ns := range namespaces {
		var b strings.Builder
		for i := range perNamespace {
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
