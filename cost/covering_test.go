package cost

import (
	"maps"
	"slices"
	"testing"
)

func TestCovering(t *testing.T) {
	book := bookOf{
		"m5.large/" + OnDemand: 0.096, "m5.large/" + Reserved: 0.06, "m5.large/" + SavingsPlan: 0.07,
		"m5.xlarge/" + OnDemand: 0.192, "m5.xlarge/" + Reserved: 0.12, "m5.xlarge/" + SavingsPlan: 0.14,
		"c5.large/" + OnDemand: 0.085, "c5.large/" + Reserved: 0.05, "c5.large/" + SavingsPlan: 0.06,
	}
	od := func(name, typ, zone string) Node {
		return Node{Name: name, InstanceType: typ, CapacityType: OnDemand, Zone: zone}
	}
	ri := func(typ string, count int, zone string) Commitments {
		return Commitments{Utilization: 1, ReservedInstances: []ReservedInstance{{InstanceType: typ, Count: count, Zone: zone}}}
	}
	four := []Node{od("a", "m5.large", ""), od("b", "m5.large", ""), od("c", "m5.large", ""), od("d", "m5.large", "")}
	for _, tc := range []struct {
		name  string
		c     Commitments
		nodes []Node
		want  []string
	}{{
		name: "3 reserved, 4 running: the first 3 cover, 1 may go", c: ri("m5.large", 3, ""), nodes: four,
		want: []string{"a", "b", "c"},
	}, {
		name: "the order says which to keep", c: ri("m5.large", 3, ""),
		nodes: []Node{four[3], four[2], four[0], four[1]}, want: []string{"a", "c", "d"},
	}, {
		name: "3 reserved, 2 running: both cover, none may go", c: ri("m5.large", 3, ""), nodes: four[:2],
		want: []string{"a", "b"},
	}, {
		name: "no commitment: none covers", c: Commitments{Utilization: 1}, nodes: four,
	}, {
		name: "Spot nodes never cover", c: ri("m5.large", 3, ""),
		nodes: []Node{{Name: "s", InstanceType: "m5.large", CapacityType: Spot}, od("a", "m5.large", "")},
		want:  []string{"a"},
	}, {
		name: "a node without a capacity type counts as On-Demand", c: ri("m5.large", 1, ""),
		nodes: []Node{{Name: "x", InstanceType: "m5.large"}}, want: []string{"x"},
	}, {
		name: "maxUtilizationPercent 50: 2 of 4 usable", c: Commitments{Utilization: 0.5,
			ReservedInstances: []ReservedInstance{{InstanceType: "m5.large", Count: 4}}},
		nodes: four, want: []string{"a", "b"},
	}, {
		name: "half a usable reservation covers a node in part", c: Commitments{Utilization: 0.5,
			ReservedInstances: []ReservedInstance{{InstanceType: "m5.large", Count: 3}}},
		nodes: four, want: []string{"a", "b"},
	}, {
		name: "a zonal reservation covers its zone only", c: ri("m5.large", 1, "eu-west-1a"),
		nodes: []Node{od("b", "m5.large", "eu-west-1b"), od("a", "m5.large", "eu-west-1a")}, want: []string{"a"},
	}, {
		name: "size-flexible: 3 m5.large cover an m5.xlarge and half of the next", c: ri("m5.large", 3, ""),
		nodes: []Node{od("x1", "m5.xlarge", ""), od("x2", "m5.xlarge", ""), od("x3", "m5.xlarge", "")}, want: []string{"x1", "x2"},
	}, {
		name: "another family is not covered", c: ri("m5.large", 2, ""),
		nodes: []Node{od("c", "c5.large", ""), od("m", "m5.large", "")}, want: []string{"m"},
	}, {
		name:  "Compute plan: $0.14/h pays 2 m5.large hours at $0.07",
		c:     Commitments{Utilization: 1, SavingsPlans: []SavingsPlanSpend{{Type: "Compute", PerHour: 0.14}}},
		nodes: four, want: []string{"a", "b"},
	}, {
		name:  "Compute plan: $0.10/h pays one hour and part of another",
		c:     Commitments{Utilization: 1, SavingsPlans: []SavingsPlanSpend{{Type: "Compute", PerHour: 0.10}}},
		nodes: four, want: []string{"a", "b"},
	}, {
		name: "Compute plan: the largest discount first, whatever the order",
		c:    Commitments{Utilization: 1, SavingsPlans: []SavingsPlanSpend{{Type: "Compute", PerHour: 0.06}}},
		// c5.large: 1-0.06/0.085 = 29% off; m5.large: 1-0.07/0.096 = 27% off.
		nodes: []Node{od("m", "m5.large", ""), od("c", "c5.large", "")}, want: []string{"c"},
	}, {
		name:  "EC2 Instance plan: its family only",
		c:     Commitments{Utilization: 1, SavingsPlans: []SavingsPlanSpend{{Type: "EC2Instance", Family: "c5", PerHour: 0.05}}},
		nodes: []Node{od("m", "m5.large", ""), od("c", "c5.large", "")}, want: []string{"c"},
	}, {
		name: "a reservation covers before a plan: the plan pays the next node",
		c: Commitments{Utilization: 1, ReservedInstances: []ReservedInstance{{InstanceType: "m5.large", Count: 1}},
			SavingsPlans: []SavingsPlanSpend{{Type: "Compute", PerHour: 0.07}}},
		nodes: four, want: []string{"a", "b"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Covering(tc.c, tc.nodes, "eu-west-1", book)
			if err != nil {
				t.Fatal(err)
			}
			if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, tc.want) {
				t.Errorf("covering = %v, want %v", names, tc.want)
			}
		})
	}
	if _, err := Covering(ri("x9.large", 1, ""), four, "eu-west-1", book); err == nil {
		t.Error("a reservation without a Reserved price: want an error")
	}
}

func TestCoverable(t *testing.T) {
	n := func(typ, capacity, zone string) Node {
		return Node{InstanceType: typ, CapacityType: capacity, Zone: zone}
	}
	for _, tc := range []struct {
		name string
		c    Commitments
		node Node
		want bool
	}{
		{"its type reserved", Commitments{ReservedInstances: []ReservedInstance{{InstanceType: "m5.large", Count: 1}}}, n("m5.large", OnDemand, ""), true},
		{"Spot never", Commitments{ReservedInstances: []ReservedInstance{{InstanceType: "m5.large", Count: 1}}}, n("m5.large", Spot, ""), false},
		{"its family, regional", Commitments{ReservedInstances: []ReservedInstance{{InstanceType: "m5.large", Count: 1}}}, n("m5.2xlarge", OnDemand, ""), true},
		{"its family, zonal: no", Commitments{ReservedInstances: []ReservedInstance{{InstanceType: "m5.large", Count: 1, Zone: "a"}}}, n("m5.2xlarge", OnDemand, "a"), false},
		{"its type in another zone", Commitments{ReservedInstances: []ReservedInstance{{InstanceType: "m5.large", Count: 1, Zone: "a"}}}, n("m5.large", OnDemand, "b"), false},
		{"another family", Commitments{ReservedInstances: []ReservedInstance{{InstanceType: "m5.large", Count: 1}}}, n("c5.large", OnDemand, ""), false},
		{"no reservation left", Commitments{ReservedInstances: []ReservedInstance{{InstanceType: "m5.large"}}}, n("m5.large", OnDemand, ""), false},
		{"EC2 Instance plan of its family", Commitments{SavingsPlans: []SavingsPlanSpend{{Type: "EC2Instance", Family: "c5", PerHour: 1}}}, n("c5.xlarge", OnDemand, ""), true},
		{"EC2 Instance plan of another", Commitments{SavingsPlans: []SavingsPlanSpend{{Type: "EC2Instance", Family: "c5", PerHour: 1}}}, n("m5.large", OnDemand, ""), false},
		{"Compute plan: any On-Demand node", Commitments{SavingsPlans: []SavingsPlanSpend{{Type: "Compute", PerHour: 1}}}, n("r6g.large", OnDemand, ""), true},
		{"nothing committed", Commitments{}, n("m5.large", OnDemand, ""), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Coverable(tc.c, tc.node); got != tc.want {
				t.Errorf("Coverable = %v, want %v", got, tc.want)
			}
		})
	}
}
