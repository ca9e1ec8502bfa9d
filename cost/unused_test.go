package cost

import (
	"reflect"
	"testing"
)

// bookOf is a PriceBook from a map of "type/capacity" to USD per hour.
type bookOf map[string]float64

func (b bookOf) Price(_, instanceType, capacityType string) (float64, bool) {
	p, ok := b[instanceType+"/"+capacityType]
	return p, ok
}

func TestUnused(t *testing.T) {
	book := bookOf{
		"m5.large/" + OnDemand: 0.096, "m5.large/" + Reserved: 0.06, "m5.large/" + SavingsPlan: 0.07,
		"m5.xlarge/" + OnDemand: 0.192, "m5.xlarge/" + Reserved: 0.12, "m5.xlarge/" + SavingsPlan: 0.14,
		"c5.large/" + OnDemand: 0.085, "c5.large/" + Reserved: 0.05, "c5.large/" + SavingsPlan: 0.06,
	}
	od := func(typ, zone string) Node {
		return Node{InstanceType: typ, CapacityType: OnDemand, Zone: zone}
	}
	ri := func(typ string, count int, zone string) ReservedInstance {
		return ReservedInstance{InstanceType: typ, Count: count, Zone: zone}
	}
	for _, tc := range []struct {
		name       string
		c          Commitments
		nodes      []Node
		candidates []string
		reserved   []ReservedUnused
		plans      []SavingsPlanUnused
	}{{
		name:     "3 reserved m5.large, 1 running: 2 unused",
		c:        Commitments{Utilization: 1, ReservedInstances: []ReservedInstance{ri("m5.large", 3, "")}},
		nodes:    []Node{od("m5.large", "eu-west-1a")},
		reserved: []ReservedUnused{{InstanceType: "m5.large", Count: 3, Usable: 3, Used: 1, Unused: 2}},
	}, {
		name:     "no nodes: all unused",
		c:        Commitments{Utilization: 1, ReservedInstances: []ReservedInstance{ri("m5.large", 3, "")}},
		reserved: []ReservedUnused{{InstanceType: "m5.large", Count: 3, Usable: 3, Unused: 3}},
	}, {
		name:     "a zonal reservation covers nodes in its zone only",
		c:        Commitments{Utilization: 1, ReservedInstances: []ReservedInstance{ri("m5.large", 2, "eu-west-1a")}},
		nodes:    []Node{od("m5.large", "eu-west-1b"), od("m5.large", "eu-west-1b"), od("m5.large", "eu-west-1a")},
		reserved: []ReservedUnused{{InstanceType: "m5.large", Zone: "eu-west-1a", Count: 2, Usable: 2, Used: 1, Unused: 1}},
	}, {
		name:     "a Spot node covers nothing",
		c:        Commitments{Utilization: 1, ReservedInstances: []ReservedInstance{ri("m5.large", 2, "")}},
		nodes:    []Node{{InstanceType: "m5.large", CapacityType: Spot}},
		reserved: []ReservedUnused{{InstanceType: "m5.large", Count: 2, Usable: 2, Unused: 2}},
	}, {
		name:     "a regional reservation is size-flexible: an m5.xlarge uses two m5.large",
		c:        Commitments{Utilization: 1, ReservedInstances: []ReservedInstance{ri("m5.large", 3, "")}},
		nodes:    []Node{od("m5.xlarge", "")},
		reserved: []ReservedUnused{{InstanceType: "m5.large", Count: 3, Usable: 3, Used: 2, Unused: 1}},
	}, {
		name:     "another family is not covered",
		c:        Commitments{Utilization: 1, ReservedInstances: []ReservedInstance{ri("m5.large", 1, "")}},
		nodes:    []Node{od("c5.large", "")},
		reserved: []ReservedUnused{{InstanceType: "m5.large", Count: 1, Usable: 1, Unused: 1}},
	}, {
		name:     "utilization 50%: half of 4 usable, 1 running",
		c:        Commitments{Utilization: 0.5, ReservedInstances: []ReservedInstance{ri("m5.large", 4, "")}},
		nodes:    []Node{od("m5.large", "")},
		reserved: []ReservedUnused{{InstanceType: "m5.large", Count: 4, Usable: 2, Used: 1, Unused: 1}},
	}, {
		name:     "utilization 50% of 3: 1.5 usable rounds down",
		c:        Commitments{Utilization: 0.5, ReservedInstances: []ReservedInstance{ri("m5.large", 3, "")}},
		reserved: []ReservedUnused{{InstanceType: "m5.large", Count: 3, Usable: 1.5, Unused: 1}},
	}, {
		name:     "blocks of one type and zone add up",
		c:        Commitments{Utilization: 1, ReservedInstances: []ReservedInstance{ri("m5.large", 1, ""), ri("m5.large", 2, ""), ri("c5.large", 1, "eu-west-1a")}},
		nodes:    []Node{od("m5.large", ""), od("m5.large", "")},
		reserved: []ReservedUnused{{InstanceType: "c5.large", Zone: "eu-west-1a", Count: 1, Usable: 1, Unused: 1}, {InstanceType: "m5.large", Count: 3, Usable: 3, Used: 2, Unused: 1}},
	}, {
		name:       "Compute plan: $0.20/h at $0.07 buys 2 m5.large",
		c:          Commitments{Utilization: 1, SavingsPlans: []SavingsPlanSpend{{Type: "Compute", PerHour: 0.20}}},
		candidates: []string{"m5.large"},
		plans:      []SavingsPlanUnused{{SavingsPlanSpend: SavingsPlanSpend{Type: "Compute", PerHour: 0.20}, Usable: 0.20, Instances: []InstanceCount{{"m5.large", 2}}}},
	}, {
		name:       "Compute plan: a running m5.large spends $0.07 of $0.28",
		c:          Commitments{Utilization: 1, SavingsPlans: []SavingsPlanSpend{{Type: "Compute", PerHour: 0.28}}},
		nodes:      []Node{od("m5.large", ""), {InstanceType: "m5.large", CapacityType: Spot}},
		candidates: []string{"m5.xlarge", "m5.large", "m5.large"},
		plans: []SavingsPlanUnused{{SavingsPlanSpend: SavingsPlanSpend{Type: "Compute", PerHour: 0.28}, Usable: 0.28, Used: 0.07,
			Instances: []InstanceCount{{"m5.large", 3}, {"m5.xlarge", 1}}}},
	}, {
		name:       "EC2 Instance plan: its family at Reserved rates, utilization 50%",
		c:          Commitments{Utilization: 0.5, SavingsPlans: []SavingsPlanSpend{{Type: "EC2Instance", Family: "c5", PerHour: 0.40}}},
		candidates: []string{"c5.large", "m5.large"},
		plans: []SavingsPlanUnused{{SavingsPlanSpend: SavingsPlanSpend{Type: "EC2Instance", Family: "c5", PerHour: 0.40}, Usable: 0.20,
			Instances: []InstanceCount{{"c5.large", 4}}}},
	}, {
		name:     "reservations cover before plans",
		c:        Commitments{Utilization: 1, ReservedInstances: []ReservedInstance{ri("m5.large", 1, "")}, SavingsPlans: []SavingsPlanSpend{{Type: "Compute", PerHour: 0.14}}},
		nodes:    []Node{od("m5.large", ""), od("m5.large", "")},
		reserved: []ReservedUnused{{InstanceType: "m5.large", Count: 1, Usable: 1, Used: 1}},
		plans:    []SavingsPlanUnused{{SavingsPlanSpend: SavingsPlanSpend{Type: "Compute", PerHour: 0.14}, Usable: 0.14, Used: 0.07}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Unused(tc.c, tc.nodes, "eu-west-1", book, tc.candidates)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got.SavingsPlans {
				got.SavingsPlans[i].Used = roundCount(got.SavingsPlans[i].Used)
			}
			if !reflect.DeepEqual(got.Reserved, tc.reserved) {
				t.Errorf("reserved = %+v, want %+v", got.Reserved, tc.reserved)
			}
			if !reflect.DeepEqual(got.SavingsPlans, tc.plans) {
				t.Errorf("savings plans = %+v, want %+v", got.SavingsPlans, tc.plans)
			}
		})
	}
}

func TestUnusedNoReservedPrice(t *testing.T) {
	_, err := Unused(Commitments{Utilization: 1, ReservedInstances: []ReservedInstance{{InstanceType: "x9.large", Count: 1}}}, nil, "eu-west-1", bookOf{}, nil)
	if err == nil {
		t.Fatal("want an error for a reservation without a Reserved price")
	}
}
