package cloud

import (
	"fmt"
	"time"

	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// CostCommitments returns the discovered commitments that apply to a cluster in region
// at the time at, as the cost model takes them, with the share of each the cluster may
// use (utilization, 0-1: cost.CommitmentsFor reads it from the policy), and notes on
// what it left out. It lives here, not in cost, because cost is pure and never imports
// cloud; controllers call it with what CachedCommitments answered.
//
// Reserved Instances of region are kept (zonal ones with their zone), and Savings Plans
// that apply there: Compute plans whatever their region, EC2 Instance plans only in
// their own region. Commitments whose term ended by at are left out (a stale answer may
// still list them), and so are Savings Plans in another currency than USD, since the
// cost model prices in USD.
func CostCommitments(region string, at time.Time, ris []ReservedInstance, plans []SavingsPlan, utilization float64) (cost.Commitments, []string) {
	out := cost.Commitments{Utilization: utilization}
	var notes []string
	ended := func(end time.Time) bool { return !end.IsZero() && !end.After(at) }
	for _, ri := range ris {
		if ri.Region != region || ended(ri.End) || ri.Count < 1 {
			continue
		}
		out.ReservedInstances = append(out.ReservedInstances, cost.ReservedInstance{InstanceType: ri.InstanceType, Count: int(ri.Count), Zone: ri.Zone})
	}
	for _, sp := range plans {
		switch {
		case ended(sp.End),
			sp.Type != ComputeSavingsPlan && sp.Type != EC2InstanceSavingsPlan,
			sp.Type == EC2InstanceSavingsPlan && sp.Region != region:
			continue
		case sp.Currency != "" && sp.Currency != "USD":
			notes = append(notes, fmt.Sprintf("Savings Plan %s commits %g %s per hour, not USD, and is left out", sp.ID, sp.PerHour, sp.Currency))
			continue
		}
		out.SavingsPlans = append(out.SavingsPlans, cost.SavingsPlanSpend{
			Type: v1alpha1.SavingsPlanType(sp.Type), Family: sp.Family, PerHour: sp.PerHour,
		})
	}
	return out, notes
}
