package cost

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// randomPrices is the test catalogue with random prices of many decimals, so that
// rounding to cents matters.
func randomPrices(t *testing.T, rng *rand.Rand) *Catalogue {
	c := testPrices(t)
	for _, typ := range c.InstanceTypes() {
		od := 0.01 + rng.Float64()*3
		for capacity, p := range map[string]float64{OnDemand: od, Spot: od * (0.1 + 0.8*rng.Float64()),
			Reserved: od * (0.4 + 0.5*rng.Float64()), SavingsPlan: od * (0.5 + 0.45*rng.Float64())} {
			if err := c.SetPrice("eu-west-1", typ, capacity, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

// randomCommitments are up to three reservations and two Savings Plans.
func randomCommitments(rng *rand.Rand, types []string) Commitments {
	c := Commitments{Utilization: 0.1 + 0.9*rng.Float64()}
	for range rng.IntN(4) {
		ri := ReservedInstance{InstanceType: types[rng.IntN(len(types))], Count: 1 + rng.IntN(5)}
		if rng.IntN(3) == 0 {
			ri.Zone = "eu-west-1a"
		}
		c.ReservedInstances = append(c.ReservedInstances, ri)
	}
	for range rng.IntN(3) {
		sp := SavingsPlanSpend{Type: "Compute", PerHour: rng.Float64() * 2}
		if rng.IntN(2) == 0 {
			sp.Type, sp.Family = "EC2Instance", familyOf(types[rng.IntN(len(types))])
		}
		c.SavingsPlans = append(c.SavingsPlans, sp)
	}
	return c
}

func randomSchedule(rng *rand.Rand) Schedule {
	if rng.IntN(2) == 0 {
		return Schedule{}
	}
	return Schedule{IdleFraction: rng.Float64(), MinNodes: rng.IntN(6)}
}

// TestSavingsAddUp prices random clusters, as they run and as a policy plans them, and
// checks that every figure adds up to the cent (checkSums).
func TestSavingsAddUp(t *testing.T) {
	types := []string{"m6i.xlarge", "m6i.2xlarge", "c6i.xlarge", "m6g.xlarge", "g4dn.xlarge", "g5.xlarge", "g5.12xlarge"}
	namespaces := []string{"shop", "payments", "batch", "ml"}
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 1))
		prices := randomPrices(t, rng)
		request := func() Resources {
			return Resources{MilliCPU: rng.Int64N(3000), Memory: rng.Int64N(8 * gi), GPU: int64(rng.IntN(4) / 3)}
		}
		t.Run(fmt.Sprintf("nodes/%d", seed), func(t *testing.T) {
			w := &Workload{Region: "eu-west-1", Schedule: randomSchedule(rng)}
			for i := range 1 + rng.IntN(30) {
				n := Node{Name: fmt.Sprint(i), InstanceType: types[rng.IntN(len(types))], CapacityType: []string{OnDemand, Spot, ""}[rng.IntN(3)],
					Zone: []string{"eu-west-1a", "eu-west-1b", ""}[rng.IntN(3)]}
				if rng.IntN(4) == 0 {
					n.Allocatable = Resources{MilliCPU: 1000 + rng.Int64N(8000), Memory: gi + rng.Int64N(32*gi), GPU: rng.Int64N(2)}
				}
				for range rng.IntN(9) {
					ns := namespaces[rng.IntN(len(namespaces))]
					n.Pods = append(n.Pods, Pod{Namespace: ns, Workload: fmt.Sprint("app-", rng.IntN(5)), Requests: request(), DaemonSet: rng.IntN(6) == 0})
				}
				w.Nodes = append(w.Nodes, n)
			}
			r, err := Estimate(w, prices, Options{Commitments: randomCommitments(rng, types)})
			if err != nil {
				t.Fatal(err)
			}
			checkSums(t, r)
		})
		t.Run(fmt.Sprintf("planned/%d", seed), func(t *testing.T) {
			policy := testPolicy(func(s *v1alpha1.ClusterPolicySpec) {
				s.Distribution = dist(int32(rng.IntN(101)), int32(rng.IntN(3)), []v1alpha1.SpotSelector{v1alpha1.All, v1alpha1.SpotReady}[rng.IntN(2)])
				if rng.IntN(2) == 0 {
					s.Spot.Strategy = v1alpha1.LeastInterrupted
				}
			})
			w := &Workload{Schedule: randomSchedule(rng)}
			for i := range 1 + rng.IntN(8) {
				a := app(namespaces[rng.IntN(len(namespaces))], fmt.Sprint("app-", i), rng.IntN(20), 0, 0)
				a.Requests = request()
				w.Apps = append(w.Apps, a)
			}
			if rng.IntN(2) == 0 {
				w.DaemonSets = []App{{Namespace: "kube-system", Name: "agent", Requests: Resources{MilliCPU: 50, Memory: 64 << 20}}}
			}
			r, err := EstimateForPolicy(policy, nil, w, prices)
			if err != nil {
				t.Fatal(err)
			}
			checkSums(t, r)
		})
	}
}

func TestApportion(t *testing.T) {
	for _, tc := range []struct {
		name  string
		xs    []float64
		total int64
		want  []int64
	}{
		{"rounding adds up already", []float64{1.004, 2.006}, 301, []int64{100, 201}},
		// 0.005 + 0.005 + 0.005 rounds to 3 cents, but the total is 2: the cent comes
		// off the part rounding moved furthest up (the first, on ties).
		{"a cent too many", []float64{0.005, 0.005, 0.005}, 2, []int64{0, 1, 1}},
		// 1.334 * 3 = 4.002 -> 4.00 rounds each to 1.33 (3.99): the missing cent goes to
		// the part with the largest remainder.
		{"a cent missing", []float64{1.334, 1.3349, 1.333}, 400, []int64{133, 134, 133}},
		{"zero parts stay zero", []float64{0, 1.006, 0}, 100, []int64{0, 100, 0}},
		{"all zero", []float64{0, 0}, 1, []int64{1, 0}},
		{"negative parts", []float64{-0.004, 0.514}, 52, []int64{0, 52}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := apportion(tc.xs, tc.total)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("apportion(%v, %d) = %v, want %v", tc.xs, tc.total, got, tc.want)
			}
		})
	}
}
