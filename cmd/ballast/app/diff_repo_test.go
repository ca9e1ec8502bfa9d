package app

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gitRepo is a real repository made with the git command line in a temporary
// directory, with commits one minute apart.
type gitRepo struct {
	t    *testing.T
	dir  string
	tick int
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("these tests need the git command line: %v", err)
	}
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	when := time.Date(2026, 11, 2, 9, r.tick, 0, 0, time.UTC).Format(time.RFC3339)
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com",
		"GIT_AUTHOR_DATE="+when, "GIT_COMMITTER_DATE="+when, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// write writes files (an empty content removes the file).
func (r *gitRepo) write(files map[string]string) {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.dir, name)
		if content == "" {
			if err := os.Remove(p); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			r.t.Fatal(err)
		}
	}
}

// commit writes files, commits them and returns the commit's hash.
func (r *gitRepo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	r.write(files)
	r.tick++
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// ciVariables are the environment variables plan reads; tests clear them so that a CI
// machine's own values do not leak in.
var ciVariables = []string{
	"GITHUB_TOKEN", "GITLAB_TOKEN", "GITEA_TOKEN", "GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GITHUB_EVENT_PATH",
	"GITHUB_REF", "GITHUB_API_URL", "GITHUB_SERVER_URL", "GITHUB_BASE_REF", "GITHUB_RUN_NUMBER",
	"CI_PROJECT_ID", "CI_PROJECT_PATH", "CI_MERGE_REQUEST_IID", "CI_API_V4_URL", "CI_MERGE_REQUEST_DIFF_BASE_SHA", "CI_PIPELINE_IID",
}

func clearCI(t *testing.T) {
	t.Helper()
	for _, v := range ciVariables {
		t.Setenv(v, "")
	}
}

// A small policy tree: prod in eu-west-1 with a rule for the shop namespace.
const (
	prodPolicy = `apiVersion: ballast.dev/v1alpha1
kind: ClusterPolicy
metadata:
  name: prod
  annotations:
    ballast.dev/cost-scenario: ../../scenarios/prod.yaml
spec:
  cluster:
    name: prod
    region: eu-central-1
  nodeClass:
    role: KarpenterNodeRole-prod
  instances:
    categories: [c, m, r]
    minGeneration: 6
  distribution:
    baseOnDemand: 1
    onDemandPercent: 50
  binPacking:
    consolidateAfter: 5m
  maintenanceWindows:
    - name: nights
      days: [Mon, Tue, Wed, Thu, Fri]
      start: "22:00"
      end: "06:00"
      timeZone: Europe/Berlin
      allow: [Consolidation]
`
	shopRule = `apiVersion: ballast.dev/v1alpha1
kind: WorkloadDistributionRule
metadata:
  name: shop-default
  namespace: shop
spec:
  onDemandPercent: 20
`
	batchRule = `apiVersion: ballast.dev/v1alpha1
kind: WorkloadDistributionRule
metadata:
  name: nightly
  namespace: batch
spec:
  onDemandPercent: 0
`
	prodScenario = `apiVersion: estimate.ballast.dev/v1alpha1
kind: Scenario
metadata:
  name: prod
spec:
  cluster: prod
  workloads:
    - {namespace: shop, name: web, replicas: 10, cpu: "1", memory: 2Gi}
    - {namespace: batch, name: workers, replicas: 20, cpu: "2", memory: 4Gi}
`
)

// history makes a repository with these commits on main, tagged v1 (the first) and
// v2 (the third), and returns their hashes:
//
//	0 the policy tree (prod, rule shop-default) and a cost scenario
//	1 consolidateAfter 5m -> 10m, onDemandPercent 50 -> 20, rule batch/nightly added
//	2 rule shop-default removed
//	3 an invalid policy (onDemandPercent 120)
func history(t *testing.T) (*gitRepo, []string) {
	t.Helper()
	r := newGitRepo(t)
	c0 := r.commit("policy tree", map[string]string{
		"policies/clusters/prod.yaml": prodPolicy, "policies/rules/shop.yaml": shopRule,
		"scenarios/prod.yaml": prodScenario, "README.md": "policies\n",
	})
	r.git("tag", "v1")
	changed := strings.Replace(strings.Replace(prodPolicy, "consolidateAfter: 5m", "consolidateAfter: 10m", 1), "onDemandPercent: 50", "onDemandPercent: 20", 1)
	c1 := r.commit("cheaper", map[string]string{"policies/clusters/prod.yaml": changed, "policies/rules/batch.yaml": batchRule})
	c2 := r.commit("drop the shop rule", map[string]string{"policies/rules/shop.yaml": ""})
	r.git("tag", "v2")
	c3 := r.commit("break it", map[string]string{"policies/clusters/prod.yaml": strings.Replace(changed, "onDemandPercent: 20", "onDemandPercent: 120", 1)})
	return r, []string{c0, c1, c2, c3}
}
