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
