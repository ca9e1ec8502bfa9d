package app

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/ballast-dev/ballast/cloud"
	awsprices "github.com/ballast-dev/ballast/cloud/aws"
	"github.com/ballast-dev/ballast/cost"
)

// newPriceSource builds the source of live prices from the AWS configuration of the
// environment (AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ...); tests replace it.
var newPriceSource = func(ctx context.Context, region string) (cloud.PriceSource, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("failed to load the AWS configuration: %w", err)
	}
	return awsprices.NewPrices(cfg), nil
}

// overlayLivePrices sets the On-Demand and Spot prices src reports; types it does not
// price keep the catalogue's.
func overlayLivePrices(ctx context.Context, src cloud.PriceSource, c *cost.Catalogue, region string, instanceTypes []string, now time.Time) error {
	od, err := src.OnDemandPrices(ctx, region, instanceTypes)
	if err == nil {
		var spot map[string]float64
		spot, err = src.SpotPrices(ctx, region, instanceTypes)
		for t, p := range od {
			_ = c.SetPrice(region, t, cost.OnDemand, p)
		}
		for t, p := range spot {
			_ = c.SetPrice(region, t, cost.Spot, p)
		}
	}
	switch {
	case cloud.IsThrottled(err):
		return fmt.Errorf("AWS throttled the price queries; try again later, or leave out --live-prices: %w", err)
	case cloud.IsAccessDenied(err):
		return fmt.Errorf("the AWS credentials may not read prices (they need pricing:GetProducts and ec2:DescribeSpotPriceHistory): %w", err)
	case err != nil:
		return fmt.Errorf("failed to fetch live prices: %w", err)
	}
	types := fmt.Sprintf("%d instance types", len(instanceTypes))
	if len(instanceTypes) == 1 {
		types = "1 instance type"
	}
	c.NoteOverlay(fmt.Sprintf("live AWS prices (Price List API and EC2 Spot price history, %s in %s, %s)", types, region, now.UTC().Format(time.RFC3339)))
	return nil
}
