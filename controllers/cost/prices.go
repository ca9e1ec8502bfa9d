package cost

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ballast-dev/ballast/cloud"
	"github.com/ballast-dev/ballast/cost"
)

// Price source names in status.cost.prices.
const (
	// PricesCatalogue: the built-in catalogue, with the operator's price file over it.
	PricesCatalogue = "catalogue"
	// PricesAWS: the AWS Pricing and Spot price APIs over the catalogue.
	PricesAWS = "aws"
)

// Prices is the price book the controller prices nodes with: Base (the built-in
// catalogue with any operator file merged over it) and, when Live is set, the AWS
// On-Demand and Spot prices of the cluster's instance types laid over it. Live
// prices are fetched for new instance types at once and refreshed every Refresh; a
// failed fetch keeps the last good prices and is retried no sooner than Retry.
type Prices struct {
	// Base is the catalogue; cost.DefaultCatalogue when nil.
	Base *cost.Catalogue
	// Live fetches current prices; nil prices from Base only.
	Live cloud.PriceSource
	// Refresh is how long fetched prices are used (default 1h), Retry how long after a
	// failure the next fetch waits (default 5m).
	Refresh, Retry time.Duration

	mu        sync.Mutex
	book      *cost.Catalogue
	region    string
	types     []string
	fetched   time.Time
	attempted time.Time
	live      bool
	lastErr   error
}

// Book returns the price book for instanceTypes in region, the name of its source
// (PricesAWS once live prices were fetched, else PricesCatalogue), and the error of
// the last live fetch when it failed (the book is still usable: the last good prices).
func (p *Prices) Book(ctx context.Context, region string, instanceTypes []string, now time.Time) (cost.PriceBook, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.book == nil || p.region != region {
		p.book, p.region, p.types, p.live, p.fetched, p.attempted, p.lastErr = p.base(), region, nil, false, time.Time{}, time.Time{}, nil
	}
	if p.Live == nil {
		return p.book, PricesCatalogue, nil
	}
	missing := false
	for _, t := range instanceTypes {
		if !slices.Contains(p.types, t) {
			missing = true
			break
		}
	}
	refresh, retry := orDefault(p.Refresh, time.Hour), orDefault(p.Retry, 5*time.Minute)
	due := missing || now.Sub(p.fetched) >= refresh
	if due && (p.lastErr == nil || now.Sub(p.attempted) >= retry) {
		p.attempted = now
		types := slices.Clone(instanceTypes)
		slices.Sort(types)
		types = slices.Compact(types)
		if err := p.fetch(ctx, region, types); err != nil {
			p.lastErr = err
		} else {
			p.types, p.fetched, p.live, p.lastErr = types, now, true, nil
		}
	}
	name := PricesCatalogue
	if p.live {
		name = PricesAWS
	}
	return p.book, name, p.lastErr
}

// fetch lays the live prices of types over a fresh copy of the book, so that a
// failure halfway leaves the book as it was.
func (p *Prices) fetch(ctx context.Context, region string, types []string) error {
	od, err := p.Live.OnDemandPrices(ctx, region, types)
	if err != nil {
		return describe(err)
	}
	spot, err := p.Live.SpotPrices(ctx, region, types)
	if err != nil {
		return describe(err)
	}
	book := p.book.Clone()
	for t, v := range od {
		if err := book.SetPrice(region, t, cost.OnDemand, v); err != nil {
			return err
		}
	}
	for t, v := range spot {
		if err := book.SetPrice(region, t, cost.Spot, v); err != nil {
			return err
		}
	}
	p.book = book
	return nil
}

// Catalogue is the catalogue of instance shapes the prices are laid over (the
// built-in one when p or its Base is nil).
func (p *Prices) Catalogue() *cost.Catalogue {
	if p == nil {
		return cost.DefaultCatalogue()
	}
	return p.base()
}

func (p *Prices) base() *cost.Catalogue {
	if p.Base != nil {
		return p.Base.Clone()
	}
	return cost.DefaultCatalogue()
}

func describe(err error) error {
	switch {
	case cloud.IsThrottled(err):
		return fmt.Errorf("AWS throttled the price queries; the last good prices stay in use: %w", err)
	case cloud.IsAccessDenied(err):
		return fmt.Errorf("the controller's AWS role may not read prices (it needs pricing:GetProducts and ec2:DescribeSpotPriceHistory); the last good prices stay in use: %w", err)
	default:
		return fmt.Errorf("failed to fetch AWS prices; the last good prices stay in use: %w", err)
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
