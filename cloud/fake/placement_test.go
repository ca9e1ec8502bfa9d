package fake

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/ballast-dev/ballast/cloud"
)

func TestPlacementScores(t *testing.T) {
	f := &PlacementScores{}
	ctx := context.Background()
	types := []string{"m6i.large", "c6i.large", "r6i.large"}
	if got, err := f.SpotPlacementScores(ctx, "eu-west-1", types, 3, true); err != nil || len(got) != 0 {
		t.Fatalf("no scores set: %v, %v", got, err)
	}
	f.SetScores("eu-west-1", cloud.PlacementScore{Score: 8},
		cloud.PlacementScore{ZoneID: "euw1-az1", Score: 9}, cloud.PlacementScore{ZoneID: "euw1-az2", Score: 2})
	zones, err := f.SpotPlacementScores(ctx, "eu-west-1", types, 3, true)
	want := []cloud.PlacementScore{{Region: "eu-west-1", ZoneID: "euw1-az1", Score: 9}, {Region: "eu-west-1", ZoneID: "euw1-az2", Score: 2}}
	if err != nil || !reflect.DeepEqual(zones, want) {
		t.Errorf("per zone = %+v, %v; want %+v", zones, err, want)
	}
	region, err := f.SpotPlacementScores(ctx, "eu-west-1", types, 3, false)
	if err != nil || !reflect.DeepEqual(region, []cloud.PlacementScore{{Region: "eu-west-1", Score: 8}}) {
		t.Errorf("regional = %+v, %v", region, err)
	}
	throttled := &cloud.ThrottledError{APIError: cloud.APIError{Op: "ec2:GetSpotPlacementScores", Code: "RequestLimitExceeded"}}
	f.SetNextError(throttled)
	if _, err := f.SpotPlacementScores(ctx, "eu-west-1", types, 3, true); !cloud.IsThrottled(err) {
		t.Errorf("injected error = %v", err)
	}
	if _, err := f.SpotPlacementScores(ctx, "eu-west-1", types, 3, true); err != nil {
		t.Errorf("the injected error must fail one call only: %v", err)
	}
	// The recorded calls are copies: the caller's slice may change afterwards.
	types[0] = "changed"
	calls := f.Calls()
	first := PlacementCall{Region: "eu-west-1", InstanceTypes: []string{"m6i.large", "c6i.large", "r6i.large"}, Capacity: 3, PerZone: true}
	if len(calls) != 5 || !reflect.DeepEqual(calls[0], first) || calls[2].PerZone {
		t.Errorf("calls = %+v", calls)
	}
	f.SetNextError(errors.New("boom"))
	f.Reset()
	if len(f.Calls()) != 0 {
		t.Error("Reset kept the calls")
	}
	if got, err := f.SpotPlacementScores(ctx, "eu-west-1", types, 3, false); err != nil || len(got) != 1 {
		t.Errorf("Reset kept the injected error or dropped the scores: %v, %v", got, err)
	}
}

func TestPlacementScoresForTypes(t *testing.T) {
	f := &PlacementScores{}
	ctx := context.Background()
	f.SetScores("eu-west-1", cloud.PlacementScore{ZoneID: "euw1-az1", Score: 5})
	m6i := []string{"m6i.large", "m6i.xlarge", "m6i.2xlarge"}
	f.SetScoresFor("eu-west-1", m6i, cloud.PlacementScore{ZoneID: "euw1-az1", Score: 9}, cloud.PlacementScore{Score: 8})
	for _, tc := range []struct {
		name    string
		region  string
		types   []string
		perZone bool
		want    []cloud.PlacementScore
	}{
		// The same set in another order, with a duplicate.
		{"the set, per zone", "eu-west-1", []string{"m6i.xlarge", "m6i.2xlarge", "m6i.large", "m6i.large"}, true,
			[]cloud.PlacementScore{{Region: "eu-west-1", ZoneID: "euw1-az1", Score: 9}}},
		{"the set, regional", "eu-west-1", m6i, false, []cloud.PlacementScore{{Region: "eu-west-1", Score: 8}}},
		{"another set", "eu-west-1", m6i[:2], true, []cloud.PlacementScore{{Region: "eu-west-1", ZoneID: "euw1-az1", Score: 5}}},
		{"another region", "us-east-1", m6i, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.SpotPlacementScores(ctx, tc.region, tc.types, 10, tc.perZone)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("scores = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	f.SetScoresFor("eu-west-1", m6i)
	if got, _ := f.SpotPlacementScores(ctx, "eu-west-1", m6i, 10, true); len(got) != 1 || got[0].Score != 5 {
		t.Errorf("after clearing the set's scores: %+v, want the region's", got)
	}
}
