package cost

import (
	"math"
	"os"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

const gi = int64(1) << 30

// testPrices loads testdata/prices.yaml: round numbers for hand computation.
func testPrices(t testing.TB) *Catalogue {
	t.Helper()
	data, err := os.ReadFile("testdata/prices.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCatalogue(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testPolicy is a defaulted policy for cluster "test" in eu-west-1.
func testPolicy(mut func(*v1alpha1.ClusterPolicySpec)) *v1alpha1.ClusterPolicy {
	p := &v1alpha1.ClusterPolicy{Spec: v1alpha1.ClusterPolicySpec{
		Cluster:   v1alpha1.ClusterIdentity{Name: "test", Region: "eu-west-1"},
		NodeClass: v1alpha1.NodeClassSpec{Role: "r"},
	}}
	if mut != nil {
		mut(&p.Spec)
	}
	p.Default()
	return p
}

func dist(pct, base int32, sel v1alpha1.SpotSelector) v1alpha1.DistributionSpec {
	return v1alpha1.DistributionSpec{OnDemandPercent: ptr.To(pct), BaseOnDemand: ptr.To(base), Selector: sel}
}

func app(ns, name string, replicas int, milliCPU, memory int64) App {
	return App{Namespace: ns, Name: name, Replicas: replicas, Requests: Resources{MilliCPU: milliCPU, Memory: memory}}
}

// near compares money to the cent and shares to 1e-9.
func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 0.005 {
		t.Errorf("%s = %.4f, want %.4f", what, got, want)
	}
}

func find(as []Attribution, ns, wl string) (Attribution, bool) {
	for _, a := range as {
		if a.Namespace == ns && a.Workload == wl {
			return a, true
		}
	}
	return Attribution{}, false
}

// checkSums asserts, to the cent, that the report's money adds up: potential - cost =
// savings = the sum of the breakdown, the pools add up to the cost, and the namespaces
// and the workloads add up to the cost and the savings (a namespace to its workloads).
func checkSums(t *testing.T, r *Report) {
	t.Helper()
	c := func(x float64) int64 { return int64(math.Round(x * 100)) }
	for what, x := range map[string]float64{"cost": r.MonthlyCost, "potential": r.MonthlyPotential, "savings": r.MonthlySavings,
		"spot": r.Savings.Spot, "commitments": r.Savings.Commitments, "scale-down": r.Savings.ScaleDown} {
		if math.Abs(x*100-float64(c(x))) > 1e-6 {
			t.Errorf("%s %v is not in whole cents", what, x)
		}
	}
	cost, savings := c(r.MonthlyCost), c(r.MonthlySavings)
	if c(r.MonthlyPotential)-cost != savings {
		t.Errorf("potential %.2f - cost %.2f != savings %.2f", r.MonthlyPotential, r.MonthlyCost, r.MonthlySavings)
	}
	if b := r.Savings; c(b.Spot)+c(b.Commitments)+c(b.ScaleDown) != savings {
		t.Errorf("breakdown %+v does not add up to savings %.2f", b, r.MonthlySavings)
	}
	var pools int64
	for _, p := range r.Pools {
		pools += c(p.MonthlyCost)
	}
	if pools != cost {
		t.Errorf("pools add up to %d cents, cost is %d", pools, cost)
	}
	byNamespace := map[string][2]int64{}
	var wlCost, wlSavings int64
	for _, a := range r.Workloads {
		wlCost += c(a.MonthlyCost)
		wlSavings += c(a.MonthlySavings)
		s := byNamespace[a.Namespace]
		byNamespace[a.Namespace] = [2]int64{s[0] + c(a.MonthlyCost), s[1] + c(a.MonthlySavings)}
	}
	if wlCost != cost || wlSavings != savings {
		t.Errorf("workloads add up to %d/%d cents, want cost %d, savings %d", wlCost, wlSavings, cost, savings)
	}
	var nsCost, nsSavings int64
	for _, a := range r.Namespaces {
		nsCost += c(a.MonthlyCost)
		nsSavings += c(a.MonthlySavings)
		if w := byNamespace[a.Namespace]; w != [2]int64{c(a.MonthlyCost), c(a.MonthlySavings)} {
			t.Errorf("namespace %s is %.2f/%.2f, its workloads %d/%d cents", a.Namespace, a.MonthlyCost, a.MonthlySavings, w[0], w[1])
		}
	}
	if nsCost != cost || nsSavings != savings {
		t.Errorf("namespaces add up to %d/%d cents, want cost %d, savings %d", nsCost, nsSavings, cost, savings)
	}
}
