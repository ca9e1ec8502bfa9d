package policies

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fuzzSeeds are inputs that have broken YAML loaders before.
var fuzzSeeds = []string{
	"a: &a [x]\nb: *a\n",
	"a: &a\n  b: &b [*a]\n",
	// A billion laughs: each level expands the previous one nine times.
	`apiVersion: ballast.dev/v1alpha1
kind: ClusterPolicy
metadata: {name: x}
spec:
  cluster: {name: x, region: eu-west-1}
  nodeClass: {role: r}
  instances:
    zones: &a [eu-west-1a, eu-west-1a, eu-west-1a, eu-west-1a, eu-west-1a, eu-west-1a, eu-west-1a, eu-west-1a, eu-west-1a]
    include: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    exclude: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    families: [*c, *c, *c, *c, *c, *c, *c, *c, *c]
`,
	"x: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n",
	strings.Repeat("- ", 3000) + "x\n",
	"apiVersion: ballast.dev/v1alpha1\nkind: ClusterPolicy\nspec:\n  distribution:\n    onDemandPercent: 99999999999999999999999999\n    baseOnDemand: -0x8000000000000001\n",
	"apiVersion: ballast.dev/v1alpha1\nkind: ClusterPolicy\nspec:\n  limits: {cpu: 1e1000000, memory: 9999999999999999999999999Ei, nodes: .inf}\n",
	"apiVersion: ballast.dev/v1alpha1\nkind: ClusterPolicy\nspec:\n  spot:\n    fallback: {after: 99999999999999999999d, reverseInterval: 2147483647d2147483647d}\n",
	"apiVersion: ballast.dev/v1alpha1\nkind: ClusterPolicy\nspec:\n\tcluster: x\n",
	"\ufeffapiVersion: ballast.dev/v1alpha1\nkind: ClusterPolicy\n",
	"apiVersion: ballast.dev/v1alpha1\x00\nkind: Cluster\x00Policy\n",
	"---\n---\n...\n---\n",
	"apiVersion: ballast.dev/v1alpha1\nkind: WorkloadDistributionRule\nmetadata: {name: a, namespace: b}\nspec:\n  <<: {onDemandPercent: 1}\n",
	"? [a, b]\n: c\n",
	"*a: b\n",
	"apiVersion: ballast.dev/v1alpha1\nkind: ClusterPolicy\nmetadata: {name: x}\nspec:\n  cluster: {name: x, region: eu-west-1}\n  nodeClass: {role: r}\n  binPacking:\n    disruptionBudgets:\n      - {nodes: \"1\", schedule: \"*/99999999999999999999 ,,, 1-/ - *\", duration: 1m}\n  maintenanceWindows:\n    - {name: a, days: [Mon], start: \"00:00\", end: \"00:00\", timeZone: ../../../etc/passwd, allow: [Consolidation]}\n",
	"apiVersion: ballast.dev/v1alpha1\nkind: WorkloadDistributionRule\nmetadata: {name: a, namespace: b}\nspec:\n  workloadSelector:\n    matchExpressions:\n      - {key: \"\", operator: NotIn, values: [\"\", \"\"]}\n      - {key: a, operator: In, values: []}\n",
}

// FuzzLoad checks that no input makes the loader or the validator panic, and that
// every finding they report is well-formed. The seed corpus (every YAML file under
// examples/ and fuzzSeeds) runs in plain go test.
func FuzzLoad(f *testing.F) {
	_ = filepath.WalkDir("../examples", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
		return nil
	})
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	ruleIDs := make([]string, 0, len(Rules))
	for _, r := range Rules {
		ruleIDs = append(ruleIDs, r.ID)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		repo := LoadBytes("f.yaml", data)
		findings := repo.ValidateWith(Options{Today: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		for _, fd := range findings {
			if !slices.Contains(ruleIDs, fd.Rule) || fd.File != "f.yaml" || fd.Line < 0 || fd.Column < 0 || fd.Message == "" ||
				!slices.Contains([]Severity{SeverityError, SeverityWarning, SeverityInfo}, fd.Severity) {
				t.Fatalf("malformed finding: %#v", fd)
			}
		}
		for _, c := range repo.Clusters() {
			if _, _, err := repo.ForCluster(c); err != nil {
				t.Fatal(err)
			}
		}
		for _, format := range Formats {
			var b bytes.Buffer
			if err := Write(&b, format, findings, Rules); err != nil {
				t.Fatal(err)
			}
			if (format == "json" || format == "sarif") && !json.Valid(b.Bytes()) {
				t.Fatalf("%s output is not valid JSON", format)
			}
		}
	})
}
