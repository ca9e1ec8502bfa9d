package app

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/ballast-dev/ballast/cloud"
	awscloud "github.com/ballast-dev/ballast/cloud/aws"
	costctl "github.com/ballast-dev/ballast/controllers/cost"
	"github.com/ballast-dev/ballast/cost"
)

// newSpotScores builds the Spot placement score lookup the fallback controller asks
// before a return to Spot: EC2 GetSpotPlacementScores through the AWS configuration of
// the environment (IRSA, Pod Identity, AWS_* variables), cached and throttle-safe. The
// best score of any zone counts; a stale answer (AWS throttled or failed) still counts.
func newSpotScores(ctx context.Context) (func(context.Context, string, []string, int32) (int32, error), error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to load the AWS configuration: %w", err)
	}
	cached := &cloud.CachedPlacementScores{Source: awscloud.NewPlacementScores(cfg)}
	return func(ctx context.Context, region string, types []string, capacity int32) (int32, error) {
		scores, err := cached.SpotPlacementScores(ctx, region, types, capacity, false)
		if err != nil && (!cloud.IsStale(err) || len(scores) == 0) {
			return 0, err
		}
		best := int32(0)
		for _, s := range scores {
			best = max(best, s.Score)
		}
		return best, nil
	}, nil
}

// priceBook builds the cost controller's prices: the built-in catalogue, the
// --prices file over it, and with --live-prices the AWS Pricing and Spot price APIs.
func (o *controllerOptions) priceBook(ctx context.Context, s streams) (*costctl.Prices, error) {
	base := cost.DefaultCatalogue()
	if o.prices != "" {
		data, err := os.ReadFile(o.prices)
		if err != nil {
			return nil, usageError(s, "--prices: %v", err)
		}
		file, err := cost.ParseCatalogue(data)
		if err != nil {
			return nil, usageError(s, "--prices %s: %v", o.prices, err)
		}
		base.Merge(file)
	}
	p := &costctl.Prices{Base: base}
	if o.livePrices {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("failed to load the AWS configuration: %w", err)
		}
		p.Live = awscloud.NewPrices(cfg)
	}
	return p, nil
}
