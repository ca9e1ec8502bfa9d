package cloud_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/cloud"
	"github.com/ballast-dev/ballast/cost"
)

func TestCostCommitments(t *testing.T) {
	later, ended := t0.Add(24*time.Hour), t0.Add(-time.Second)
	ris := []cloud.ReservedInstance{
		{ID: "ri-1", InstanceType: "m6i.large", Count: 2, Region: "eu-west-1", Zone: "eu-west-1b", End: later},
		{ID: "ri-2", InstanceType: "c6i.xlarge", Count: 3, Region: "eu-west-1", End: later},
		{ID: "ri-3", InstanceType: "r6i.large", Count: 1, Region: "us-east-1", End: later}, // another region
		{ID: "ri-4", InstanceType: "m6i.large", Count: 5, Region: "eu-west-1", End: ended}, // ended since the answer
	}
	plans := []cloud.SavingsPlan{
		{ID: "sp-1", Type: cloud.ComputeSavingsPlan, PerHour: 0.5, Currency: "USD", End: later},
		{ID: "sp-2", Type: cloud.ComputeSavingsPlan, Region: "us-east-1", PerHour: 0.25, Currency: "USD", End: later}, // Compute: any region
		{ID: "sp-3", Type: cloud.EC2InstanceSavingsPlan, Family: "m6i", Region: "eu-west-1", PerHour: 1.25, Currency: "USD", End: later},
		{ID: "sp-4", Type: cloud.EC2InstanceSavingsPlan, Family: "c7g", Region: "us-east-1", PerHour: 2, Currency: "USD", End: later},
		{ID: "sp-5", Type: cloud.ComputeSavingsPlan, PerHour: 7, Currency: "USD", End: ended},
		{ID: "sp-6", Type: cloud.ComputeSavingsPlan, PerHour: 8, Currency: "CNY", End: later},
	}
	got, notes := cloud.CostCommitments("eu-west-1", t0, ris, plans, 0.8)
	want := cost.Commitments{
		ReservedInstances: []cost.ReservedInstance{
			{InstanceType: "m6i.large", Count: 2, Zone: "eu-west-1b"},
			{InstanceType: "c6i.xlarge", Count: 3},
		},
		SavingsPlans: []cost.SavingsPlanSpend{
			{Type: "Compute", PerHour: 0.5},
			{Type: "Compute", PerHour: 0.25},
			{Type: "EC2Instance", Family: "m6i", PerHour: 1.25},
		},
		Utilization: 0.8,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("commitments = %+v\nwant %+v", got, want)
	}
	if len(notes) != 1 || notes[0] != "Savings Plan sp-6 commits 8 CNY per hour, not USD, and is left out" {
		t.Errorf("notes = %q", notes)
	}
	if none, notes := cloud.CostCommitments("eu-west-1", t0, nil, nil, 1); !reflect.DeepEqual(none, cost.Commitments{Utilization: 1}) || notes != nil {
		t.Errorf("nothing discovered: %+v, %q", none, notes)
	}
}
