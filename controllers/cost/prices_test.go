package cost

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/cloud/fake"
	"github.com/ballast-dev/ballast/cost"
)

// TestLivePricesAreCachedAndSurviveFailures: new instance types are fetched at once,
// known ones reused until the refresh, and a failed fetch keeps the last good prices
// and waits before the next try.
func TestLivePricesAreCachedAndSurviveFailures(t *testing.T) {
	ctx := context.Background()
	live := &fake.Prices{
		OnDemand: map[string]map[string]float64{"us-east-1": {"m5.large": 0.5}},
		Spot:     map[string]map[string]float64{"us-east-1": {"m5.large": 0.2}},
	}
	p := &Prices{Live: live, Refresh: time.Hour, Retry: 5 * time.Minute}
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	price := func(at time.Time, types ...string) (float64, string, error) {
		book, name, err := p.Book(ctx, "us-east-1", types, at)
		v, _ := book.Price("us-east-1", "m5.large", cost.OnDemand)
		return v, name, err
	}
	if v, name, err := price(t0, "m5.large"); err != nil || v != 0.5 || name != PricesAWS {
		t.Fatalf("first fetch: %v %s %v", v, name, err)
	}
	calls := len(live.Calls())
	if _, _, err := price(t0.Add(10*time.Minute), "m5.large"); err != nil || len(live.Calls()) != calls {
		t.Fatalf("a known type within the refresh fetched again (%d calls, was %d): %v", len(live.Calls()), calls, err)
	}
	// The refresh fails: the last good price stays, the error is reported.
	live.SetNextError(errors.New("connection refused"))
	if v, name, err := price(t0.Add(2*time.Hour), "m5.large"); err == nil || v != 0.5 || name != PricesAWS {
		t.Fatalf("failed refresh: %v %s %v", v, name, err)
	}
	calls = len(live.Calls())
	if _, _, err := price(t0.Add(2*time.Hour+time.Minute), "m5.large"); err == nil || len(live.Calls()) != calls {
		t.Fatalf("retried within the retry wait (%d calls, was %d)", len(live.Calls()), calls)
	}
	live.OnDemand["us-east-1"]["m5.large"] = 0.6
	if v, _, err := price(t0.Add(2*time.Hour+6*time.Minute), "m5.large"); err != nil || v != 0.6 {
		t.Fatalf("retry after the wait: %v %v", v, err)
	}
}

// TestCatalogueOnlyWithoutLivePrices: no AWS, no calls, the catalogue's name.
func TestCatalogueOnlyWithoutLivePrices(t *testing.T) {
	p := &Prices{}
	book, name, err := p.Book(context.Background(), "us-east-1", []string{"m5.large"}, time.Now())
	if err != nil || name != PricesCatalogue {
		t.Fatalf("%s %v", name, err)
	}
	if _, ok := book.Price("us-east-1", "m5.large", cost.OnDemand); !ok {
		t.Fatal("the built-in catalogue has no m5.large price")
	}
}
