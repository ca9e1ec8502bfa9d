package app

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/ballast-dev/ballast/cloud"
	awscloud "github.com/ballast-dev/ballast/cloud/aws"
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
