package cost

import (
	"strconv"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

func TestAllocatable(t *testing.T) {
	for _, tc := range []struct {
		shape  Shape
		cpu    int64
		memory int64
	}{
		// 4 vCPUs: reserved 60 + 10 + 2*5 = 80m. Memory: floor(16 GiB * 0.925) =
		// floor(15891378995.2) = 15891378995, less (255 + 11*58 + 100) MiB = 993 MiB.
		{Shape{VCPU: 4, MemoryGiB: 16, MaxPods: 58}, 3920, 15891378995 - 993<<20},
		// 8 vCPUs: 80 + 4*2.5 = 90m. floor(32 GiB * 0.925) = 31782757990.
		{Shape{VCPU: 8, MemoryGiB: 32, MaxPods: 58}, 7910, 31782757990 - 993<<20},
		// 2 vCPUs: 60 + 10 = 70m. 8 GiB * 0.925 = 7945689497.6; 255 + 11*29 + 100 = 674 MiB.
		{Shape{VCPU: 2, MemoryGiB: 8, MaxPods: 29}, 1930, 7945689497 - 674<<20},
		// 5 vCPUs: 80 + 2.5 = 82.5, rounded up to 83m.
		{Shape{VCPU: 5, MemoryGiB: 20, MaxPods: 58}, 4917, 19864223744 - 993<<20},
	} {
		r, pods := Allocatable(tc.shape)
		if r.MilliCPU != tc.cpu || r.Memory != tc.memory || pods != tc.shape.MaxPods {
			t.Errorf("Allocatable(%+v) = %+v, %d pods; want %dm, %d bytes", tc.shape, r, pods, tc.cpu, tc.memory)
		}
	}
}

func TestEstimateForPolicyPlans(t *testing.T) {
	prices := testPrices(t)
	type spec = v1alpha1.ClusterPolicySpec
	web := app("shop", "web", 10, 1000, 2*gi)
	infer := App{Namespace: "ml", Name: "infer", Replicas: 3, Requests: Resources{MilliCPU: 1000, Memory: 4 * gi, GPU: 1}}
	allSpot := dist(0, 0, v1alpha1.All)
	for _, tc := range []struct {
		name         string
		policy       func(*spec)
		w            Workload
		cost, od     float64
		unused       float64
		spotShare    float64
		nodes, spot  int
		pools        string
		notes        []string
		err          string
		checkReplica func(t *testing.T, r *Report)
	}{{
		// m6i.xlarge offers 3920m - 100m for the agent = 3820m: 3 replicas of 1 CPU.
		// 10 replicas: 1 base + ceil(9 * 20%) = 3 On-Demand -> 1 node; 7 Spot -> 3 nodes.
		// 730 * (0.20 + 3*0.08) = 321.20; On-Demand 730 * 4 * 0.20 = 584.
		name: "split and packed",
		policy: func(s *spec) {
			s.Instances.Include = []string{"m6i.xlarge"}
			s.Distribution = dist(20, 1, v1alpha1.SpotReady)
		},
		w:    Workload{Apps: []App{web}, DaemonSets: []App{{Namespace: "kube-system", Name: "agent", Requests: Resources{MilliCPU: 100, Memory: 128 << 20}}}},
		cost: 321.20, od: 584, spotShare: 0.7, nodes: 4, spot: 3, pools: "m6i.xlarge/spot:3,m6i.xlarge/on-demand:1",
		checkReplica: func(t *testing.T, r *Report) {
			// Each web pod weighs (1000/3920 + 2 GiB/14850143027)/2 on its m6i.xlarge
			// (allocatable before the DaemonSet); 3 pods on the 146/month On-Demand node
			// and 7 on 58.40/month Spot nodes.
			w := (1000.0/3920 + float64(2*gi)/14850143027) / 2
			a, _ := find(r.Workloads, "shop", "web")
			near(t, "web", a.MonthlyCost, w*(3*146+7*58.40))
			near(t, "web savings", a.MonthlySavings, w*7*(146-58.40))
			if a.OnDemandReplicas != 3 || a.SpotReplicas != 7 {
				t.Errorf("web split %d/%d, want 3/7", a.OnDemandReplicas, a.SpotReplicas)
			}
			agent := (100.0/3920 + float64(128<<20)/14850143027) / 2
			k, _ := find(r.Workloads, "kube-system", "agent")
			near(t, "agent", k.MonthlyCost, agent*(146+3*58.40))
		},
	}, {
		// All 4 replicas on Spot. Of the amd64 types (the default architecture),
		// c6i.xlarge is the cheapest Spot node (0.05) and holds 4 * 500m: 730 * 0.05.
		name:   "cheapest allowed type",
		policy: func(s *spec) { s.Distribution = allSpot },
		w:      Workload{Apps: []App{app("shop", "api", 4, 500, gi)}},
		cost:   36.50, od: 730 * 0.17, spotShare: 1, nodes: 1, spot: 1, pools: "c6i.xlarge/spot:1",
	}, {
		// With arm64 allowed, m6g.xlarge at 0.01 wins: 730 * 0.01; On-Demand 730 * 0.10.
		name:   "arm64 allowed",
		policy: func(s *spec) { s.Distribution = allSpot; s.Instances.Architectures = []string{"amd64", "arm64"} },
		w:      Workload{Apps: []App{app("shop", "api", 4, 500, gi)}},
		cost:   7.30, od: 73, spotShare: 1, nodes: 1, spot: 1, pools: "m6g.xlarge/spot:1",
	}, {
		// 12 replicas, 50% On-Demand: 6 and 6. 2 reserved m6i.xlarge take the 6
		// On-Demand replicas (3 each). Spot: 2 m6i.xlarge (2 * 0.08) or 1 m6i.2xlarge
		// (7910m: 7 replicas; 0.16) cost the same; the fewer nodes win.
		// 730 * (2 * 0.12 + 0.16) = 292; On-Demand 730 * (2 * 0.20 + 0.40) = 584.
		// The Compute plan (0.05/h) finds nothing left to cover: 730 * 0.05 unused.
		name: "reserved instances filled first",
		policy: func(s *spec) {
			s.Instances.Include = []string{"m6i.xlarge", "m6i.2xlarge"}
			s.Distribution = dist(50, 0, v1alpha1.All)
			s.Commitments = &v1alpha1.CommitmentsSpec{Enabled: true, Source: v1alpha1.CommitmentsFromGit,
				ReservedInstances: []v1alpha1.ReservedInstance{{InstanceType: "m6i.xlarge", Count: 2}},
				SavingsPlans:      []v1alpha1.SavingsPlan{{Type: "Compute", CommitmentPerHour: "0.05"}}}
		},
		w:    Workload{Apps: []App{app("shop", "web", 12, 1000, 2*gi)}},
		cost: 292, od: 584, unused: 36.50, spotShare: 0.5, nodes: 3, spot: 1, pools: "m6i.xlarge/on-demand:2,m6i.2xlarge/spot:1",
	}, {
		// The cluster may use half of 2 reservations: 1 committed node with 3 replicas,
		// the other 3 On-Demand replicas on the cheapest On-Demand node, m6i.xlarge.
		// 730 * (0.12 + 0.20 + 0.16) = 350.40; On-Demand 730 * 0.80 = 584.
		name: "max utilization",
		policy: func(s *spec) {
			s.Instances.Include = []string{"m6i.xlarge", "m6i.2xlarge"}
			s.Distribution = dist(50, 0, v1alpha1.All)
			s.Commitments = &v1alpha1.CommitmentsSpec{Enabled: true, Source: v1alpha1.CommitmentsFromGit, MaxUtilizationPercent: ptr.To(int32(50)),
				ReservedInstances: []v1alpha1.ReservedInstance{{InstanceType: "m6i.xlarge", Count: 2}}}
		},
		w:    Workload{Apps: []App{app("shop", "web", 12, 1000, 2*gi)}},
		cost: 350.40, od: 584, spotShare: 0.5, nodes: 3, spot: 1, pools: "m6i.xlarge/on-demand:2,m6i.2xlarge/spot:1",
	}, {
		// LeastInterrupted spreads each workload's Spot replicas one per node; two
		// workloads of 3 share 3 nodes: 730 * 3 * 0.08 = 175.20.
		name: "LeastInterrupted spreads Spot replicas",
		policy: func(s *spec) {
			s.Instances.Include = []string{"m6i.xlarge"}
			s.Distribution = allSpot
			s.Spot.Strategy = v1alpha1.LeastInterrupted
		},
		w:    Workload{Apps: []App{app("shop", "a", 3, 500, gi), app("shop", "b", 3, 500, gi)}},
		cost: 175.20, od: 438, spotShare: 1, nodes: 3, spot: 3, pools: "m6i.xlarge/spot:3",
	}, {
		// CostOptimized packs the same 6 * 500m on one node (7 fit in 3920m): 58.40.
		name:   "CostOptimized packs them",
		policy: func(s *spec) { s.Instances.Include = []string{"m6i.xlarge"}; s.Distribution = allSpot },
		w:      Workload{Apps: []App{app("shop", "a", 3, 500, gi), app("shop", "b", 3, 500, gi)}},
		cost:   58.40, od: 146, spotShare: 1, nodes: 1, spot: 1, pools: "m6i.xlarge/spot:1",
	}, {
		// Spot disabled: 10 replicas of 1 CPU On-Demand, 3 per node: 4 nodes, 584.
		name:   "spot disabled",
		policy: func(s *spec) { s.Instances.Include = []string{"m6i.xlarge"}; s.Spot.Enabled = ptr.To(false) },
		w:      Workload{Apps: []App{web}},
		cost:   584, od: 584, nodes: 4, pools: "m6i.xlarge/on-demand:4",
	}, {
		// Bare nodes without a capacity type are split like replicas of one workload:
		// 1 + ceil(9 * 20%) = 3 On-Demand, 7 Spot. 730 * (3*0.20 + 7*0.08) = 846.80.
		name:   "bare nodes split by the cluster default",
		policy: func(s *spec) { s.Distribution = dist(20, 1, v1alpha1.SpotReady) },
		w:      Workload{Nodes: nodesOf(10, "m6i.xlarge", "")},
		cost:   846.80, od: 1460, spotShare: 0.7, nodes: 10, spot: 7, pools: "m6i.xlarge/on-demand:3,m6i.xlarge/spot:7",
	}, {
		// GPU replicas go on GPU types, the others on types without GPUs. Spot: the 4
		// web replicas on one c6i.xlarge (0.05); the 3 infer replicas of 1 GPU on 3
		// g4dn.xlarge (3 * 0.20 = 0.60) rather than 3 g5.xlarge (1.20) or one
		// g5.12xlarge with 4 GPUs (2.00). 730 * 0.65 = 474.50; potential
		// 730 * (0.17 + 3 * 0.50) = 1219.10.
		name:   "GPU replicas on the cheapest GPU type",
		policy: func(s *spec) { s.Distribution = allSpot },
		w:      Workload{Apps: []App{app("shop", "web", 4, 500, gi), infer}},
		cost:   474.50, od: 1219.10, spotShare: 1, nodes: 4, spot: 4, pools: "g4dn.xlarge/spot:3,c6i.xlarge/spot:1",
		checkReplica: func(t *testing.T, r *Report) {
			if a, _ := find(r.Workloads, "ml", "infer"); a.SpotReplicas != 3 || a.MonthlyCost <= 0 {
				t.Errorf("infer = %+v", a)
			}
		},
	}, {
		// Replicas of 4 GPUs fit only g5.12xlarge (4 GPUs): one per node, 2 * 2.00.
		// 730 * 4 = 2920; potential 730 * 2 * 5.00 = 7300.
		name:   "replicas of four GPUs",
		policy: func(s *spec) { s.Distribution = allSpot },
		w:      Workload{Apps: []App{{Namespace: "ml", Name: "train", Replicas: 2, Requests: Resources{MilliCPU: 8000, Memory: 32 * gi, GPU: 4}}}},
		cost:   2920, od: 7300, spotShare: 1, nodes: 2, spot: 2, pools: "g5.12xlarge/spot:2",
	}, {
		// A supply without GPU types: the GPU replicas are left out, with a note, and
		// not planned on CPU nodes. The web replicas: one c6i.xlarge Spot, 36.50.
		name:   "no GPU type in the supply",
		policy: func(s *spec) { s.Distribution = allSpot; s.Instances.Categories = []string{"c", "m"} },
		w:      Workload{Apps: []App{app("shop", "web", 4, 500, gi), infer}},
		cost:   36.50, od: 730 * 0.17, spotShare: 1, nodes: 1, spot: 1, pools: "c6i.xlarge/spot:1",
		notes: []string{"ml/infer requests 1 GPU (nvidia.com/gpu) per replica, but the policy's instances allow no GPU instance type with Spot prices in eu-west-1: its 3 Spot replicas are left out of the estimate"},
		checkReplica: func(t *testing.T, r *Report) {
			if r.Replicas != 4 {
				t.Errorf("replicas = %d, want the 4 web replicas", r.Replicas)
			}
			if a, ok := find(r.Workloads, "ml", "infer"); ok {
				t.Errorf("the left-out workload is listed: %+v", a)
			}
		},
	}, {
		// A GPU replica no GPU type has room for: left out with a note; nothing to plan.
		name:   "a GPU replica larger than any GPU type",
		policy: func(s *spec) { s.Distribution = allSpot },
		w:      Workload{Apps: []App{{Namespace: "ml", Name: "big", Replicas: 1, Requests: Resources{MilliCPU: 64000, Memory: 8 * gi, GPU: 1}}}},
		pools:  "",
		notes: []string{"ml/big: no GPU instance type the policy's instances allow has Spot prices in eu-west-1 and room for one replica " +
			"(64000m CPU / 8192Mi memory / 1 GPU): its 1 Spot replica is left out of the estimate"},
	}, {
		// Reserved g5.xlarge (Reserved 1.00 * 0.6 = 0.60) take GPU replicas only: 2 of
		// the 3 infer replicas; the third on a g4dn.xlarge (0.50), the web replicas on a
		// c6i.xlarge (0.17). 730 * (1.20 + 0.50 + 0.17) = 1365.10; potential
		// 730 * (2.00 + 0.50 + 0.17) = 1949.10, all of the savings from commitments.
		name: "reserved GPU instances take GPU replicas",
		policy: func(s *spec) {
			s.Spot.Enabled = ptr.To(false)
			s.Commitments = &v1alpha1.CommitmentsSpec{Enabled: true, Source: v1alpha1.CommitmentsFromGit,
				ReservedInstances: []v1alpha1.ReservedInstance{{InstanceType: "g5.xlarge", Count: 2}}}
		},
		w:    Workload{Apps: []App{app("shop", "web", 4, 500, gi), infer}},
		cost: 1365.10, od: 1949.10, nodes: 4, pools: "g5.xlarge/on-demand:2,g4dn.xlarge/on-demand:1,c6i.xlarge/on-demand:1",
		checkReplica: func(t *testing.T, r *Report) {
			near(t, "commitment savings", r.Savings.Commitments, 584)
		},
	}, {
		// A workload asking for an accelerator the estimate does not model is left out.
		name:   "an accelerator the estimate does not model",
		policy: func(s *spec) { s.Distribution = allSpot },
		w: Workload{Apps: []App{app("shop", "web", 4, 500, gi),
			{Namespace: "ml", Name: "neuron", Replicas: 2, Requests: Resources{MilliCPU: 1000, Memory: gi}, Accelerator: "aws.amazon.com/neuroncore"}}},
		cost: 36.50, od: 730 * 0.17, spotShare: 1, nodes: 1, spot: 1, pools: "c6i.xlarge/spot:1",
		notes: []string{"ml/neuron requests aws.amazon.com/neuroncore, which the estimate does not model (only nvidia.com/gpu): its 2 replicas are left out of the estimate"},
	}, {
		name:   "a replica larger than any node",
		policy: func(s *spec) { s.Distribution = allSpot },
		w:      Workload{Apps: []App{app("ml", "trainer", 2, 64000, 8*gi)}},
		err:    "fits the largest replica (64000m CPU / 8192Mi memory)",
	}, {
		name:   "instance types outside the supply",
		policy: func(s *spec) { s.Instances.Include = []string{"m6i.xlarge"} },
		w:      Workload{Apps: []App{web}, InstanceTypes: []string{"c6i.xlarge"}},
		err:    "no On-Demand instance type the policy allows",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := EstimateForPolicy(testPolicy(tc.policy), nil, &tc.w, prices)
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
			near(t, "MonthlyPotential", r.MonthlyPotential, tc.od)
			near(t, "MonthlySavings", r.MonthlySavings, tc.od-tc.cost)
			near(t, "MonthlyUnusedCommitment", r.MonthlyUnusedCommitment, tc.unused)
			near(t, "SpotShare", r.SpotShare, tc.spotShare)
			if r.Nodes != tc.nodes || r.SpotNodes != tc.spot {
				t.Errorf("nodes = %d (%d Spot), want %d (%d)", r.Nodes, r.SpotNodes, tc.nodes, tc.spot)
			}
			var pools []string
			for _, p := range r.Pools {
				pools = append(pools, p.InstanceType+"/"+p.CapacityType+":"+strconv.Itoa(p.Nodes))
			}
			if got := strings.Join(pools, ","); got != tc.pools {
				t.Errorf("pools = %s, want %s", got, tc.pools)
			}
			if r.Cluster != "test" || r.Region != "eu-west-1" {
				t.Errorf("cluster, region = %s, %s", r.Cluster, r.Region)
			}
			if strings.Join(r.Notes, "\n") != strings.Join(tc.notes, "\n") {
				t.Errorf("notes = %q, want %q", r.Notes, tc.notes)
			}
			checkSums(t, r)
			if tc.checkReplica != nil {
				tc.checkReplica(t, r)
			}
		})
	}
}

func TestInstanceTypesFor(t *testing.T) {
	prices := testPrices(t)
	policy := testPolicy(func(s *v1alpha1.ClusterPolicySpec) {
		s.Instances.Categories = []string{"m"}
		s.Commitments = &v1alpha1.CommitmentsSpec{Enabled: true, Source: v1alpha1.CommitmentsFromGit,
			ReservedInstances: []v1alpha1.ReservedInstance{{InstanceType: "c6i.xlarge", Count: 1}}}
	})
	// Workloads to place: the amd64 m types the book knows, and the reserved type.
	w := &Workload{Apps: []App{app("a", "b", 1, 100, gi)}, Nodes: nodesOf(1, "r5.large", Spot)}
	if got := strings.Join(InstanceTypesFor(policy, w, prices), ","); got != "c6i.xlarge,m6i.2xlarge,m6i.xlarge,r5.large" {
		t.Errorf("types = %s", got)
	}
	w.InstanceTypes = []string{"m6i.xlarge"}
	w.Apps = nil
	if got := strings.Join(InstanceTypesFor(policy, w, prices), ","); got != "c6i.xlarge,r5.large" {
		t.Errorf("types for nodes only = %s", got)
	}
	// GPU types only when a workload asks for GPUs.
	open := testPolicy(nil)
	cpuOnly := &Workload{Apps: []App{app("a", "b", 1, 100, gi)}}
	if got := strings.Join(InstanceTypesFor(open, cpuOnly, prices), ","); got != "c6i.xlarge,m6i.2xlarge,m6i.xlarge" {
		t.Errorf("types without GPU workloads = %s", got)
	}
	withGPU := &Workload{Apps: []App{{Namespace: "a", Name: "b", Replicas: 1, Requests: Resources{MilliCPU: 100, GPU: 1}}}}
	if got := strings.Join(InstanceTypesFor(open, withGPU, prices), ","); got != "c6i.xlarge,g4dn.xlarge,g5.12xlarge,g5.xlarge,m6i.2xlarge,m6i.xlarge" {
		t.Errorf("types with a GPU workload = %s", got)
	}
	// A workload from another region than the policy's is priced there, with a note.
	policy.Spec.Cluster.Region = "eu-central-1"
	r, err := EstimateForPolicy(policy, nil, &Workload{Region: "eu-west-1", Nodes: nodesOf(1, "m6i.xlarge", OnDemand)}, prices)
	if err != nil || r.Region != "eu-west-1" || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "the workload is in eu-west-1 but the policy's cluster in eu-central-1") {
		t.Errorf("estimate in another region: %+v, %v", r, err)
	}
	near(t, "cost at eu-west-1 prices", r.MonthlyCost, 730*0.20)
}
