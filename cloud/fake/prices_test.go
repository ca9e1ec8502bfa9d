package fake

import (
	"context"
	"errors"
	"testing"

	"github.com/ballast-dev/ballast/cloud"
)

func TestPrices(t *testing.T) {
	f := &Prices{OnDemand: map[string]map[string]float64{"eu-west-1": {"m6i.large": 0.107}}}
	ctx := context.Background()
	got, err := f.OnDemandPrices(ctx, "eu-west-1", []string{"m6i.large", "x9.huge"})
	if err != nil || len(got) != 1 || got["m6i.large"] != 0.107 {
		t.Fatalf("OnDemandPrices = %v, %v", got, err)
	}
	throttled := &cloud.ThrottledError{APIError: cloud.APIError{Op: "ec2:DescribeSpotPriceHistory", Code: "RequestLimitExceeded"}}
	f.SetNextError(throttled)
	if _, err := f.SpotPrices(ctx, "eu-west-1", []string{"m6i.large"}); !cloud.IsThrottled(err) {
		t.Errorf("injected error = %v", err)
	}
	if got, err := f.SpotPrices(ctx, "eu-west-1", []string{"m6i.large"}); err != nil || len(got) != 0 {
		t.Errorf("the injected error must fail one call only: %v, %v", got, err)
	}
	calls := f.Calls()
	if len(calls) != 3 || calls[0].Method != "OnDemandPrices" || calls[1].Method != "SpotPrices" || calls[0].InstanceTypes[1] != "x9.huge" {
		t.Errorf("calls = %+v", calls)
	}
	f.SetNextError(errors.New("boom"))
	f.Reset()
	if len(f.Calls()) != 0 {
		t.Error("Reset kept the calls")
	}
	if _, err := f.OnDemandPrices(ctx, "eu-west-1", nil); err != nil {
		t.Errorf("Reset kept the injected error: %v", err)
	}
}
