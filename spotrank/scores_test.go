package spotrank

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/cloud"
	"github.com/ballast-dev/ballast/cloud/fake"
)

func zone(id string, score int32) cloud.PlacementScore {
	return cloud.PlacementScore{ZoneID: id, Score: score}
}

// scoredFake answers per family: m6i 9, 8 and 6 (mean 7.67), c6i 3 and 4 (mean 3.5),
// c7i nothing (AWS may leave a zone or a request unscored), anything else 1.
func scoredFake() *fake.PlacementScores {
	f := &fake.PlacementScores{}
	f.SetScores(region, zone("euw1-az1", 1), cloud.PlacementScore{Score: 1})
	f.SetScoresFor(region, types("m6i", 3), zone("euw1-az1", 9), zone("euw1-az2", 8), zone("euw1-az3", 6), cloud.PlacementScore{Score: 10})
	f.SetScoresFor(region, types("c6i", 3), zone("euw1-az1", 3), zone("euw1-az2", 4))
	f.SetScoresFor(region, types("c7i", 4), cloud.PlacementScore{Score: 10})
	return f
}

// supply is three m6i, three c6i, four c7i and two r6i types, a duplicate and a name
// that is no instance type.
var supply = append(append(append(append(types("m6i", 3), types("c6i", 3)...), types("c7i", 4)...), types("r6i", 2)...), "m6i.large", "metal")

func TestScores(t *testing.T) {
	f := scoredFake()
	got, err := Scores(context.Background(), f, region, supply)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int32{
		"m6i.large": 8, "m6i.xlarge": 8, "m6i.2xlarge": 8,
		"c6i.large": 4, "c6i.xlarge": 4, "c6i.2xlarge": 4,
		// c7i: no zone scored; r6i: two types would always score low, so not asked.
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scores = %v, want %v", got, want)
	}
	var asked []string
	for _, c := range f.Calls() {
		if c.Region != region || c.Capacity != PlacementCapacity || !c.PerZone {
			t.Errorf("call %+v: want per zone, for %d instances in %s", c, PlacementCapacity, region)
		}
		asked = append(asked, strings.Join(c.InstanceTypes, ","))
	}
	// Sorted: the same question in the same words.
	wantAsked := []string{"c6i.2xlarge,c6i.large,c6i.xlarge", "c7i.2xlarge,c7i.4xlarge,c7i.large,c7i.xlarge", "m6i.2xlarge,m6i.large,m6i.xlarge"}
	if !reflect.DeepEqual(asked, wantAsked) {
		t.Errorf("asked %q, want one question per family of three or more, %q", asked, wantAsked)
	}
}

func TestScoresThroughTheCache(t *testing.T) {
	f := scoredFake()
	clock := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	cached := &cloud.CachedPlacementScores{Source: f, Now: func() time.Time { return clock }}
	ctx := context.Background()
	first, err := Scores(ctx, cached, region, supply)
	if err != nil || len(first) != 6 {
		t.Fatalf("scores = %v, %v", first, err)
	}
	// Within the TTL, every family is answered from the cache.
	f.Reset()
	if again, err := Scores(ctx, cached, region, supply); err != nil || !maps.Equal(again, first) || len(f.Calls()) != 0 {
		t.Errorf("within the TTL: %v, %v, %d calls; want the same scores and no call", again, err, len(f.Calls()))
	}
	// After it, AWS throttles the first question (c6i): its last answer stays, said to
	// be stale; the other families are asked again, and a throttled account is left
	// alone for the backoff: m6i gets its stale answer without a call.
	clock = clock.Add(cloud.DefaultPlacementScoreTTL + time.Second)
	f.SetNextError(&cloud.ThrottledError{APIError: cloud.APIError{Op: "ec2:GetSpotPlacementScores", Code: "RequestLimitExceeded"}})
	f.SetScoresFor(region, types("c6i", 3), zone("euw1-az1", 10))
	stale, err := Scores(ctx, cached, region, supply)
	if !maps.Equal(stale, first) {
		t.Errorf("stale scores = %v, want the last good ones %v", stale, first)
	}
	if !cloud.IsStale(err) || !cloud.IsThrottled(err) || !strings.Contains(err.Error(), "instance family c6i") ||
		!strings.Contains(err.Error(), "instance family m6i") || !strings.Contains(err.Error(), "Spot placement scores in "+region) {
		t.Errorf("err = %v; want stale answers of c6i and m6i, throttled", err)
	}
	if calls := f.Calls(); len(calls) != 1 {
		t.Errorf("%d calls during the backoff, want only the throttled one", len(calls))
	}
}

func TestScoresErrors(t *testing.T) {
	f := scoredFake()
	denied := &cloud.AccessDeniedError{APIError: cloud.APIError{Op: "ec2:GetSpotPlacementScores", Code: "UnauthorizedOperation"}}
	f.SetNextError(denied)
	got, err := Scores(context.Background(), f, region, supply)
	// c6i, asked first, failed; m6i is still scored.
	if !cloud.IsAccessDenied(err) || !strings.Contains(err.Error(), "instance family c6i") {
		t.Errorf("err = %v, want c6i's access denied", err)
	}
	if want := map[string]int32{"m6i.large": 8, "m6i.xlarge": 8, "m6i.2xlarge": 8}; !maps.Equal(got, want) {
		t.Errorf("scores = %v, want %v", got, want)
	}

	f.Reset()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, err := Scores(ctx, f, region, supply); !errors.Is(err, context.Canceled) || len(got) != 0 || len(f.Calls()) != 0 {
		t.Errorf("cancelled: %v, %v, %d calls", got, err, len(f.Calls()))
	}
	if got, err := Scores(context.Background(), f, region, nil); err != nil || len(got) != 0 || len(f.Calls()) != 0 {
		t.Errorf("no types: %v, %v, %d calls", got, err, len(f.Calls()))
	}
}
