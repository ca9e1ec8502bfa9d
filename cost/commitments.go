package cost

import (
	"cmp"
	"fmt"
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
	instanceType, zone string
	onDemand           float64
	covered            float64 // share of the hour covered so far
	cost               float64 // USD for the covered share
}

// cover applies the commitments to one hour of the running On-Demand nodes, in node
// order: Reserved Instances first, then EC2 Instance Savings Plans, then Compute
// Savings Plans, each Savings Plan to the nodes with the largest discount first (as
// AWS applies them). It sets each node's covered share and its cost, and returns the
// USD of commitment left unused in the hour.
func cover(nodes []*hourNode, c Commitments, region string, prices PriceBook) (float64, error) {
	unused := 0.0
	for _, ri := range c.ReservedInstances {
		rate, ok := prices.Price(region, ri.InstanceType, Reserved)
		if !ok {
			return 0, fmt.Errorf("no Reserved price for %s in %s", ri.InstanceType, region)
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
	}
	plans := slices.Clone(c.SavingsPlans)
	slices.SortStableFunc(plans, func(a, b SavingsPlanSpend) int {
		return cmp.Compare(planOrder(a), planOrder(b))
	})
	for _, sp := range plans {
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
	}
	return unused, nil
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
