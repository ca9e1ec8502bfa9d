package cost

import (
	"cmp"
	"errors"
	"fmt"
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
// rounded to cents so that the figures add up exactly: MonthlyPotential -
// MonthlyCost = MonthlySavings = the sum of Savings, and the namespaces' (and the
// workloads') costs and savings add up to MonthlyCost and MonthlySavings.
type Report struct {
	Cluster string `json:"cluster,omitempty"`
	Region  string `json:"region"`
	// Mode is ModePlanned or ModeNodes.
	Mode string `json:"mode"`
	// Prices names the prices the estimate used: the built-in catalogue and its
	// date, a file laid over it, live AWS prices (when the PriceBook is a
	// fmt.Stringer, as a Catalogue is).
	Prices string `json:"prices,omitempty"`
	// MonthlyCost is what the nodes cost: Spot nodes at Spot prices, On-Demand nodes
	// at commitment prices as far as commitments cover them, else On-Demand, each for
	// the hours it runs.
	MonthlyCost float64 `json:"monthlyCost"`
	// MonthlyPotential is what the same nodes would cost at On-Demand prices, every
	// one running all month (730 hours), with no commitment and no scale-down: the
	// baseline savings are measured against.
	MonthlyPotential float64 `json:"monthlyPotential"`
	// MonthlySavings is MonthlyPotential - MonthlyCost.
	MonthlySavings float64 `json:"monthlySavings"`
	// Savings breaks MonthlySavings down by cause; its parts add up to it.
	Savings SavingsBreakdown `json:"savingsBreakdown"`
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
	// Pools are the nodes by instance type and capacity type; their costs add up to
	// MonthlyCost.
	Pools []Pool `json:"pools"`
	// Namespaces and Workloads share MonthlyCost and MonthlySavings out, sorted by
	// cost (descending), then name; Idle is the capacity no pod requested.
	Namespaces []Attribution `json:"namespaces"`
	Workloads  []Attribution `json:"workloads"`
	// Notes say what the estimate left out or assumed.
	Notes []string `json:"notes,omitempty"`
}

// SavingsBreakdown is MonthlySavings by cause. For each node:
//   - Spot: (On-Demand price - Spot price) x the hours a Spot node runs;
//   - Commitments: (On-Demand price - what the covered share of the hour costs at
//     Reserved or Savings Plan prices) x the hours an On-Demand node runs;
//   - ScaleDown: On-Demand price x the hours a node does not run because of the
//     scheduled scale-down.
type SavingsBreakdown struct {
	Spot        float64 `json:"spot"`
	Commitments float64 `json:"commitments"`
	ScaleDown   float64 `json:"scaleDown"`
}

// Pool is the nodes of one instance type and capacity type.
type Pool struct {
	InstanceType string  `json:"instanceType"`
	CapacityType string  `json:"capacityType"`
	Nodes        int     `json:"nodes"`
	MonthlyCost  float64 `json:"monthlyCost"`
}

// Attribution is the share of the cost of one namespace, or one workload, by the
// CPU, memory and GPUs its pods request (see the package documentation).
type Attribution struct {
	Namespace      string  `json:"namespace"`
	Workload       string  `json:"workload,omitempty"`
	MonthlyCost    float64 `json:"monthlyCost"`
	MonthlySavings float64 `json:"monthlySavings"`
	// OnDemandReplicas and SpotReplicas are the workload's split (workloads only): as
	// planned (ModePlanned), or where its pods run (ModeNodes).
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

// Estimate prices the workload's nodes as they run (a snapshot, FromCluster's view of
// a live cluster, or the nodes of a scenario); nodes without a capacity type are
// On-Demand. The workloads' splits in the report are where their pods run. Commitments
// in opts cover On-Demand node-hours (CommitmentsFor gives those a policy lists, and
// the share of discovered ones the cluster may use).
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
// without GPUs per capacity type that costs least, GPU replicas on the type with
// enough GPUs that costs least (left out, with a note, when the supply allows none);
// LeastInterrupted Spot replicas one per node.
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
		if a.Accelerator != "" {
			if a.Replicas > 0 {
				notes = append(notes, fmt.Sprintf("%s/%s requests %s, which the estimate does not model (only %s): %s",
					a.Namespace, a.Name, a.Accelerator, GPUResource, leftOut(a.Replicas, "")))
			}
			continue
		}
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
	nodes, missed, err := p.plan(onDemand, spot, commitments.ReservedInstances, commitments.Utilization)
	if err != nil {
		return nil, err
	}
	for _, m := range missed {
		notes = append(notes, m.note)
		key := m.namespace + "/" + m.workload
		s := splits[key]
		if m.capacity == Spot {
			s[1] -= m.count
		} else {
			s[0] -= m.count
		}
		splits[key] = s
	}
	return price(ModePlanned, region, nodes, prices, commitments, w.Schedule, notes, splits)
}

// nodeCost is what one node costs and saves over the month (USD, not rounded).
type nodeCost struct {
	// actual is what it costs; potential its On-Demand price for the whole month.
	actual, potential float64
	// spot, commitments and scaleDown are what it saves, by cause (SavingsBreakdown):
	// potential = actual + spot + commitments + scaleDown.
	spot, commitments, scaleDown float64
}

func (c nodeCost) savings() float64 { return c.spot + c.commitments + c.scaleDown }

// price prices nodes over the month: every node during the active hours, the first
// MinNodes (On-Demand first) during the idle ones. splits are the workloads' planned
// On-Demand and Spot replicas; nil takes them from the nodes the pods run on.
func price(mode, region string, nodes []Node, prices PriceBook, c Commitments, s Schedule, notes []string, splits map[string][2]int) (*Report, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	nodes = withAllocatable(nodes, prices)
	costs, unused, idleNodes, err := monthly(region, nodes, prices, c, s)
	if err != nil {
		return nil, err
	}
	r := &Report{Region: region, Mode: mode, Prices: describePrices(prices), Nodes: len(nodes), IdleNodes: idleNodes, Notes: notes}
	var actual, potential float64
	var byCause [3]float64
	poolIndex := map[[2]string]int{}
	var poolCosts []float64
	for i, n := range nodes {
		actual += costs[i].actual
		potential += costs[i].potential
		byCause[0] += costs[i].spot
		byCause[1] += costs[i].commitments
		byCause[2] += costs[i].scaleDown
		if n.CapacityType == Spot {
			r.SpotNodes++
		}
		key := [2]string{n.InstanceType, n.CapacityType}
		k, ok := poolIndex[key]
		if !ok {
			k = len(r.Pools)
			poolIndex[key] = k
			r.Pools = append(r.Pools, Pool{InstanceType: n.InstanceType, CapacityType: n.CapacityType})
			poolCosts = append(poolCosts, 0)
		}
		r.Pools[k].Nodes++
		poolCosts[k] += costs[i].actual
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
	// Totals are rounded once; savings are their difference, and every part is
	// apportioned to the rounded total it belongs to.
	cost, pot := toCents(actual), toCents(potential)
	saved := pot - cost
	r.MonthlyCost, r.MonthlyPotential, r.MonthlySavings = dollars(cost), dollars(pot), dollars(saved)
	parts := apportion(byCause[:], saved)
	r.Savings = SavingsBreakdown{Spot: dollars(parts[0]), Commitments: dollars(parts[1]), ScaleDown: dollars(parts[2])}
	r.MonthlyUnusedCommitment = cents(unused)
	for k, c := range apportion(poolCosts, cost) {
		r.Pools[k].MonthlyCost = dollars(c)
	}
	slices.SortFunc(r.Pools, func(a, b Pool) int {
		return cmp.Or(cmp.Compare(b.MonthlyCost, a.MonthlyCost), strings.Compare(a.InstanceType, b.InstanceType), strings.Compare(a.CapacityType, b.CapacityType))
	})
	if splits == nil {
		splits = runningSplits(nodes)
	}
	r.Namespaces, r.Workloads = attribute(nodes, costs, splits, cost, saved)
	return r, nil
}

// describePrices names the prices of the book for Report.Prices.
func describePrices(prices PriceBook) string {
	if s, ok := prices.(fmt.Stringer); ok {
		return s.String()
	}
	return ""
}

// runningSplits counts each workload's replicas on On-Demand and on Spot nodes.
func runningSplits(nodes []Node) map[string][2]int {
	splits := map[string][2]int{}
	for _, n := range nodes {
		for _, p := range n.Pods {
			if p.DaemonSet {
				continue
			}
			key := p.Namespace + "/" + p.Workload
			s := splits[key]
			if n.CapacityType == Spot {
				s[1]++
			} else {
				s[0]++
			}
			splits[key] = s
		}
	}
	return splits
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

// monthly returns what each node costs and saves over the month, the unused
// commitment over the month and how many nodes run during the scale-down.
func monthly(region string, nodes []Node, prices PriceBook, c Commitments, s Schedule) ([]nodeCost, float64, int, error) {
	onDemand := make([]float64, len(nodes))
	spot := make([]float64, len(nodes))
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
			spot[i] = sp
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
	for i := range costs {
		costs[i].potential = HoursPerMonth * onDemand[i]
	}
	unused := 0.0
	for _, ph := range phases {
		if ph.hours == 0 {
			continue
		}
		running := make([]bool, len(nodes))
		var hn []*hourNode
		var idx []int
		for _, i := range ph.running {
			running[i] = true
			if nodes[i].CapacityType == Spot {
				costs[i].actual += ph.hours * spot[i]
				costs[i].spot += ph.hours * (onDemand[i] - spot[i])
				continue
			}
			hn = append(hn, &hourNode{instanceType: nodes[i].InstanceType, zone: nodes[i].Zone, onDemand: onDemand[i]})
			idx = append(idx, i)
		}
		for i, run := range running {
			if !run {
				costs[i].scaleDown += ph.hours * onDemand[i]
			}
		}
		u, _, err := cover(hn, c, region, prices)
		if err != nil {
			return nil, 0, 0, err
		}
		unused += ph.hours * u
		for k, n := range hn {
			hourly := n.hourly()
			costs[idx[k]].actual += ph.hours * hourly
			costs[idx[k]].commitments += ph.hours * (n.onDemand - hourly)
		}
	}
	idle := len(nodes)
	if s.IdleFraction > 0 {
		idle = len(kept)
	}
	return costs, unused, idle, nil
}
