package cost

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Modes of a Report.
const (
	// ModePlanned: the policy split the replicas and nodes were planned for them.
	ModePlanned = "planned"
	// ModeNodes: the nodes were priced as they run (or as a scenario describes them).
	ModeNodes = "nodes"
)

// Report is the monthly cost of a cluster. Money is in USD per month of 730 hours,
// rounded to cents.
type Report struct {
	Cluster string `json:"cluster,omitempty"`
	Region  string `json:"region"`
	// Mode is ModePlanned or ModeNodes.
	Mode string `json:"mode"`
	// MonthlyCost is what the nodes cost: Spot nodes at Spot prices, On-Demand nodes
	// at commitment prices as far as commitments cover them, else On-Demand.
	MonthlyCost float64 `json:"monthlyCost"`
	// MonthlyOnDemandCost is what the same node-hours would cost On-Demand.
	MonthlyOnDemandCost float64 `json:"monthlyOnDemandCost"`
	// MonthlySavings is MonthlyOnDemandCost - MonthlyCost.
	MonthlySavings float64 `json:"monthlySavings"`
	// MonthlyScaleDownSavings is what the scheduled scale-down saves against running
	// every node all month.
	MonthlyScaleDownSavings float64 `json:"monthlyScaleDownSavings"`
	// MonthlyUnusedCommitment is commitment the cluster may use but leaves unused;
	// it is paid anyway and is not part of MonthlyCost.
	MonthlyUnusedCommitment float64 `json:"monthlyUnusedCommitment"`
	// SpotShare is the share (0-1) of the replicas that run on Spot, DaemonSet pods
	// not counted; when there are no replicas (a scenario of bare nodes), the share of
	// the nodes on Spot.
	SpotShare    float64 `json:"spotShare"`
	Replicas     int     `json:"replicas"`
	SpotReplicas int     `json:"spotReplicas"`
	// Nodes run outside the scale-down, IdleNodes during it.
	Nodes     int `json:"nodes"`
	SpotNodes int `json:"spotNodes"`
	IdleNodes int `json:"idleNodes"`
	// Pools are the nodes by instance type and capacity type.
	Pools []Pool `json:"pools"`
	// Namespaces and Workloads share MonthlyCost and MonthlySavings out, sorted by
	// cost (descending), then name; Idle is the capacity no pod requested.
	Namespaces []Attribution `json:"namespaces"`
	Workloads  []Attribution `json:"workloads"`
	// Notes say what the estimate left out or assumed.
	Notes []string `json:"notes,omitempty"`
}

// Pool is the nodes of one instance type and capacity type.
type Pool struct {
	InstanceType string  `json:"instanceType"`
	CapacityType string  `json:"capacityType"`
	Nodes        int     `json:"nodes"`
	MonthlyCost  float64 `json:"monthlyCost"`
}

// Attribution is the share of the cost of one namespace, or one workload, by the
// CPU and memory its pods request (see the package documentation).
type Attribution struct {
	Namespace      string  `json:"namespace"`
	Workload       string  `json:"workload,omitempty"`
	MonthlyCost    float64 `json:"monthlyCost"`
	MonthlySavings float64 `json:"monthlySavings"`
	// OnDemandReplicas and SpotReplicas are the workload's split (workloads only).
	OnDemandReplicas int `json:"onDemandReplicas,omitempty"`
	SpotReplicas     int `json:"spotReplicas,omitempty"`
}

// Options are what Estimate needs besides the nodes.
type Options struct {
	// Region of the prices; the workload's region wins when it has one.
	Region      string
	Commitments Commitments
	Notes       []string
}

// Estimate prices the workload's nodes as they run (a snapshot, or the nodes of a
// scenario); nodes without a capacity type are On-Demand.
func Estimate(w *Workload, prices PriceBook, opts Options) (*Report, error) {
	if w == nil || prices == nil {
		return nil, errors.New("estimate needs a workload and prices")
	}
	region := cmp.Or(w.Region, opts.Region)
	if region == "" {
		return nil, errors.New("the region is unknown: the nodes carry no topology.kubernetes.io/region label and none was given")
	}
	if len(w.Nodes) == 0 {
		return nil, errors.New("the workload has no nodes to price")
	}
	nodes := slices.Clone(w.Nodes)
	for i := range nodes {
		if nodes[i].CapacityType == "" {
			nodes[i].CapacityType = OnDemand
		}
	}
	return price(ModeNodes, region, nodes, prices, opts.Commitments, w.Schedule, opts.Notes, nil)
}

// EstimateForPolicy prices the workload as the policy would run it. With Apps, each
// workload's replicas are split by its effective distribution (EffectiveDistribution,
// split.Rule.Target) and placed on nodes the policy's supply allows: On-Demand
// replicas first on nodes of the types its Reserved Instances reserve (up to the
// count the policy may use), the rest first-fit-decreasing on the one instance type
// per capacity type that costs least; LeastInterrupted Spot replicas one per node.
// Without Apps, the workload's nodes are priced, and those without a capacity type
// are split by the cluster default as if they were the replicas of one workload.
// Commitments listed in the policy (Git) cover On-Demand node-hours first; during the
// scheduled scale-down only the minimum number of nodes runs.
func EstimateForPolicy(policy *v1alpha1.ClusterPolicy, rules []*v1alpha1.WorkloadDistributionRule, w *Workload, prices PriceBook) (*Report, error) {
	if policy == nil || w == nil || prices == nil {
		return nil, errors.New("estimate needs a policy, a workload and prices")
	}
	if err := w.Schedule.validate(); err != nil {
		return nil, err
	}
	region := cmp.Or(w.Region, policy.Spec.Cluster.Region)
	commitments, notes, err := CommitmentsFor(policy, w.Date)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", policy.Spec.Cluster.Name, err)
	}
	if region != policy.Spec.Cluster.Region {
		notes = append(notes, fmt.Sprintf("the workload is in %s but the policy's cluster in %s; prices are for %s", region, policy.Spec.Cluster.Region, region))
	}
	var r *Report
	if len(w.Apps) == 0 {
		if len(w.Nodes) == 0 {
			return nil, errors.New("the workload has neither workloads nor nodes to estimate")
		}
		nodes := slices.Clone(w.Nodes)
		d, _ := EffectiveDistribution(policy, nil, &App{})
		var undecided []int
		for i := range nodes {
			if nodes[i].CapacityType == "" {
				undecided = append(undecided, i)
			}
		}
		onDemand, _ := replicasSplit(d, len(undecided))
		for k, i := range undecided {
			nodes[i].CapacityType = Spot
			if k < onDemand {
				nodes[i].CapacityType = OnDemand
			}
		}
		r, err = price(ModeNodes, region, nodes, prices, commitments, w.Schedule, notes, nil)
	} else {
		r, err = estimatePlanned(policy, rules, w, prices, region, commitments, notes)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", policy.Spec.Cluster.Name, err)
	}
	r.Cluster = policy.Spec.Cluster.Name
	return r, nil
}

func estimatePlanned(policy *v1alpha1.ClusterPolicy, rules []*v1alpha1.WorkloadDistributionRule, w *Workload, prices PriceBook,
	region string, commitments Commitments, notes []string) (*Report, error) {
	shapes, ok := prices.(ShapeBook)
	if !ok {
		shapes = DefaultCatalogue()
	}
	p := &planner{region: region, prices: prices, shapes: shapes, supply: &policy.Spec.Instances, only: w.InstanceTypes}
	for _, d := range w.DaemonSets {
		p.daemon = p.daemon.Add(d.Requests)
		p.daemonPods = append(p.daemonPods, Pod{Namespace: d.Namespace, Workload: d.Name, Requests: d.Requests, DaemonSet: true})
	}
	var onDemand, spot []group
	splits := map[string][2]int{}
	for i := range w.Apps {
		a := &w.Apps[i]
		d, err := EffectiveDistribution(policy, rules, a)
		if err != nil {
			return nil, err
		}
		notes = append(notes, d.Ignored...)
		od, sp := replicasSplit(d, a.Replicas)
		splits[a.Namespace+"/"+a.Name] = [2]int{od, sp}
		if od > 0 {
			onDemand = append(onDemand, group{namespace: a.Namespace, workload: a.Name, req: a.Requests, count: od})
		}
		if sp > 0 {
			spot = append(spot, group{namespace: a.Namespace, workload: a.Name, req: a.Requests, count: sp, spread: d.Strategy == v1alpha1.LeastInterrupted})
		}
	}
	nodes, err := p.plan(onDemand, spot, commitments.ReservedInstances, commitments.Utilization)
	if err != nil {
		return nil, err
	}
	return price(ModePlanned, region, nodes, prices, commitments, w.Schedule, notes, splits)
}

// nodeCost is what one node costs over the month.
type nodeCost struct {
	actual, onDemand float64
}

// price prices nodes over the month: every node during the active hours, the first
// MinNodes (On-Demand first) during the idle ones.
func price(mode, region string, nodes []Node, prices PriceBook, c Commitments, s Schedule, notes []string, splits map[string][2]int) (*Report, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	nodes = withAllocatable(nodes, prices)
	costs, unused, idleNodes, err := monthly(region, nodes, prices, c, s)
	if err != nil {
		return nil, err
	}
	r := &Report{Region: region, Mode: mode, Nodes: len(nodes), IdleNodes: idleNodes, Notes: notes}
	pools := map[[2]string]*Pool{}
	for i, n := range nodes {
		r.MonthlyCost += costs[i].actual
		r.MonthlyOnDemandCost += costs[i].onDemand
		if n.CapacityType == Spot {
			r.SpotNodes++
		}
		key := [2]string{n.InstanceType, n.CapacityType}
		if pools[key] == nil {
			pools[key] = &Pool{InstanceType: n.InstanceType, CapacityType: n.CapacityType}
		}
		pools[key].Nodes++
		pools[key].MonthlyCost += costs[i].actual
		for _, p := range n.Pods {
			if p.DaemonSet {
				continue
			}
			r.Replicas++
			if n.CapacityType == Spot {
				r.SpotReplicas++
			}
		}
	}
	switch {
	case r.Replicas > 0:
		r.SpotShare = float64(r.SpotReplicas) / float64(r.Replicas)
	case r.Nodes > 0:
		r.SpotShare = float64(r.SpotNodes) / float64(r.Nodes)
	}
	if s.IdleFraction > 0 {
		always, _, _, err := monthly(region, nodes, prices, c, Schedule{})
		if err != nil {
			return nil, err
		}
		for i := range always {
			r.MonthlyScaleDownSavings += always[i].actual - costs[i].actual
		}
	}
	r.MonthlySavings = r.MonthlyOnDemandCost - r.MonthlyCost
	r.MonthlyUnusedCommitment = unused
	for _, p := range pools {
		p.MonthlyCost = cents(p.MonthlyCost)
		r.Pools = append(r.Pools, *p)
	}
	slices.SortFunc(r.Pools, func(a, b Pool) int {
		return cmp.Or(cmp.Compare(b.MonthlyCost, a.MonthlyCost), strings.Compare(a.InstanceType, b.InstanceType), strings.Compare(a.CapacityType, b.CapacityType))
	})
	r.Namespaces, r.Workloads = attribute(nodes, costs, splits)
	for _, f := range []*float64{&r.MonthlyCost, &r.MonthlyOnDemandCost, &r.MonthlySavings, &r.MonthlyScaleDownSavings, &r.MonthlyUnusedCommitment} {
		*f = cents(*f)
	}
	return r, nil
}

// withAllocatable fills in the allocatable of nodes that do not say it, from their
// instance type's shape (see Allocatable).
func withAllocatable(nodes []Node, prices PriceBook) []Node {
	shapes, ok := prices.(ShapeBook)
	if !ok {
		shapes = DefaultCatalogue()
	}
	var out []Node
	for i, n := range nodes {
		if n.Allocatable.MilliCPU > 0 && n.Allocatable.Memory > 0 {
			continue
		}
		s, ok := shapes.Shape(n.InstanceType)
		if !ok {
			continue
		}
		if out == nil {
			out = slices.Clone(nodes)
		}
		out[i].Allocatable, _ = Allocatable(s)
	}
	if out == nil {
		return nodes
	}
	return out
}

func cents(x float64) float64 { return math.Round(x*100) / 100 }

// monthly returns each node's monthly cost, the unused commitment over the month
// and how many nodes run during the scale-down.
func monthly(region string, nodes []Node, prices PriceBook, c Commitments, s Schedule) ([]nodeCost, float64, int, error) {
	onDemand := make([]float64, len(nodes))
	hourly := make([]float64, len(nodes))
	var keep []int // On-Demand nodes first, then Spot, each in node order
	for i, n := range nodes {
		od, ok := prices.Price(region, n.InstanceType, OnDemand)
		if !ok {
			return nil, 0, 0, fmt.Errorf("no On-Demand price for %s in %s: add it with --prices", n.InstanceType, region)
		}
		onDemand[i] = od
		if n.CapacityType == Spot {
			sp, ok := prices.Price(region, n.InstanceType, Spot)
			if !ok {
				return nil, 0, 0, fmt.Errorf("no Spot price for %s in %s: add it with --prices", n.InstanceType, region)
			}
			hourly[i] = sp
		} else {
			keep = append(keep, i)
		}
	}
	for i, n := range nodes {
		if n.CapacityType == Spot {
			keep = append(keep, i)
		}
	}
	all := make([]int, len(nodes))
	for i := range all {
		all[i] = i
	}
	kept := keep[:min(len(keep), s.MinNodes)]
	slices.Sort(kept)
	phases := []struct {
		hours   float64
		running []int
	}{{HoursPerMonth * (1 - s.IdleFraction), all}, {HoursPerMonth * s.IdleFraction, kept}}
	costs := make([]nodeCost, len(nodes))
	unused := 0.0
	for _, ph := range phases {
		if ph.hours == 0 {
			continue
		}
		var hn []*hourNode
		var idx []int
		for _, i := range ph.running {
			costs[i].onDemand += ph.hours * onDemand[i]
			if nodes[i].CapacityType == Spot {
				costs[i].actual += ph.hours * hourly[i]
				continue
			}
			hn = append(hn, &hourNode{instanceType: nodes[i].InstanceType, zone: nodes[i].Zone, onDemand: onDemand[i]})
			idx = append(idx, i)
		}
		u, err := cover(hn, c, region, prices)
		if err != nil {
			return nil, 0, 0, err
		}
		unused += ph.hours * u
		for k, n := range hn {
			costs[idx[k]].actual += ph.hours * n.hourly()
		}
	}
	idle := len(nodes)
	if s.IdleFraction > 0 {
		idle = len(kept)
	}
	return costs, unused, idle, nil
}
