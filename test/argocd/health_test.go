package argocd

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/test/controlplane"
)

var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunTests(m, &env)) }

const rev = "main@sha1:3f1c9a4be07d52e8a61f0c7d94b2e5a8c6d1f093"

// healthCases are the fixtures under testdata/health/<Kind>/<case>.yaml and what Argo
// CD must show for each; together they take every branch of every script.
var healthCases = map[string][]struct {
	name    string
	status  string
	message string
}{
	"PolicySource": {
		{"created", Progressing, "Waiting for the Ballast controller to sync this PolicySource"},
		{"no-ready", Progressing, "Waiting for the Ballast controller to sync this PolicySource"},
		{"ready", Healthy, "Applied revision: " + rev + " (7 objects)"},
		{"ready-without-message", Healthy, "ReconciliationSucceeded"},
		{"new-generation", Progressing, "Waiting for the Ballast controller to sync generation 3 (status is of generation 2)"},
		{"reconciling", Progressing, "Reconciliation in progress"},
		{"retrying", Degraded, `failed to apply NodePool/ballast-prod-eu-spot: Patch "https://10.100.0.1:443/apis/karpenter.sh/v1/nodepools/ballast-prod-eu-spot?fieldManager=ballast": dial tcp 10.100.0.1:443: connect: connection refused`},
		{"stalled", Degraded, "validation failed (1 error in 1 file); clusters/prod-eu.yaml:24:7: spec.distribution.onDemandPercent: 120 is more than 100"},
		{"stalled-new-generation", Progressing, "Waiting for the Ballast controller to sync generation 3 (status is of generation 2)"},
		{"failed", Degraded, "failed to apply ClusterPolicy/prod-eu: the server could not find the requested resource"},
		{"ready-unknown", Progressing, "Reconciliation in progress"},
		{"suspended", Suspended, "Suspended: nothing is synced, and what was applied stays (revision " + rev + ")"},
		{"suspended-created", Suspended, "Suspended: nothing is synced, and what was applied stays"},
	},
	"ClusterPolicy": {
		{"applied", Progressing, "Waiting for a Ballast controller serving cluster prod-eu to report on this ClusterPolicy"},
		{"fallback-without-ready", Progressing, "Waiting for a Ballast controller serving cluster prod-eu to report on this ClusterPolicy; " +
			"Spot fallback FallenBack: 4 replicas on fallback; the next return to Spot is at 2026-03-02T13:09:10Z"},
		{"serving", Healthy, "Serving cluster prod-eu"},
		{"ready-without-message", Healthy, "Serving"},
		{"short", Healthy, "Serving cluster prod-eu; Spot fallback Short: 3 Spot replicas wait for capacity; they fall back at 2026-03-02T12:39:10Z"},
		{"short-without-message", Healthy, "Serving cluster prod-eu; Spot fallback Short"},
		{"fallen-back", Healthy, "Serving cluster prod-eu; Spot fallback FallenBack: 4 replicas on fallback; the next return to Spot is at 2026-03-02T13:09:10Z"},
		{"returning-without-message", Healthy, "Serving cluster prod-eu; Spot fallback Returning: 2 replicas on fallback"},
		{"new-generation", Progressing, "Waiting for the Ballast controller to observe generation 2 (status is of generation 1)"},
		{"step-failed", Degraded, `fallback: failed to list NodeClaims: nodeclaims.karpenter.sh is forbidden: User "system:serviceaccount:ballast-system:ballast-controller" cannot list resource "nodeclaims" in API group "karpenter.sh" at the cluster scope`},
		{"retrying", Progressing, "cost: failed to price nodes: operation error Pricing: GetProducts, https response error StatusCode: 503, RequestID: 6f0a2c1e-5b4d-4e8f-9a7c-3d2b1e0f9a8b, api error ServiceUnavailable"},
		{"stalled", Degraded, "ClusterPolicies prod-eu and prod-eu-next both name cluster prod-eu: the controller serves neither until one is deleted"},
		{"ready-unknown", Progressing, "Reading the cluster's nodes and pods"},
	},
	"WorkloadDistributionRule": {
		{"applied", Progressing, "Waiting for a Ballast controller serving cluster prod-eu to report on this rule"},
		{"applied-by-hand", Progressing, "Waiting for a Ballast controller to report on this rule"},
		{"no-ready", Progressing, "Waiting for a Ballast controller serving cluster prod-eu to report on this rule"},
		{"serving", Healthy, "Serving 2 workloads in namespace shop"},
		{"ready-without-message", Healthy, "Serving"},
		{"new-generation", Progressing, "Waiting for the Ballast controller to observe generation 2 (status is of generation 1)"},
		{"step-failed", Degraded, `distribution: failed to list pods in namespace shop: pods is forbidden: User "system:serviceaccount:ballast-system:ballast-controller" cannot list resource "pods" in API group "" in the namespace "shop"`},
		{"retrying", Progressing, "distribution: failed to evict shop/cart-cache-2: Too many requests: the server has received too many requests"},
		{"stalled", Degraded, "WorkloadDistributionRule shop/shop-default and shop/shop-all match the same workloads with equal specificity"},
		{"ready-unknown", Progressing, "Counting the workloads' replicas"},
	},
}

// fixture reads testdata/health/<kind>/<name>.yaml.
func fixture(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "health", kind, name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// As the API server serves it: JSON, integers as int64.
	data, err = yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s/%s: %v", kind, name, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		t.Fatalf("%s/%s: %v", kind, name, err)
	}
	if u.GetKind() != kind || u.GroupVersionKind().Group != Group {
		t.Fatalf("%s/%s holds a %s", kind, name, u.GroupVersionKind())
	}
	return u
}

func TestHealth(t *testing.T) {
	for kind, cases := range healthCases {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				status, message, err := Health(fixture(t, kind, tc.name))
				if err != nil {
					t.Fatal(err)
				}
				if status != tc.status || message != tc.message {
					t.Errorf("health %s %q\nwant   %s %q", status, message, tc.status, tc.message)
				}
			})
		}
	}
}

// TestEveryKindAndFixtureIsTested keeps the table above, the scripts and the fixtures
// in step: a script without cases or a fixture no case reads fails.
func TestEveryKindAndFixtureIsTested(t *testing.T) {
	scripts, err := filepath.Glob(filepath.Join(RepoRoot(), HealthDir, "*", "*", "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, s := range scripts {
		dir := filepath.Dir(s)
		if group := filepath.Base(filepath.Dir(dir)); group != Group {
			t.Errorf("%s: a health check outside group %s", s, Group)
		}
		kinds = append(kinds, filepath.Base(dir))
	}
	if !slices.Equal(kinds, Kinds) {
		t.Errorf("scripts for %v; Kinds lists %v", kinds, Kinds)
	}
	for _, kind := range Kinds {
		files, err := filepath.Glob(filepath.Join("testdata", "health", kind, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var fixtures, tested []string
		for _, f := range files {
			fixtures = append(fixtures, strings.TrimSuffix(filepath.Base(f), ".yaml"))
		}
		for _, tc := range healthCases[kind] {
			tested = append(tested, tc.name)
		}
		slices.Sort(fixtures)
		slices.Sort(tested)
		if len(tested) == 0 || !slices.Equal(fixtures, tested) {
			t.Errorf("%s: fixtures %v, cases %v", kind, fixtures, tested)
		}
	}
}

func TestHealthOfAKindWithoutCheck(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": map[string]any{"name": "p"}}}
	if _, _, err := Health(u); err == nil || !strings.Contains(err.Error(), "no health check for karpenter.sh/NodePool") {
		t.Fatalf("err = %v; want no health check for karpenter.sh/NodePool", err)
	}
}

// TestRunLikeArgoCD checks the evaluator against what Argo CD does with a script from
// argocd-cm, so that a script passing here passes there.
func TestRunLikeArgoCD(t *testing.T) {
	obj := map[string]any{
		"apiVersion": "ballast.dev/v1alpha1", "kind": "PolicySource",
		"metadata": map[string]any{"name": "p", "generation": int32(3)},
		"spec":     map[string]any{"suspend": true, "ratio": 0.5, "tags": []any{"a", "b"}, "none": nil},
	}
	cases := []struct {
		name, script    string
		status, message string
		err             string
	}{
		{name: "obj is the object as Lua tables",
			script: `return {status = "Healthy", message = obj.metadata.name .. " " .. obj.metadata.generation .. " " ..
				tostring(obj.spec.suspend) .. " " .. obj.spec.ratio .. " " .. #obj.spec.tags .. obj.spec.tags[1] .. " " .. tostring(obj.spec.none)}`,
			status: Healthy, message: "p 3 true 0.5 2a nil"},
		{name: "the table library is open", script: `local t = {} table.insert(t, "x") return {status = "Degraded", message = table.concat(t, ",")}`,
			status: Degraded, message: "x"},
		{name: "the string library is not", script: `return {status = "Healthy", message = string.format("%d", 1)}`,
			err: "string"},
		{name: "nor methods on strings", script: `return {status = "Healthy", message = ("x"):upper()}`, err: "upper"},
		// Argo CD offers os.time and os.date; a health check must not read the clock.
		{name: "nor os", script: `return {status = "Healthy", message = "" .. os.time()}`, err: "'time'"},
		{name: "a missing message is empty", script: `return {status = "Suspended"}`, status: Suspended},
		{name: "a status Argo CD does not know", script: `return {status = "Ready"}`, err: `status "Ready"`},
		{name: "no status", script: `return {}`, err: `status ""`},
		{name: "a message that is no string", script: `return {status = "Healthy", message = 1}`, err: "number message"},
		{name: "no table", script: `return "Healthy"`, err: "returned string, not a table"},
		{name: "nothing", script: ``, err: "returned nil, not a table"},
		{name: "a runtime error", script: `return obj.status.conditions`, err: "the health check failed"},
		{name: "a script that does not end", script: `while true do end`, err: "context deadline exceeded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, message, err := Run(tc.script, obj)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v; want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if status != tc.status || message != tc.message {
				t.Errorf("health %s %q; want %s %q", status, message, tc.status, tc.message)
			}
		})
	}
}
