package cost

import (
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Prices in testdata/prices.yaml, eu-west-1, USD per hour:
//
//	m6i.xlarge   On-Demand 0.20  Spot 0.08  Reserved 0.20*(1-0.4) = 0.12
//	m6i.2xlarge  On-Demand 0.40  Spot 0.16  Reserved 0.24  Savings Plan 0.30
//	c6i.xlarge   On-Demand 0.17  Spot 0.05  Reserved 0.102 Savings Plan 0.10

func nodesOf(n int, typ, capacity string) []Node {
	out := make([]Node, n)
	for i := range out {
		out[i] = Node{Name: typ, InstanceType: typ, CapacityType: capacity}
	}
	return out
}

func TestEstimateNodes(t *testing.T) {
	prices := testPrices(t)
	mixed := append(nodesOf(4, "m6i.xlarge", OnDemand), nodesOf(6, "m6i.xlarge", Spot)...)
	for _, tc := range []struct {
		name      string
		w         Workload
		opts      Options
		cost      float64
		potential float64
		savings   SavingsBreakdown
		unused    float64
		spotShare float64
		idleNodes int
		err       string
	}{{
		// 4 On-Demand + 6 Spot m6i.xlarge all month:
		// actual 730 * (4*0.20 + 6*0.08) = 730 * 1.28 = 934.40; potential 730 * 10*0.20 = 1460.
		// Spot saves 730 * 6 * (0.20 - 0.08) = 525.60.
		name: "ten nodes, six on Spot", w: Workload{Nodes: mixed}, cost: 934.40, potential: 1460,
		savings: SavingsBreakdown{Spot: 525.60}, spotShare: 0.6, idleNodes: 10,
	}, {
		// Half the month all 10 run: 365 * 1.28 = 467.20; the other half the first two
		// On-Demand nodes: 365 * 2*0.20 = 146 -> 613.20. Potential 1460, savings 846.80:
		// Spot 365 * 6 * 0.12 = 262.80; scale-down, 8 nodes off for 365 h at the
		// On-Demand price: 365 * 8 * 0.20 = 584.
		name: "scaled down to two nodes half the month", w: Workload{Nodes: mixed, Schedule: Schedule{IdleFraction: 0.5, MinNodes: 2}},
		cost: 613.20, potential: 1460, savings: SavingsBreakdown{Spot: 262.80, ScaleDown: 584}, spotShare: 0.6, idleNodes: 2,
	}, {
		// Idle nodes are On-Demand first, then Spot: 5 kept = 4 On-Demand + 1 Spot.
		// 0.75 * 730 = 547.5 h * 1.28 = 700.80; 182.5 h * (0.80 + 0.08) = 160.60 -> 861.40.
		// Spot: 547.5 * 6 * 0.12 + 182.5 * 0.12 = 394.20 + 21.90 = 416.10; scale-down:
		// 5 Spot nodes off for 182.5 h: 182.5 * 5 * 0.20 = 182.50. 1460 - 861.40 = 598.60.
		name: "min nodes beyond the On-Demand ones keeps Spot nodes", w: Workload{Nodes: mixed, Schedule: Schedule{IdleFraction: 0.25, MinNodes: 5}},
		cost: 861.40, potential: 1460, savings: SavingsBreakdown{Spot: 416.10, ScaleDown: 182.50}, spotShare: 0.6, idleNodes: 5,
	}, {
		// A regional m6i.xlarge reservation (8 units) covers half of an m6i.2xlarge
		// (16 units) at 0.12/h. A Compute Savings Plan of 0.10/h goes to the node with the
		// larger discount first: c6i.xlarge at 0.10 (1 - 0.10/0.17 = 41%) rather than
		// m6i.2xlarge at 0.30 (25%), and covers it whole (0.10/0.10 = 1).
		// Hourly: m6i.2xlarge 0.12 + 0.5*0.40 = 0.32; c6i.xlarge 0.10. 730 * 0.42 = 306.60.
		// Potential: 730 * (0.40 + 0.17) = 416.10; commitments save 109.50.
		name: "reservation size flexibility and savings plan order",
		w:    Workload{Nodes: []Node{{Name: "a", InstanceType: "m6i.2xlarge"}, {Name: "b", InstanceType: "c6i.xlarge"}}},
		opts: Options{Commitments: Commitments{Utilization: 1,
			ReservedInstances: []ReservedInstance{{InstanceType: "m6i.xlarge", Count: 1}},
			SavingsPlans:      []SavingsPlanSpend{{Type: "Compute", PerHour: 0.10}}}},
		cost: 306.60, potential: 416.10, savings: SavingsBreakdown{Commitments: 109.50},
	}, {
		// A Compute plan of 0.20/h: c6i.xlarge whole (0.10), then the other half of
		// m6i.2xlarge would need 0.5*0.30 = 0.15; 0.10 is left, covering 0.10/0.30 = 1/3.
		// m6i.2xlarge: 0.12 + 0.10 + (1 - 0.5 - 1/3)*0.40 = 0.22 + 0.0666.. = 0.28667.
		// 730 * (0.28667 + 0.10) = 282.27; commitments save 416.10 - 282.27 = 133.83.
		name: "savings plan covering part of a node",
		w:    Workload{Nodes: []Node{{Name: "a", InstanceType: "m6i.2xlarge"}, {Name: "b", InstanceType: "c6i.xlarge"}}},
		opts: Options{Commitments: Commitments{Utilization: 1,
			ReservedInstances: []ReservedInstance{{InstanceType: "m6i.xlarge", Count: 1}},
			SavingsPlans:      []SavingsPlanSpend{{Type: "Compute", PerHour: 0.20}}}},
		cost: 282.27, potential: 416.10, savings: SavingsBreakdown{Commitments: 133.83},
	}, {
		// A zonal reservation covers its type in its zone only: of m6i.xlarge in a and b
		// and m6i.2xlarge in a, only the first. 3 reserved, 1 used: 2 * 0.12 unused.
		// Hourly 0.12 + 0.20 + 0.40 = 0.72 -> 525.60; unused 730 * 0.24 = 175.20.
		// Commitments save 730 * (0.20 - 0.12) = 58.40.
		name: "zonal reservation",
		w: Workload{Nodes: []Node{{InstanceType: "m6i.2xlarge", Zone: "eu-west-1a"}, {InstanceType: "m6i.xlarge", Zone: "eu-west-1b"},
			{InstanceType: "m6i.xlarge", Zone: "eu-west-1a"}}},
		opts: Options{Commitments: Commitments{Utilization: 1, ReservedInstances: []ReservedInstance{{InstanceType: "m6i.xlarge", Count: 3, Zone: "eu-west-1a"}}}},
		cost: 525.60, potential: 584, savings: SavingsBreakdown{Commitments: 58.40}, unused: 175.20,
	}, {
		// An EC2 Instance plan covers its family at the Reserved price, and the cluster
		// may use half of it: 0.5 * 0.24 = 0.12/h buys 0.12/0.24 = half of m6i.2xlarge.
		// m6i.2xlarge 0.12 + 0.5*0.40 = 0.32; c6i.xlarge (other family) 0.17 -> 730*0.49
		// = 357.70; commitments save 730 * 0.08 = 58.40.
		name: "EC2 Instance plan and utilization",
		w:    Workload{Nodes: []Node{{InstanceType: "c6i.xlarge"}, {InstanceType: "m6i.2xlarge"}}},
		opts: Options{Commitments: Commitments{Utilization: 0.5, SavingsPlans: []SavingsPlanSpend{{Type: "EC2Instance", Family: "m6i", PerHour: 0.24}}}},
		cost: 357.70, potential: 416.10, savings: SavingsBreakdown{Commitments: 58.40},
	}, {
		// Commitments apply only to running On-Demand nodes: during the idle half only
		// the one On-Demand node runs, fully covered by 1 of 2 reserved m6i.xlarge, so
		// one reservation (0.12/h) is unused all month and the other half the month.
		// Active: 365 * (0.12 + 0.12 + 0.08) = 116.80; idle: 365 * 0.12 = 43.80 -> 160.60.
		// Unused: 365 * 0 + 365 * 0.12 = 43.80. Potential 730 * 3 * 0.20 = 438.
		// Commitments save 365 * 2 * 0.08 + 365 * 0.08 = 87.60, Spot 365 * 0.12 = 43.80,
		// the scale-down 365 * 2 * 0.20 = 146 (an On-Demand and the Spot node off).
		name: "commitments while scaled down",
		w:    Workload{Nodes: append(nodesOf(2, "m6i.xlarge", OnDemand), nodesOf(1, "m6i.xlarge", Spot)...), Schedule: Schedule{IdleFraction: 0.5, MinNodes: 1}},
		opts: Options{Commitments: Commitments{Utilization: 1, ReservedInstances: []ReservedInstance{{InstanceType: "m6i.xlarge", Count: 2}}}},
		cost: 160.60, potential: 438, savings: SavingsBreakdown{Spot: 43.80, Commitments: 87.60, ScaleDown: 146}, unused: 43.80,
		spotShare: 1.0 / 3, idleNodes: 1,
	}, {
		name: "unknown instance type", w: Workload{Nodes: nodesOf(1, "x9.huge", OnDemand)}, err: "no On-Demand price for x9.huge in eu-west-1",
	}, {
		name: "unknown region", w: Workload{Nodes: nodesOf(1, "m6i.xlarge", OnDemand)}, opts: Options{Region: "mars-1"}, err: "in mars-1",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.Region == "" {
				tc.opts.Region = "eu-west-1"
			}
			r, err := Estimate(&tc.w, prices, tc.opts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			near(t, "MonthlyCost", r.MonthlyCost, tc.cost)
			near(t, "MonthlyPotential", r.MonthlyPotential, tc.potential)
			near(t, "MonthlySavings", r.MonthlySavings, tc.potential-tc.cost)
			near(t, "Savings.Spot", r.Savings.Spot, tc.savings.Spot)
			near(t, "Savings.Commitments", r.Savings.Commitments, tc.savings.Commitments)
			near(t, "Savings.ScaleDown", r.Savings.ScaleDown, tc.savings.ScaleDown)
			near(t, "MonthlyUnusedCommitment", r.MonthlyUnusedCommitment, tc.unused)
			near(t, "SpotShare", r.SpotShare, tc.spotShare)
			if tc.idleNodes != 0 && r.IdleNodes != tc.idleNodes {
				t.Errorf("IdleNodes = %d, want %d", r.IdleNodes, tc.idleNodes)
			}
			checkSums(t, r)
		})
	}
}

func TestAttribution(t *testing.T) {
	// One On-Demand m6i.xlarge (730 * 0.20 = 146/month) with 4 CPUs and 16 GiB
	// allocatable, one Spot m6i.xlarge (730 * 0.08 = 58.40, saving 146 - 58.40 = 87.60).
	//   web  1 CPU, 4 GiB: (1/4 + 4/16)/2 = 0.25   -> 146 * 0.25  = 36.50
	//   api  2 CPU, 4 GiB: (2/4 + 4/16)/2 = 0.375  -> 146 * 0.375 = 54.75
	//   node-agent 0.2 CPU, 1 GiB on each node: (0.05 + 0.0625)/2 = 0.05625
	//        -> 146 * 0.05625 + 58.40 * 0.05625 = 8.2125 + 3.285 = 11.4975 (11.50),
	//           savings 87.60 * 0.05625 = 4.9275 (4.93)
	//   batch/job on the Spot node, 4 CPU, 0 memory: (1 + 0)/2 = 0.5 -> 29.20, saves 43.80
	//   idle: node 1: 1 - 0.68125 = 0.31875 -> 46.5375; node 2: 1 - 0.55625 = 0.44375
	//         -> 25.915, saving 87.60 * 0.44375 = 38.8725; total 72.4525 (72.45), 38.87
	// The total, 146 + 58.40 = 204.40, is shared out completely.
	alloc := Resources{MilliCPU: 4000, Memory: 16 * gi}
	agent := Pod{Namespace: "kube-system", Workload: "node-agent", Requests: Resources{MilliCPU: 200, Memory: gi}, DaemonSet: true}
	w := Workload{Region: "eu-west-1", Nodes: []Node{
		{Name: "od", InstanceType: "m6i.xlarge", CapacityType: OnDemand, Allocatable: alloc, Pods: []Pod{
			{Namespace: "shop", Workload: "web", Requests: Resources{MilliCPU: 1000, Memory: 4 * gi}},
			{Namespace: "shop", Workload: "api", Requests: Resources{MilliCPU: 2000, Memory: 4 * gi}},
			agent,
		}},
		{Name: "spot", InstanceType: "m6i.xlarge", CapacityType: Spot, Allocatable: alloc, Pods: []Pod{
			{Namespace: "batch", Workload: "job", Requests: Resources{MilliCPU: 4000}},
			agent,
		}},
	}}
	r, err := Estimate(&w, testPrices(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Attribution{
		{Namespace: Idle, Workload: Idle, MonthlyCost: 72.45, MonthlySavings: 38.87},
		{Namespace: "shop", Workload: "api", MonthlyCost: 54.75},
		{Namespace: "shop", Workload: "web", MonthlyCost: 36.50},
		{Namespace: "batch", Workload: "job", MonthlyCost: 29.20, MonthlySavings: 43.80},
		{Namespace: "kube-system", Workload: "node-agent", MonthlyCost: 11.50, MonthlySavings: 4.93},
	}
	if len(r.Workloads) != len(want) {
		t.Fatalf("workloads = %+v", r.Workloads)
	}
	for i, a := range want {
		got := r.Workloads[i]
		if got.Namespace != a.Namespace || got.Workload != a.Workload {
			t.Errorf("workload %d is %s/%s, want %s/%s (sorted by cost)", i, got.Namespace, got.Workload, a.Namespace, a.Workload)
		}
		near(t, got.Namespace+"/"+got.Workload+" cost", got.MonthlyCost, a.MonthlyCost)
		near(t, got.Namespace+"/"+got.Workload+" savings", got.MonthlySavings, a.MonthlySavings)
	}
	// Namespaces: shop 36.50 + 54.75 = 91.25, then idle 72.45, batch, kube-system.
	var order []string
	for _, a := range r.Namespaces {
		order = append(order, a.Namespace)
	}
	if strings.Join(order, ",") != "shop,(idle),batch,kube-system" {
		t.Errorf("namespaces in order %v", order)
	}
	near(t, "shop", r.Namespaces[0].MonthlyCost, 91.25)
	near(t, "MonthlyCost", r.MonthlyCost, 204.40)
	// Three replicas (the DaemonSet pods are not replicas), one on Spot.
	if r.Replicas != 3 || r.SpotReplicas != 1 {
		t.Errorf("replicas = %d, spot %d; want 3, 1", r.Replicas, r.SpotReplicas)
	}
}

func mustDate(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	if d.Year() == 1 {
		return time.Time{}
	}
	return d
}

func TestCommitmentsFor(t *testing.T) {
	policy := testPolicy(func(s *v1alpha1.ClusterPolicySpec) {
		s.Commitments = &v1alpha1.CommitmentsSpec{Enabled: true, Source: v1alpha1.CommitmentsFromGit,
			ReservedInstances: []v1alpha1.ReservedInstance{
				{InstanceType: "m6i.xlarge", Count: 4, Expires: "2030-01-31"},
				{InstanceType: "c6i.xlarge", Count: 2, Expires: "2026-01-31", Zone: "eu-west-1a"},
			},
			SavingsPlans: []v1alpha1.SavingsPlan{{Type: "Compute", CommitmentPerHour: "1.5"}},
		}
	})
	c, notes, err := CommitmentsFor(policy, mustDate(t, "2027-06-01"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Utilization != 1 || len(c.ReservedInstances) != 1 || c.ReservedInstances[0].Count != 4 || len(c.SavingsPlans) != 1 || c.SavingsPlans[0].PerHour != 1.5 {
		t.Errorf("commitments = %+v", c)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "c6i.xlarge expired on 2026-01-31") {
		t.Errorf("notes = %q", notes)
	}
	all, _, _ := CommitmentsFor(policy, mustDate(t, "0001-01-01"))
	if len(all.ReservedInstances) != 2 {
		t.Errorf("with a zero date every commitment counts, got %+v", all)
	}
	// Discovered commitments are unknown offline; the share the cluster may use is
	// still given, for a caller that discovers them to add them.
	policy.Spec.Commitments.Source = v1alpha1.CommitmentsFromAWS
	policy.Spec.Commitments.MaxUtilizationPercent = ptr.To(int32(80))
	c, notes, _ = CommitmentsFor(policy, mustDate(t, "2027-06-01"))
	if len(c.ReservedInstances)+len(c.SavingsPlans) != 0 || c.Utilization != 0.8 || len(notes) != 1 || !strings.Contains(notes[0], "AWS API") {
		t.Errorf("discovered commitments: %+v, notes %q", c, notes)
	}
}
