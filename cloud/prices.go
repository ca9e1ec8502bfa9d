package cloud

import "context"

// PriceSource fetches current EC2 prices.
type PriceSource interface {
	// OnDemandPrices returns the hourly On-Demand list price in USD (Linux, shared
	// tenancy) of each of instanceTypes in region; a type AWS does not price there is
	// absent from the map.
	OnDemandPrices(ctx context.Context, region string, instanceTypes []string) (map[string]float64, error)
	// SpotPrices returns the current hourly Spot price in USD (Linux/UNIX) of each of
	// instanceTypes in region, averaged over the availability zones that offer it; a
	// type without Spot offers there is absent from the map.
	SpotPrices(ctx context.Context, region string, instanceTypes []string) (map[string]float64, error)
}
