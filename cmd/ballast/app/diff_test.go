package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const at = "2026-11-23T12:00:00Z"

func TestDiffCommand(t *testing.T) {
	clearCI(t)
	r, c := history(t)
	t.Chdir(r.Dir)
	// The working tree differs from HEAD: the invalid policy is fixed locally.
	r.Write(map[string]string{
		"policies/clusters/prod.yaml": strings.Replace(prodPolicy, "onDemandPercent: 50", "onDemandPercent: 30", 1),
		"staging/staging.yaml":        strings.ReplaceAll(cleanPolicy, "prod", "staging"),
	})

	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		stderr   []string
		noStdout []string
	}{
		{name: "two commits", args: []string{"--base", "HEAD~3", "--head", "HEAD~2", "policies"}, code: ExitFindings,
			stdout: []string{
				"cluster prod:\n",
				"  ~ NodePool ballast-prod-on-demand\n      spec.disruption.consolidateAfter: 5m0s -> 10m0s\n",
				"  ~ NodePool ballast-prod-spot\n      spec.disruption.consolidateAfter: 5m0s -> 10m0s\n",
				"  ~ ClusterPolicy prod\n",
				"      spec.distribution.onDemandPercent: 50 -> 20\n",
				"      spec.binPacking.consolidateAfter: 5m -> 10m\n",
				"  + WorkloadDistributionRule batch/nightly\n",
				"\n4 objects differ between HEAD~3 (" + c[0][:7] + ") and HEAD~2 (" + c[1][:7] + "): 3 changed, 1 added\n",
			},
			noStdout: []string{"EC2NodeClass", "windows-valid-until"}},
		{name: "tags and hashes", args: []string{"--base", "v1", "--head", c[2][:10], "policies"}, code: ExitFindings,
			stdout: []string{"  - WorkloadDistributionRule shop/shop-default\n", "  + WorkloadDistributionRule batch/nightly\n", "5 objects differ between v1 (" + c[0][:7] + ") and " + c[2][:7] + ": 3 changed, 1 added, 1 removed"}},
		{name: "no change", args: []string{"--base", "v2", "--head", c[2], "policies"}, code: ExitOK,
			stdout: []string{"no change: v2 (" + c[2][:7] + ") and " + c[2][:7] + " render the same objects\n"}},
		{name: "working tree", args: []string{"--base", "v2", "policies"}, code: ExitFindings,
			stdout: []string{"spec.distribution.onDemandPercent: 20 -> 30\n", "v2 (" + c[2][:7] + ") and working tree: "}},
		{name: "invalid head", args: []string{"--base", "v2", "--head", "main", "policies"}, code: ExitError,
			stderr: []string{"main (" + c[3][:7] + ") has validation errors:\n", "policies/clusters/prod.yaml:", "[out-of-range] spec.distribution.onDemandPercent", "nothing compared"}},
		{name: "a new tree", args: []string{"--base", "v1", "staging"}, code: ExitFindings,
			stdout: []string{"cluster staging:\n  + EC2NodeClass ballast-staging\n  + NodePool ballast-staging-on-demand\n", "4 objects differ", ": 4 added\n"}},
		{name: "unknown revision", args: []string{"--base", "nope", "policies"}, code: ExitError,
			stderr: []string{`revision "nope" not found`, "fetch-depth: 0"}},
		{name: "base required", args: []string{"policies"}, code: ExitError, stderr: []string{"--base is required"}},
		{name: "bad time", args: []string{"--base", "v1", "--time", "noon", "policies"}, code: ExitError, stderr: []string{"RFC 3339"}},
		{name: "unknown cluster", args: []string{"--base", "v1", "--cluster", "nope", "policies"}, code: ExitError, stderr: []string{`no ClusterPolicy for cluster "nope"`}},
		{name: "a file", args: []string{"--base", "v1", "README.md"}, code: ExitError, stderr: []string{"not a directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(append([]string{"diff", "--time", at}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			for _, not := range tc.noStdout {
				if strings.Contains(stdout, not) {
					t.Errorf("stdout has %q:\n%s", not, stdout)
				}
			}
		})
	}
}

func TestDiffJSONAndSubdirectory(t *testing.T) {
	clearCI(t)
	r, c := history(t)
	t.Chdir(filepath.Join(r.Dir, "policies", "rules"))
	code, stdout, stderr := run("diff", "--time", at, "--format", "json", "--base", "v1", "--head", "v2", "..")
	if code != ExitFindings {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep diffReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if rep.Base.Commit != c[0] || rep.Head.Commit != c[2] || rep.Counts != (diffCounts{Added: 1, Changed: 3, Removed: 1}) || len(rep.Changes) != 5 {
		t.Errorf("report = %+v", rep)
	}
	if ch := rep.Changes[0]; ch.Cluster != "prod" || ch.Kind != "NodePool" || ch.Action != "changed" || ch.Fields[0].Path != "spec.disruption.consolidateAfter" {
		t.Errorf("first change = %+v", ch)
	}
}

func TestDiffOutsideARepository(t *testing.T) {
	clearCI(t)
	dir := tree(t, map[string]string{"policies/prod.yaml": cleanPolicy})
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run("diff", "--base", "main", "policies")
	if code != ExitError || !strings.Contains(stderr, "not in a Git repository") {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
}
