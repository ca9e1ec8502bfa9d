package app

import (
	"context"
	"fmt"
	"os"
	"time"

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
// The cached source is returned too, for the interruption controller's ranking: one
// cache keeps every controller's calls within AWS's limits.
func newSpotScores(ctx context.Context) (cloud.PlacementScoreSource, func(context.Context, string, []string, int32) (int32, error), error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to load the AWS configuration: %w", err)
	}
	cached := &cloud.CachedPlacementScores{Source: awscloud.NewPlacementScores(cfg)}
	return cached, func(ctx context.Context, region string, types []string, capacity int32) (int32, error) {
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

// newCommitmentDiscovery reads the account's Reserved Instances and Savings Plans
// (EC2 DescribeReservedInstances, Savings Plans DescribeSavingsPlans) through the AWS
// configuration of the environment, cached for an hour. A failed or throttled call is
// an error (the commitments controller keeps the committed pool and its status as they
// were, and says so in CommitmentsReady; the cost controller counts no commitment).
func newCommitmentDiscovery(ctx context.Context) (func(context.Context, string) (cost.Commitments, error), error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to load the AWS configuration: %w", err)
	}
	cached := &cloud.CachedCommitments{Source: awscloud.NewCommitments(cfg)}
	return func(ctx context.Context, region string) (cost.Commitments, error) {
		ris, err := cached.ReservedInstances(ctx, region)
		if err != nil {
			return cost.Commitments{}, fmt.Errorf("failed to read the Reserved Instances in %s: %w", region, err)
		}
		plans, err := cached.SavingsPlans(ctx, region)
		if err != nil {
			return cost.Commitments{}, fmt.Errorf("failed to read the Savings Plans: %w", err)
		}
		c, _ := cloud.CostCommitments(region, time.Now(), ris, plans, 1)
		return c, nil
	}, nil
}

// newInterruptionQueue reads Ballast's own interruption queue (its URL or name) with the
// credentials and region of the environment.
func newInterruptionQueue(ctx context.Context, queue string) (cloud.InterruptionQueue, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to load the AWS configuration: %w", err)
	}
	q, err := awscloud.NewInterruptionQueue(cfg, queue)
	if err != nil {
		return nil, fmt.Errorf("--interruption-queue: %w", err)
	}
	return q, nil
}
