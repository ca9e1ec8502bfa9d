package app

import (
	"strings"
	"testing"

	"github.com/ballast-dev/ballast/test/gitserver"
)

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
func history(t *testing.T) (*gitserver.WorkTree, []string) {
	t.Helper()
	r := gitserver.NewWorkTree(t)
	c0 := r.Commit("policy tree", map[string]string{
		"policies/clusters/prod.yaml": prodPolicy, "policies/rules/shop.yaml": shopRule,
		"scenarios/prod.yaml": prodScenario, "README.md": "policies\n",
	})
	r.Git("tag", "v1")
	changed := strings.Replace(strings.Replace(prodPolicy, "consolidateAfter: 5m", "consolidateAfter: 10m", 1), "onDemandPercent: 50", "onDemandPercent: 20", 1)
	c1 := r.Commit("cheaper", map[string]string{"policies/clusters/prod.yaml": changed, "policies/rules/batch.yaml": batchRule})
	c2 := r.Commit("drop the shop rule", map[string]string{"policies/rules/shop.yaml": ""})
	r.Git("tag", "v2")
	c3 := r.Commit("break it", map[string]string{"policies/clusters/prod.yaml": strings.Replace(changed, "onDemandPercent: 20", "onDemandPercent: 120", 1)})
	return r, []string{c0, c1, c2, c3}
}
