package app

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ballast-dev/ballast/test/gitserver"
)

// edgePolicy is a LeastInterrupted cluster that wants at least 12 Spot instance types;
// calmPolicy one without Spot.
const (
	edgePolicy = `apiVersion: ballast.dev/v1alpha1
kind: ClusterPolicy
metadata:
  name: edge
spec:
  cluster:
    name: edge
    region: eu-west-1
  nodeClass:
    role: KarpenterNodeRole-edge
  instances:
    categories: [c, m, r]
    minGeneration: 6
    architectures: [amd64, arm64]
  spot:
    strategy: LeastInterrupted
    interruptions:
      minInstanceTypes: 12
`
	calmPolicy = `apiVersion: ballast.dev/v1alpha1
kind: ClusterPolicy
metadata:
  name: calm
spec:
  cluster:
    name: calm
    region: eu-west-1
  nodeClass:
    role: KarpenterNodeRole-calm
  spot:
    enabled: false
`
)

// spotSection returns the Spot pools section of cluster in a plan, and its table rows
// as cells.
func spotSection(t *testing.T, stdout, cluster string) (string, [][]string) {
	t.Helper()
	start := strings.Index(stdout, "<details><summary>Spot pools of <b>"+cluster+"</b>")
	if start < 0 {
		t.Fatalf("no Spot pools section for %s:\n%s", cluster, stdout)
	}
	section := stdout[start:]
	section = section[:strings.Index(section, "</details>")]
	var rows [][]string
	for _, line := range strings.Split(section, "\n") {
		if regexp.MustCompile(`^\| [0-9]+ \|`).MatchString(line) {
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for i := range cells {
				cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
			}
			rows = append(rows, cells)
		}
	}
	return section, rows
}

func TestPlanSpotPools(t *testing.T) {
	clearCI(t)
	r := gitserver.NewWorkTree(t)
	r.Commit("three clusters", map[string]string{
		"policies/clusters/prod.yaml": prodPolicy, "policies/clusters/edge.yaml": edgePolicy,
		"policies/clusters/calm.yaml": calmPolicy, "scenarios/prod.yaml": prodScenario,
	})
	t.Chdir(r.Dir)
	code, stdout, stderr := run("plan", "--time", at, "--base", "HEAD", "policies")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if strings.Contains(stdout, "Spot pools of <b>calm</b>") {
		t.Errorf("a cluster without Spot has a Spot pools section:\n%s", stdout)
	}

	// prod: CostOptimized, the policy's, first; the cheapest per vCPU, and what
	// LeastInterrupted would choose (10 types, at most 3 per family).
	section, rows := spotSection(t, stdout, "prod")
	for _, want := range []string{
		"CostOptimized offers all ", " instance types (LeastInterrupted would offer 10)</summary>",
		"Placement scores unknown (offline): every type counts as a neutral 5",
		"pass --placement-scores FILE",
		"| # | CostOptimized (the policy's) | Placement score | Spot $/vCPU-hour | LeastInterrupted | Placement score | Spot $/vCPU-hour |",
		"CostOptimized's Spot NodePool offers every type of the supply, of which Karpenter buys the cheapest per vCPU first (the first 10 shown). Under LeastInterrupted it would offer only the 10 types of its column",
		"at most 3 of one instance family",
	} {
		if !strings.Contains(section, want) {
			t.Errorf("prod's Spot pools lack %q:\n%s", want, section)
		}
	}
	if len(rows) != 10 {
		t.Fatalf("prod: %d rows, want 10:\n%s", len(rows), section)
	}
	perFamily := map[string]int{}
	var cheapest, chosen []string
	for i, row := range rows {
		cheapest, chosen = append(cheapest, row[1]), append(chosen, row[4])
		perFamily[strings.Split(row[4], ".")[0]]++
		if row[2] != "unknown" || row[5] != "unknown" || !strings.HasPrefix(row[3], "$0.0") {
			t.Errorf("row %d = %q: want unknown scores and a price per vCPU", i+1, row)
		}
		if i > 0 && row[3] < rows[i-1][3] {
			t.Errorf("CostOptimized's column is not cheapest first: %s after %s", row[3], rows[i-1][3])
		}
	}
	for f, n := range perFamily {
		if n > 3 {
			t.Errorf("LeastInterrupted chose %d types of %s: %v", n, f, chosen)
		}
	}
	// The categories and generations the policy allows, amd64 only (the default).
	for _, typ := range append(cheapest, chosen...) {
		if !regexp.MustCompile(`^[cmr][6-9][a-z]*\.`).MatchString(typ) || strings.Contains(strings.Split(typ, ".")[0], "g") {
			t.Errorf("%s is not of prod's supply", typ)
		}
	}

	// edge: LeastInterrupted, the policy's, first, 12 types.
	section, rows = spotSection(t, stdout, "edge")
	if !strings.Contains(section, "LeastInterrupted offers 12 of ") || !strings.Contains(section, "| # | LeastInterrupted (the policy's) |") ||
		!strings.Contains(section, "at most 4 of one instance family") || len(rows) != 12 {
		t.Errorf("edge's Spot pools (%d rows):\n%s", len(rows), section)
	}
}

func TestPlanPlacementScores(t *testing.T) {
	clearCI(t)
	r := gitserver.NewWorkTree(t)
	r.Commit("edge", map[string]string{"policies/clusters/edge.yaml": edgePolicy})
	t.Chdir(r.Dir)
	offline := func() []string {
		_, stdout, _ := run("plan", "--time", at, "policies")
		_, rows := spotSection(t, stdout, "edge")
		var chosen []string
		for _, row := range rows {
			chosen = append(chosen, row[1])
		}
		return chosen
	}()

	// A family's score for its types, a type's own over it; r7g (arm64, allowed)
	// is best, c6i worst.
	scores := "r7g: 9\nm6i.large: 8\nm6i: 3\nc6i: 1\n"
	if err := os.WriteFile(filepath.Join(r.Dir, "scores.yaml"), []byte(scores), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run("plan", "--time", at, "--placement-scores", "scores.yaml", "policies")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	section, rows := spotSection(t, stdout, "edge")
	if !strings.Contains(section, "Placement scores from scores.yaml (") || !strings.Contains(section, "the others count as a neutral 5") {
		t.Errorf("the section does not say where the scores came from:\n%s", section)
	}
	var chosen []string
	for i, row := range rows {
		chosen = append(chosen, row[1])
		want := map[string]string{"r7g": "9", "m6i": "3", "c6i": "1"}[strings.Split(row[1], ".")[0]]
		if row[1] == "m6i.large" {
			want = "8"
		}
		if want == "" {
			want = "unknown"
		}
		if row[2] != want {
			t.Errorf("row %d: %s scores %s, want %s", i+1, row[1], row[2], want)
		}
	}
	// The best family first, four of it (12 types, a third of them; r7g.8xlarge, the
	// largest, is one), then m6i.large, then neutral ones; never c6i (1).
	if want := "r7g.large,r7g.xlarge,r7g.2xlarge,r7g.8xlarge,m6i.large,"; !strings.HasPrefix(strings.Join(chosen, ",")+",", want) {
		t.Errorf("chosen %v: want it to start with %s", chosen, want)
	}
	if strings.Contains(strings.Join(chosen, ","), "c6i.") || fmt.Sprint(chosen) == fmt.Sprint(offline) {
		t.Errorf("chosen %v (offline %v): the scores did not count", chosen, offline)
	}

	for _, tc := range []struct{ name, file, err string }{
		{"out of range", "m6i: 11\n", `"m6i": 11: a score is from 1 to 10`},
		{"zero", "m6i.large: 0\n", "a score is from 1 to 10"},
		{"not a map", "- m6i\n", "want a map of instance type or family to a score from 1 to 10"},
		{"not a number", "m6i: high\n", "want a map of instance type or family"},
		{"duplicate key", "m6i: 2\nm6i: 3\n", "already defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(r.Dir, "bad.yaml"), []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := run("plan", "--time", at, "--placement-scores", "bad.yaml", "policies")
			if code != ExitError || !strings.Contains(stderr, "--placement-scores bad.yaml") || !strings.Contains(stderr, tc.err) || stdout != "" {
				t.Errorf("exit %d, stderr %q, stdout %q; want exit 2 saying %q", code, stderr, stdout, tc.err)
			}
		})
	}
	if code, _, stderr := run("plan", "--time", at, "--placement-scores", "missing.yaml", "policies"); code != ExitError || !strings.Contains(stderr, "missing.yaml") {
		t.Errorf("a missing file: exit %d, %s", code, stderr)
	}
	// JSON is YAML.
	if err := os.WriteFile(filepath.Join(r.Dir, "scores.json"), []byte(`{"r7g": 9, "c6i": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := run("plan", "--time", at, "--placement-scores", "scores.json", "policies"); code != ExitOK ||
		!strings.Contains(stdout, "Placement scores from scores.json") {
		t.Errorf("JSON scores: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
