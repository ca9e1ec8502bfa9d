package fake

import (
	"context"
	"reflect"
	"testing"

	"github.com/ballast-dev/ballast/cloud"
)

func TestCommitments(t *testing.T) {
	f := &Commitments{}
	ctx := context.Background()
	if ris, err := f.ReservedInstances(ctx, "eu-west-1"); err != nil || len(ris) != 0 {
		t.Fatalf("nothing set: %v, %v", ris, err)
	}
	f.SetReservedInstances("eu-west-1", cloud.ReservedInstance{InstanceType: "m6i.large", Count: 2, Zone: "eu-west-1a"})
	f.SetSavingsPlans(cloud.SavingsPlan{Type: cloud.ComputeSavingsPlan, PerHour: 1})
	ris, err := f.ReservedInstances(ctx, "eu-west-1")
	if want := []cloud.ReservedInstance{{InstanceType: "m6i.large", Count: 2, Region: "eu-west-1", Zone: "eu-west-1a"}}; err != nil || !reflect.DeepEqual(ris, want) {
		t.Errorf("reserved = %+v, %v; want %+v", ris, err, want)
	}
	if other, _ := f.ReservedInstances(ctx, "us-east-1"); len(other) != 0 {
		t.Errorf("another region's reservations: %+v", other)
	}
	// Savings Plans are the account's, whatever the region.
	if plans, err := f.SavingsPlans(ctx, "us-east-1"); err != nil || len(plans) != 1 {
		t.Errorf("plans = %+v, %v", plans, err)
	}
	denied := &cloud.AccessDeniedError{APIError: cloud.APIError{Op: "savingsplans:DescribeSavingsPlans", Code: "AccessDeniedException"}}
	f.SetNextError(denied)
	if plans, err := f.SavingsPlans(ctx, "eu-west-1"); !cloud.IsAccessDenied(err) || plans != nil {
		t.Errorf("injected error = %+v, %v", plans, err)
	}
	if _, err := f.SavingsPlans(ctx, "eu-west-1"); err != nil {
		t.Errorf("the injected error must fail one call only: %v", err)
	}
	want := []CommitmentCall{{"ReservedInstances", "eu-west-1"}, {"ReservedInstances", "eu-west-1"}, {"ReservedInstances", "us-east-1"},
		{"SavingsPlans", "us-east-1"}, {"SavingsPlans", "eu-west-1"}, {"SavingsPlans", "eu-west-1"}}
	if got := f.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
	f.SetNextError(denied)
	f.Reset()
	if _, err := f.ReservedInstances(ctx, "eu-west-1"); err != nil || len(f.Calls()) != 1 {
		t.Errorf("after Reset: err %v, calls %v; want no error and one call", err, f.Calls())
	}
}
