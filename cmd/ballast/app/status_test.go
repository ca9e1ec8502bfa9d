package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
)

// statusClock pins ballast status's clock for the test.
func statusClock(t *testing.T, now time.Time) {
	t.Helper()
	old := statusNow
	statusNow = func() time.Time { return now }
	t.Cleanup(func() { statusNow = old })
}

// runStatus runs ballast status and returns its exit code, stdout and stderr.
func runStatus(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := MainContext(context.Background(), append([]string{"status"}, args...), nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

// columns turns a table's column gaps (two spaces or more) into " | ", so that a test
// can assert whole rows without depending on the column widths.
func columns(s string) string {
	return regexp.MustCompile(` {2,}`).ReplaceAllString(s, " | ")
}

// assertOneLineError checks a failed run printed exactly one error line (no usage, no
// stack) containing every want.
func assertOneLineError(t *testing.T, code int, out, errOut string, want ...string) {
	t.Helper()
	if code != ExitError {
		t.Errorf("exit code %d, want %d", code, ExitError)
	}
	if out != "" {
		t.Errorf("stdout should be empty on an error, got:\n%s", out)
	}
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "Error: ") {
		t.Errorf("want one line starting with \"Error: \", got:\n%s", errOut)
	}
	for _, bad := range []string{"goroutine", "panic", ".go:"} {
		if strings.Contains(errOut, bad) {
			t.Errorf("the error shows %q:\n%s", bad, errOut)
		}
	}
	for _, w := range want {
		if !strings.Contains(errOut, w) {
			t.Errorf("the error does not say %q:\n%s", w, errOut)
		}
	}
}

// TestStatusErrorsWithoutCluster covers what fails before a cluster answers: a bad
// output format, a kubeconfig that is missing, a context it does not have, and an API
// server nobody listens on.
func TestStatusErrorsWithoutCluster(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there any more: connections are refused
	kc := clientcmdapi.NewConfig()
	kc.Clusters["gone"] = &clientcmdapi.Cluster{Server: "https://" + addr, InsecureSkipTLSVerify: true}
	kc.AuthInfos["gone"] = &clientcmdapi.AuthInfo{Token: "secret-token-value"}
	kc.Contexts["gone"] = &clientcmdapi.Context{Cluster: "gone", AuthInfo: "gone"}
	kc.CurrentContext = "gone"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}

	t.Run("unreachable API server", func(t *testing.T) {
		code, out, errOut := runStatus(t, "--kubeconfig", path)
		assertOneLineError(t, code, out, errOut, "https://"+addr, "context gone", "connection refused")
		if strings.Contains(errOut, "secret-token-value") {
			t.Errorf("the error shows the token:\n%s", errOut)
		}
	})
	t.Run("missing kubeconfig", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope")
		code, out, errOut := runStatus(t, "--kubeconfig", missing)
		assertOneLineError(t, code, out, errOut, "failed to load the kubeconfig", missing)
	})
	t.Run("unknown context", func(t *testing.T) {
		code, out, errOut := runStatus(t, "--kubeconfig", path, "--context", "elsewhere")
		assertOneLineError(t, code, out, errOut, "failed to load the kubeconfig", `"elsewhere"`)
	})
	t.Run("KUBECONFIG", func(t *testing.T) {
		t.Setenv("KUBECONFIG", path)
		code, out, errOut := runStatus(t)
		assertOneLineError(t, code, out, errOut, "https://"+addr)
	})
	t.Run("unknown output", func(t *testing.T) {
		code, out, errOut := runStatus(t, "--kubeconfig", path, "-o", "yaml")
		assertOneLineError(t, code, out, errOut, `unknown output "yaml": use table or json`)
	})
}

// TestStatus runs ballast status against a real API server with Ballast's CRDs: the
// statuses the controllers write (through the status subresource) come out as exact
// figures in the table and in JSON; rules of other clusters stay out; missing pieces
// print "-"; and the ClusterPolicy is chosen or the choices are listed.
func TestStatus(t *testing.T) {
	env, err := controlplane.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	ctx := context.Background()
	c := env.Client
	kubeconfig := writeKubeconfig(t, env)
	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	statusClock(t, now)
	at := func(hhmmss string) metav1.Time {
		ts, err := time.Parse(time.RFC3339, "2026-05-04T"+hhmmss+"Z")
		if err != nil {
			t.Fatal(err)
		}
		return metav1.NewTime(ts)
	}

	t.Run("no ClusterPolicy", func(t *testing.T) {
		code, out, errOut := runStatus(t, "--kubeconfig", kubeconfig)
		assertOneLineError(t, code, out, errOut, "no ClusterPolicy in the cluster at "+env.Config.Host)
	})

	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "prod-us-policy"},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:   v1alpha1.ClusterIdentity{Name: "prod-us", Region: "us-east-1"},
			NodeClass: v1alpha1.NodeClassSpec{Role: "r"},
		},
	}
	if err := c.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}

	t.Run("nothing reported yet", func(t *testing.T) {
		code, out, errOut := runStatus(t, "--kubeconfig", kubeconfig)
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		want := `Cluster prod-us (us-east-1), ClusterPolicy prod-us-policy

Spot | -
Fallback | -
Nodes | -
Spot share | -
Potential | -
Actual | -
Savings | -
Prices | -

Workloads
 | none reported yet

Top namespaces by cost
 | -
`
		if got := columns(out); got != want {
			t.Errorf("got:\n%s\nwant:\n%s", got, want)
		}
		code, out, errOut = runStatus(t, "--kubeconfig", kubeconfig, "-o", "json")
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		wantJSON := `{
  "cluster": "prod-us",
  "region": "us-east-1",
  "policy": "prod-us-policy",
  "workloads": []
}
`
		if out != wantJSON {
			t.Errorf("got:\n%s\nwant:\n%s", out, wantJSON)
		}
	})

	// What the controllers write: conditions, the fallback, the cost and the split of
	// a workload the policy governs.
	policy.Status = v1alpha1.ClusterPolicyStatus{
		Conditions: []metav1.Condition{{
			Type: "Ready", Status: metav1.ConditionTrue, Reason: "Applied",
			Message: "applied revision main@sha1:0123abc", LastTransitionTime: at("08:00:00"),
		}},
		Fallback: &v1alpha1.FallbackStatus{
			State: v1alpha1.FallbackFallenBack, ShortSince: ptr.To(at("09:40:00")), FallenBackSince: ptr.To(at("10:00:00")),
			Replicas: 3, NextReturnAttempt: ptr.To(at("12:30:00")), FailedReturns: 1,
			Message: "Spot capacity short in us-east-1a",
		},
		Cost: &v1alpha1.CostStatus{
			ObservedTime: at("11:59:30"), Prices: "aws", Nodes: 12, SpotNodes: 7,
			Replicas: 60, SpotReplicas: 35, SpotPercent: 58,
			MonthlyPotential: "12345.67", MonthlyActual: "7000.00", MonthlySavings: "5345.67",
			SpotSavings: "4000.00", CommitmentSavings: "1345.67", MonthlyUnusedCommitment: "120.50",
			Namespaces: []v1alpha1.CostShare{
				{Namespace: "shop", MonthlyCost: "3000.10", MonthlySavings: "2500.00"},
				{Namespace: "(idle)", MonthlyCost: "1500.00", MonthlySavings: "700.25"},
				{Namespace: "data", MonthlyCost: "900.00", MonthlySavings: "300.00"},
			},
			Workloads: []v1alpha1.CostShare{{Namespace: "shop", Workload: "web", MonthlyCost: "2000.00", MonthlySavings: "1800.00"}},
		},
		Workloads: []v1alpha1.WorkloadPlacement{{
			Kind: "Deployment", Namespace: "shop", Name: "api", Replicas: 4,
			Desired:        v1alpha1.PlacementCounts{OnDemand: 1, Spot: 3},
			Observed:       v1alpha1.PlacementCounts{OnDemand: 2, Spot: 2, Fallback: 1},
			Reasons:        map[string]int32{"base": 1, "fallback": 1, "split": 2},
			LastUpdateTime: ptr.To(at("11:00:00")),
		}},
	}
	if err := c.Status().Update(ctx, policy); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	// A rule of this cluster governing one workload, and a rule of another cluster
	// whose workloads must not show.
	rule := &v1alpha1.WorkloadDistributionRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-rule"},
		Spec:       v1alpha1.WorkloadDistributionRuleSpec{DistributionSpec: v1alpha1.DistributionSpec{OnDemandPercent: ptr.To[int32](20)}},
	}
	other := &v1alpha1.WorkloadDistributionRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "eu-only"},
		Spec:       v1alpha1.WorkloadDistributionRuleSpec{Clusters: []string{"prod-eu"}},
	}
	for _, r := range []*v1alpha1.WorkloadDistributionRule{rule, other} {
		if err := c.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	rule.Status.Workloads = []v1alpha1.WorkloadPlacement{{
		Kind: "Deployment", Namespace: "shop", Name: "web", Replicas: 10,
		Desired:  v1alpha1.PlacementCounts{OnDemand: 2, Spot: 8},
		Observed: v1alpha1.PlacementCounts{OnDemand: 5, Spot: 5, Fallback: 2},
		Reasons:  map[string]int32{"base": 2, "fallback": 2, "split": 6},
		Message:  "1 surplus On-Demand replica waits for its\nPodDisruptionBudget",
	}}
	other.Status.Workloads = []v1alpha1.WorkloadPlacement{{Kind: "Deployment", Namespace: "shop", Name: "batch", Replicas: 1}}
	for _, r := range []*v1alpha1.WorkloadDistributionRule{rule, other} {
		if err := c.Status().Update(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("table", func(t *testing.T) {
		code, out, errOut := runStatus(t, "--kubeconfig", kubeconfig, "--top", "2")
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		want := `Cluster prod-us (us-east-1), ClusterPolicy prod-us-policy

Ready | True (Applied): applied revision main@sha1:0123abc
Spot | FallenBack since 2026-05-04T10:00:00Z (2h0m ago): Spot capacity short in us-east-1a
Fallback | 3 replicas, next return to Spot 2026-05-04T12:30:00Z (in 30m0s) (1 failed returns)
Nodes | 12 (7 Spot)
Spot share | 58% of replicas (35 of 60)
Potential | $12,345.67/mo (every node On-Demand)
Actual | $7,000.00/mo
Savings | $5,345.67/mo (43.3%): Spot $4,000.00, commitments $1,345.67
Unused commitment | $120.50/mo (paid, not in the actual cost)
Prices | aws, priced 2026-05-04T11:59:30Z (30s ago)

Workloads
NAMESPACE | KIND | NAME | REPLICAS | DESIRED OD/SPOT | OBSERVED OD/SPOT (FALLBACK) | REASONS | GOVERNED BY | MESSAGE
shop | Deployment | api | 4 | 1/3 | 2/2 (1) | base=1,fallback=1,split=2 | ClusterPolicy/prod-us-policy | -
shop | Deployment | web | 10 | 2/8 | 5/5 (2) | base=2,fallback=2,split=6 | WorkloadDistributionRule/web-rule | 1 surplus On-Demand replica waits for its PodDisruptionBudget

Top namespaces by cost
NAMESPACE | COST/MO | SAVINGS/MO
shop | $3,000.10 | $2,500.00
(idle) | $1,500.00 | $700.25
(1 more)
`
		if got := columns(out); got != want {
			t.Errorf("got:\n%s\nwant:\n%s", got, want)
		}
		if strings.Contains(out, "batch") {
			t.Errorf("a workload of another cluster's rule is listed:\n%s", out)
		}
	})

	t.Run("json", func(t *testing.T) {
		code, out, errOut := runStatus(t, "--kubeconfig", kubeconfig, "-o", "json")
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got StatusReport
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		tm := func(hhmmss string) *time.Time { ts := at(hhmmss).UTC(); return &ts }
		want := StatusReport{
			Cluster: "prod-us", Region: "us-east-1", Policy: "prod-us-policy",
			Conditions: []StatusCondition{{Type: "Ready", Status: "True", Reason: "Applied",
				Message: "applied revision main@sha1:0123abc", LastTransitionTime: *tm("08:00:00")}},
			Spot: &SpotReport{State: "FallenBack", Since: tm("10:00:00"), FallbackReplicas: 3,
				NextReturnAttempt: tm("12:30:00"), FailedReturns: 1, Message: "Spot capacity short in us-east-1a"},
			Cost: &CostReport{
				PricedAt: *tm("11:59:30"), Prices: "aws", Nodes: 12, SpotNodes: 7, Replicas: 60, SpotReplicas: 35, SpotPercent: 58,
				MonthlyPotential: ptr.To(12345.67), MonthlyActual: ptr.To(7000.0), MonthlySavings: ptr.To(5345.67),
				SpotSavings: ptr.To(4000.0), CommitmentSavings: ptr.To(1345.67), MonthlyUnusedCommitment: ptr.To(120.5),
				Namespaces: []CostShareReport{
					{Namespace: "shop", MonthlyCost: ptr.To(3000.10), MonthlySavings: ptr.To(2500.0)},
					{Namespace: "(idle)", MonthlyCost: ptr.To(1500.0), MonthlySavings: ptr.To(700.25)},
					{Namespace: "data", MonthlyCost: ptr.To(900.0), MonthlySavings: ptr.To(300.0)},
				},
				Workloads: []CostShareReport{{Namespace: "shop", Workload: "web", MonthlyCost: ptr.To(2000.0), MonthlySavings: ptr.To(1800.0)}},
			},
			Workloads: []WorkloadReport{{
				Namespace: "shop", Kind: "Deployment", Name: "api", Replicas: 4,
				Desired: SplitReport{OnDemand: 1, Spot: 3}, Observed: SplitReport{OnDemand: 2, Spot: 2, Fallback: 1},
				Drift: 0, Reasons: map[string]int32{"base": 1, "fallback": 1, "split": 2},
				GovernedBy:     ObjectReport{Kind: "ClusterPolicy", Name: "prod-us-policy"},
				LastUpdateTime: tm("11:00:00"),
			}, {
				Namespace: "shop", Kind: "Deployment", Name: "web", Replicas: 10,
				Desired: SplitReport{OnDemand: 2, Spot: 8}, Observed: SplitReport{OnDemand: 5, Spot: 5, Fallback: 2},
				Drift: 1, Reasons: map[string]int32{"base": 2, "fallback": 2, "split": 6},
				GovernedBy: ObjectReport{Kind: "WorkloadDistributionRule", Namespace: "shop", Name: "web-rule"},
				Message:    "1 surplus On-Demand replica waits for its\nPodDisruptionBudget",
			}},
		}
		if !reflect.DeepEqual(got, want) {
			g, _ := json.MarshalIndent(got, "", "  ")
			w, _ := json.MarshalIndent(want, "", "  ")
			t.Errorf("got:\n%s\nwant:\n%s", g, w)
		}
		// The documented names and the figures as numbers, as scripts read them.
		for _, s := range []string{`"monthlySavings": 5345.67`, `"spotSavings": 4000,`, `"spotPercent": 58,`,
			`"state": "FallenBack"`, `"since": "2026-05-04T10:00:00Z"`, `"drift": 1,`, `"pricedAt": "2026-05-04T11:59:30Z"`} {
			if !strings.Contains(out, s) {
				t.Errorf("the JSON has no %s:\n%s", s, out)
			}
		}
	})

	// A second cluster's policy: status needs --cluster and lists the choices.
	eu := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "prod-eu-policy"},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:   v1alpha1.ClusterIdentity{Name: "prod-eu", Region: "eu-west-1"},
			NodeClass: v1alpha1.NodeClassSpec{Role: "r"},
		},
	}
	if err := c.Create(ctx, eu); err != nil {
		t.Fatal(err)
	}
	eu.Status.Fallback = &v1alpha1.FallbackStatus{State: v1alpha1.FallbackAvailable}
	if err := c.Status().Update(ctx, eu); err != nil {
		t.Fatal(err)
	}

	t.Run("several policies without --cluster", func(t *testing.T) {
		code, out, errOut := runStatus(t, "--kubeconfig", kubeconfig)
		assertOneLineError(t, code, out, errOut, "2 ClusterPolicies", "choose one with --cluster",
			"prod-eu (ClusterPolicy prod-eu-policy), prod-us (ClusterPolicy prod-us-policy)")
	})
	t.Run("unknown --cluster", func(t *testing.T) {
		code, out, errOut := runStatus(t, "--kubeconfig", kubeconfig, "--cluster", "staging")
		assertOneLineError(t, code, out, errOut, `no ClusterPolicy for cluster "staging"`,
			"prod-eu (ClusterPolicy prod-eu-policy), prod-us (ClusterPolicy prod-us-policy)")
	})
	t.Run("--cluster and --context", func(t *testing.T) {
		code, out, errOut := runStatus(t, "--kubeconfig", kubeconfig, "--context", "env", "--cluster", "prod-eu", "-o", "json")
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		want := `{
  "cluster": "prod-eu",
  "region": "eu-west-1",
  "policy": "prod-eu-policy",
  "spot": {
    "state": "Available",
    "fallbackReplicas": 0
  },
  "workloads": [
    {
      "namespace": "shop",
      "kind": "Deployment",
      "name": "batch",
      "replicas": 1,
      "desired": {
        "onDemand": 0,
        "spot": 0,
        "fallback": 0
      },
      "observed": {
        "onDemand": 0,
        "spot": 0,
        "fallback": 0
      },
      "drift": 0,
      "governedBy": {
        "kind": "WorkloadDistributionRule",
        "namespace": "shop",
        "name": "eu-only"
      }
    },
    {
      "namespace": "shop",
      "kind": "Deployment",
      "name": "web",
      "replicas": 10,
      "desired": {
        "onDemand": 2,
        "spot": 8,
        "fallback": 0
      },
      "observed": {
        "onDemand": 5,
        "spot": 5,
        "fallback": 2
      },
      "drift": 1,
      "reasons": {
        "base": 2,
        "fallback": 2,
        "split": 6
      },
      "governedBy": {
        "kind": "WorkloadDistributionRule",
        "namespace": "shop",
        "name": "web-rule"
      },
      "message": "1 surplus On-Demand replica waits for its\nPodDisruptionBudget"
    }
  ]
}
`
		if out != want {
			t.Errorf("got:\n%s\nwant:\n%s", out, want)
		}
	})

	// Without Ballast's CRDs, the answer says so.
	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "clusterpolicies.ballast.dev"}}
	if err := c.Delete(ctx, crd); err != nil {
		t.Fatal(err)
	}
	t.Run("no CRDs", func(t *testing.T) {
		var code int
		var out, errOut string
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			code, out, errOut = runStatus(t, "--kubeconfig", kubeconfig)
			return strings.Contains(errOut, "does not serve"), nil
		})
		if err != nil {
			t.Fatalf("the CRD's removal never showed: %v\n%s", err, errOut)
		}
		assertOneLineError(t, code, out, errOut, "does not serve ClusterPolicies (ballast.dev/v1alpha1): is Ballast installed?")
	})
}
