package app

import (
	"strings"
	"testing"

	"github.com/ballast-dev/ballast/test/gitserver"
)

func TestPlanCommand(t *testing.T) {
	clearCI(t)
	r, c := history(t)
	t.Chdir(r.Dir)
	// A feature branch from v2 lowers the batch rule's On-Demand share; main moved on
	// (to the broken commit) after the branch point.
	r.Git("checkout", "-q", "-b", "feature", "v2")
	feature := r.Commit("all batch on spot", map[string]string{"policies/rules/batch.yaml": strings.Replace(batchRule, "onDemandPercent: 0", "onDemandPercent: 0\n  baseOnDemand: 0", 1)})
	r.Git("update-ref", "refs/remotes/origin/main", c[3])
	r.Git("checkout", "-q", "main")

	for _, tc := range []struct {
		name           string
		args           []string
		env            map[string]string
		code           int
		stdout, stderr []string
		noStdout       []string
	}{
		{name: "two tags", args: []string{"--base", "v1", "--head", "v2", "policies"}, code: ExitOK,
			stdout: []string{
				"**Ballast plan:** prod: 5 objects differ (3 changed, 1 added, 1 removed), cost $",
				"/month (-", "Spot share ",
				"| prod | 3 changed, 1 added, 1 removed | $",
				"<details><summary><b>prod</b>: 3 changed, 1 added, 1 removed</summary>",
				"| `spec.distribution.onDemandPercent` | `50` | `20` |",
				"workload from `scenarios/prod.yaml`",
				"· base v1 (" + c[0][:7] + ") · head v2 (" + c[2][:7] + ")</sub>",
			},
			noStdout: []string{"Validation:"}},
		{name: "invalid head", args: []string{"--base", "v2", "--head", "main", "policies"}, code: ExitFindings,
			stdout: []string{"**1 validation error**", "<details open><summary>Validation: 1 error", "`policies/clusters/prod.yaml:", "The head has validation errors"}},
		{name: "merge base", args: []string{"--base", "main", "--head", "feature", "policies"}, code: ExitOK,
			stdout:   []string{"prod: 1 object changed", "base merge base with main (" + c[2][:7] + ")", "head feature (" + feature[:7] + ")", "~ WorkloadDistributionRule `batch/nightly`"},
			noStdout: []string{"validation error", "onDemandPercent` | `120`"}},
		{name: "no merge base", args: []string{"--no-merge-base", "--base", "main", "--head", "feature", "policies"}, code: ExitOK,
			stdout: []string{"The base main (" + c[3][:7] + ") has validation errors"}},
		{name: "base from GitHub Actions", env: map[string]string{"GITHUB_BASE_REF": "main"}, args: []string{"--head", "feature", "policies"}, code: ExitOK,
			stdout: []string{"base merge base with origin/main (" + c[2][:7] + ")", "prod: 1 object changed"}},
		{name: "base from GitLab CI", env: map[string]string{"CI_MERGE_REQUEST_DIFF_BASE_SHA": c[2]}, args: []string{"--head", "feature", "policies"}, code: ExitOK,
			stdout: []string{"base " + c[2][:7] + " · head feature"}},
		{name: "no base", args: []string{"--head", "v2", "policies"}, code: ExitOK,
			stdout: []string{"**Ballast plan:** prod: no base to compare with, cost $", "> No base revision"}},
		{name: "scenario flag", args: []string{"--base", "v1", "--head", "v2", "--scenario", "scenarios/prod.yaml", "--cluster", "prod", "policies"}, code: ExitOK,
			stdout: []string{"workload from `scenarios/prod.yaml`"}},
		{name: "snapshot and scenario", args: []string{"--scenario", "a", "--snapshot", "b", "policies"}, code: ExitError,
			stderr: []string{"none of the others can be"}},
		{name: "unknown forge", args: []string{"--comment", "bitbucket", "policies"}, code: ExitError, stderr: []string{`unknown forge "bitbucket"`}},
		{name: "no token", args: []string{"--head", "v2", "--comment", "github", "--repo", "a/b", "--pr", "1", "policies"}, code: ExitError,
			stderr: []string{"needs a token in GITHUB_TOKEN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := run(append([]string{"plan", "--time", at}, tc.args...)...)
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

func TestPlanCostSources(t *testing.T) {
	clearCI(t)
	r := gitserver.NewWorkTree(t)
	two := prodPolicy + "---\n" + strings.ReplaceAll(strings.Replace(prodPolicy, "../../scenarios/prod.yaml", "/etc/passwd", 1), "prod", "dev")
	r.Commit("two clusters", map[string]string{"policies/clusters/all.yaml": two, "scenarios/prod.yaml": prodScenario})
	t.Chdir(r.Dir)
	code, stdout, stderr := run("plan", "--time", at, "--base", "HEAD", "policies")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"**Ballast plan:** no change in 2 clusters, cost $",
		"(unchanged) for the 1 cluster estimated",
		`- **dev**: policies/clusters/all.yaml: the ballast.dev/cost-scenario annotation "/etc/passwd" must name a file inside the repository`,
		"- **prod**: workload from `scenarios/prod.yaml`",
		"Prices: the built-in catalogue (AWS public price lists",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	code, _, stderr = run("plan", "--time", at, "--scenario", "scenarios/prod.yaml", "policies")
	if code != ExitError || !strings.Contains(stderr, "name it with --cluster (the tree has 2)") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
