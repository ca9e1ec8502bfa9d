package cost

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Commitments are the Reserved Instances and Savings Plans a cluster may use.
type Commitments struct {
	ReservedInstances []ReservedInstance `json:"reservedInstances,omitempty"`
	SavingsPlans      []SavingsPlanSpend `json:"savingsPlans,omitempty"`
	// Utilization is the share (0-1) of each commitment the cluster may use; the
	// rest is left to other users of the account.
	Utilization float64 `json:"utilization"`
}

// ReservedInstance is Count reserved instances of one type. A regional reservation
// (no Zone) is size-flexible within its family, by normalization factor; a zonal one
// covers its type in its zone only.
type ReservedInstance struct {
	InstanceType string `json:"instanceType"`
	Count        int    `json:"count"`
	Zone         string `json:"zone,omitempty"`
}

// SavingsPlanSpend is a Savings Plan: an hourly spend at Savings Plan prices.
type SavingsPlanSpend struct {
	// Type is Compute (any instance, SavingsPlan prices) or EC2Instance (one family,
	// Reserved prices).
	Type   v1alpha1.SavingsPlanType `json:"type"`
	Family string                   `json:"family,omitempty"`
	// PerHour is the commitment in USD per hour.
	PerHour float64 `json:"perHour"`
}

// CommitmentsFor returns the commitments a policy lists in Git that have not expired
// by date (all of them when date is zero), and notes on what it left out. With
// commitments discovered through the AWS API (unknown offline), it returns none but
// the share the cluster may use (Utilization), so that a caller that discovered them
// can add them, and a note for estimates that cannot.
func CommitmentsFor(policy *v1alpha1.ClusterPolicy, date time.Time) (Commitments, []string, error) {
	c := policy.Spec.Commitments
	if c == nil || !c.Enabled {
		return Commitments{}, nil, nil
	}
	out := Commitments{Utilization: float64(deref(c.MaxUtilizationPercent, v1alpha1.DefaultMaxUtilization)) / 100}
	if c.Source != v1alpha1.CommitmentsFromGit {
		return out, []string{"commitments are discovered through the AWS API at run time; this estimate leaves them out"}, nil
	}
	var notes []string
	expired := func(s string) (bool, error) {
		if s == "" || date.IsZero() {
			return false, nil
		}
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return false, fmt.Errorf("expiry date %q is not YYYY-MM-DD", s)
		}
		return t.Before(date), nil
	}
	for _, ri := range c.ReservedInstances {
		gone, err := expired(ri.Expires)
		if err != nil {
			return out, nil, fmt.Errorf("reserved %s: %w", ri.InstanceType, err)
		}
		if gone {
			notes = append(notes, fmt.Sprintf("%d reserved %s expired on %s and are left out", ri.Count, ri.InstanceType, ri.Expires))
			continue
		}
		out.ReservedInstances = append(out.ReservedInstances, ReservedInstance{InstanceType: ri.InstanceType, Count: int(ri.Count), Zone: ri.Zone})
	}
	for _, sp := range c.SavingsPlans {
		gone, err := expired(sp.Expires)
		if err != nil {
			return out, nil, fmt.Errorf("savings plan: %w", err)
		}
		perHour, err := strconv.ParseFloat(sp.CommitmentPerHour, 64)
		if err != nil || perHour < 0 {
			return out, nil, fmt.Errorf("savings plan commitmentPerHour %q is not an amount in USD", sp.CommitmentPerHour)
		}
		if gone {
			notes = append(notes, fmt.Sprintf("a %s savings plan of $%s/h expired on %s and is left out", sp.Type, sp.CommitmentPerHour, sp.Expires))
			continue
		}
		out.SavingsPlans = append(out.SavingsPlans, SavingsPlanSpend{Type: sp.Type, Family: sp.Family, PerHour: perHour})
	}
	return out, notes, nil
}

// hourNode is one On-Demand node running in an hour, with its prices.
type hourNode struct {
	name, instanceType, zone string
	onDemand                 float64
	covered                  float64 // share of the hour covered so far
	cost                     float64 // USD for the covered share
}

// cover applies the commitments to one hour of the running On-Demand nodes, in node
// order: Reserved Instances first, then EC2 Instance Savings Plans, then Compute
// Savings Plans, each Savings Plan to the nodes with the largest discount first (as
// AWS applies them). It sets each node's covered share and its cost, and returns the
// USD of commitment left unused in the hour and what is left of each commitment
// (Unused turns it into instances).
func cover(nodes []*hourNode, c Commitments, region string, prices PriceBook) (float64, leftover, error) {
	unused := 0.0
	left := leftover{units: make([]float64, len(c.ReservedInstances)), budget: make([]float64, len(c.SavingsPlans))}
	for i, ri := range c.ReservedInstances {
		rate, ok := prices.Price(region, ri.InstanceType, Reserved)
		if !ok {
			return 0, left, fmt.Errorf("no Reserved price for %s in %s", ri.InstanceType, region)
		}
		nf := normalizationFactor(ri.InstanceType)
		flexible := ri.Zone == "" && nf > 0
		if nf == 0 {
			nf = 1
		}
		units := float64(ri.Count) * c.Utilization * nf
		for _, n := range nodes {
			if units <= 1e-12 {
				break
			}
			nodeNF := normalizationFactor(n.instanceType)
			match := n.instanceType == ri.InstanceType && (ri.Zone == "" || n.zone == "" || n.zone == ri.Zone)
			if flexible && nodeNF > 0 && familyOf(n.instanceType) == familyOf(ri.InstanceType) {
				match = true
			}
			if !match || n.covered >= 1 {
				continue
			}
			if nodeNF == 0 || !flexible {
				nodeNF = nf
			}
			share := min(1-n.covered, units/nodeNF)
			units -= share * nodeNF
			n.covered += share
			n.cost += share * rate / nf * nodeNF
		}
		unused += units * rate / nf
		left.units[i] = units
	}
	order := make([]int, len(c.SavingsPlans))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(planOrder(c.SavingsPlans[a]), planOrder(c.SavingsPlans[b]))
	})
	for _, pi := range order {
		sp := c.SavingsPlans[pi]
		budget := sp.PerHour * c.Utilization
		capacity := SavingsPlan
		if sp.Type == "EC2Instance" {
			capacity = Reserved
		}
		type eligible struct {
			n        *hourNode
			rate     float64
			discount float64
		}
		var el []eligible
		for _, n := range nodes {
			if n.covered >= 1 || (sp.Type == "EC2Instance" && familyOf(n.instanceType) != sp.Family) {
				continue
			}
			rate, ok := prices.Price(region, n.instanceType, capacity)
			if !ok {
				continue
			}
			el = append(el, eligible{n, rate, 1 - rate/n.onDemand})
		}
		slices.SortStableFunc(el, func(a, b eligible) int { return cmp.Compare(b.discount, a.discount) })
		for _, e := range el {
			if budget <= 1e-12 {
				break
			}
			share := min(1-e.n.covered, budget/e.rate)
			budget -= share * e.rate
			e.n.covered += share
			e.n.cost += share * e.rate
		}
		unused += budget
		left.budget[pi] = budget
	}
	return unused, left, nil
}

// leftover is what cover leaves of each commitment in the hour: of each Reserved
// Instance (in Commitments order) its normalized units, of each Savings Plan (in
// Commitments order) its USD.
type leftover struct {
	units  []float64
	budget []float64
}

func planOrder(sp SavingsPlanSpend) int {
	if sp.Type == "EC2Instance" {
		return 0
	}
	return 1
}

// hourly is what the node costs in the hour: its covered share at commitment
// prices, the rest On-Demand.
func (n *hourNode) hourly() float64 {
	return n.cost + (1-min(n.covered, 1))*n.onDemand
}

// UnusedCommitment is how many more On-Demand instances the commitments would cover
// beyond the On-Demand nodes running now.
type UnusedCommitment struct {
	// Reserved is one entry per instance type and zone ("" for regional reservations)
	// of the Reserved Instances, sorted.
	Reserved []ReservedUnused `json:"reserved,omitempty"`
	// SavingsPlans is one entry per Savings Plan, in Commitments order.
	SavingsPlans []SavingsPlanUnused `json:"savingsPlans,omitempty"`
}

// ReservedUnused is what the Reserved Instances of one type (and zone) leave unused.
type ReservedUnused struct {
	InstanceType string `json:"instanceType"`
	Zone         string `json:"zone,omitempty"`
	// Count is how many are reserved.
	Count int `json:"count"`
	// Usable is Count × Utilization: how many the cluster may use.
	Usable float64 `json:"usable"`
	// Used is how many instances of InstanceType the running On-Demand nodes they
	// cover amount to (a regional reservation also covers other sizes of its family,
	// by normalization factor).
	Used float64 `json:"used"`
	// Unused is how many more instances of InstanceType they would cover: Usable -
	// Used, rounded down.
	Unused int `json:"unused"`
}

// SavingsPlanUnused is what one Savings Plan leaves unused.
type SavingsPlanUnused struct {
	SavingsPlanSpend
	// Usable is PerHour × Utilization, Used the USD per hour the running On-Demand
	// nodes spend of it.
	Usable float64 `json:"usable"`
	Used   float64 `json:"used"`
	// Instances are, for each candidate instance type the plan applies to (an EC2
	// Instance plan: its family) and has a rate for, how many instances of that type
	// alone the rest of the budget buys at the plan's rate, rounded down; sorted by
	// type. They are alternatives, not a sum.
	Instances []InstanceCount `json:"instances,omitempty"`
}

// InstanceCount is a number of instances of one type.
type InstanceCount struct {
	InstanceType string `json:"instanceType"`
	Count        int    `json:"count"`
}

// Unused computes what the commitments leave unused with the nodes running now, with
// the same coverage as the estimate (cover): Reserved Instances first, then EC2
// Instance Savings Plans, then Compute Savings Plans, each as far as Utilization lets
// the cluster use it. Spot nodes are covered by nothing; a node without a capacity
// type counts as On-Demand. candidates are the instance types the caller could launch
// with a Savings Plan's rest (e.g. those the policy's supply allows).
func Unused(c Commitments, nodes []Node, region string, prices PriceBook, candidates []string) (UnusedCommitment, error) {
	_, left, err := cover(onDemandHour(nodes, region, prices), c, region, prices)
	if err != nil {
		return UnusedCommitment{}, err
	}
	var out UnusedCommitment
	index := map[[2]string]int{}
	for i, ri := range c.ReservedInstances {
		nf := normalizationFactor(ri.InstanceType)
		if nf == 0 {
			nf = 1
		}
		usable := float64(ri.Count) * c.Utilization
		k := [2]string{ri.InstanceType, ri.Zone}
		j, ok := index[k]
		if !ok {
			j = len(out.Reserved)
			index[k] = j
			out.Reserved = append(out.Reserved, ReservedUnused{InstanceType: ri.InstanceType, Zone: ri.Zone})
		}
		r := &out.Reserved[j]
		r.Count += ri.Count
		r.Usable += usable
		r.Used += usable - left.units[i]/nf
	}
	for i := range out.Reserved {
		r := &out.Reserved[i]
		r.Used = roundCount(r.Used)
		r.Unused = int(math.Floor(r.Usable - r.Used + 1e-9))
	}
	slices.SortFunc(out.Reserved, func(a, b ReservedUnused) int {
		return cmp.Or(cmp.Compare(a.InstanceType, b.InstanceType), cmp.Compare(a.Zone, b.Zone))
	})
	types := slices.Sorted(slices.Values(candidates))
	types = slices.Compact(types)
	for i, sp := range c.SavingsPlans {
		u := SavingsPlanUnused{SavingsPlanSpend: sp, Usable: sp.PerHour * c.Utilization}
		u.Used = u.Usable - left.budget[i]
		capacity := SavingsPlan
		if sp.Type == "EC2Instance" {
			capacity = Reserved
		}
		for _, t := range types {
			if sp.Type == "EC2Instance" && familyOf(t) != sp.Family {
				continue
			}
			rate, ok := prices.Price(region, t, capacity)
			if !ok || rate <= 0 {
				continue
			}
			if n := int(math.Floor(left.budget[i]/rate + 1e-9)); n > 0 {
				u.Instances = append(u.Instances, InstanceCount{InstanceType: t, Count: n})
			}
		}
		out.SavingsPlans = append(out.SavingsPlans, u)
	}
	return out, nil
}

// onDemandHour is one hour of the nodes that commitments may cover: every node but
// Spot ones (a node without a capacity type counts as On-Demand), in order.
func onDemandHour(nodes []Node, region string, prices PriceBook) []*hourNode {
	var hn []*hourNode
	for _, n := range nodes {
		if n.CapacityType == Spot {
			continue
		}
		od, _ := prices.Price(region, n.InstanceType, OnDemand)
		hn = append(hn, &hourNode{name: n.Name, instanceType: n.InstanceType, zone: n.Zone, onDemand: od})
	}
	return hn
}

// Covering names the running nodes that use the commitments now, with the same
// coverage as Unused (cover). Together they keep the commitments as used as they are:
// every other node may go without leaving any commitment unused, while once those are
// gone, any covering node that goes leaves some unused. When more nodes could use a
// commitment than it covers, the nodes earlier in nodes are covered first (by Reserved
// Instances, and by Savings Plans among nodes of equal discount), so a caller lists
// first the nodes it would rather keep. A node covered in part (a plan's budget or a
// reservation's units run out on it) is covering. Spot nodes never are.
func Covering(c Commitments, nodes []Node, region string, prices PriceBook) (map[string]bool, error) {
	hn := onDemandHour(nodes, region, prices)
	if _, _, err := cover(hn, c, region, prices); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, n := range hn {
		if n.covered > 1e-9 {
			out[n.name] = true
		}
	}
	return out, nil
}

// Coverable reports whether a commitment could cover the node at all, whatever else
// runs: a Reserved Instance of its type (in its zone, for a zonal one) or of its
// family (a regional one, size-flexible), an EC2 Instance Savings Plan of its family,
// any Compute Savings Plan. Spot nodes never are. When the coverage itself cannot be
// computed (a missing price), callers that must not lose a commitment treat every
// coverable node as covering.
func Coverable(c Commitments, n Node) bool {
	if n.CapacityType == Spot {
		return false
	}
	for _, ri := range c.ReservedInstances {
		if ri.Count <= 0 {
			continue
		}
		if n.InstanceType == ri.InstanceType && (ri.Zone == "" || n.Zone == "" || n.Zone == ri.Zone) {
			return true
		}
		if ri.Zone == "" && normalizationFactor(ri.InstanceType) > 0 && normalizationFactor(n.InstanceType) > 0 &&
			familyOf(n.InstanceType) == familyOf(ri.InstanceType) {
			return true
		}
	}
	for _, sp := range c.SavingsPlans {
		if sp.PerHour <= 0 {
			continue
		}
		if sp.Type != "EC2Instance" || familyOf(n.InstanceType) == sp.Family {
			return true
		}
	}
	return false
}

// roundCount removes floating-point noise from a number of instances.
func roundCount(x float64) float64 { return math.Round(x*1e6) / 1e6 }
