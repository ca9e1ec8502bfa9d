package aws

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ballast-dev/ballast/cloud"
)

// MaxPlacementInstanceTypes is the most instance types one GetSpotPlacementScores call
// takes. A score is for the whole list, so a longer list cannot be split over several
// calls: SpotPlacementScores refuses it.
const MaxPlacementInstanceTypes = 1000

// PlacementScoresAPI is the part of the EC2 API the placement score source calls.
type PlacementScoresAPI interface {
	GetSpotPlacementScores(ctx context.Context, in *ec2.GetSpotPlacementScoresInput, opts ...func(*ec2.Options)) (*ec2.GetSpotPlacementScoresOutput, error)
}

// PlacementScores implements cloud.PlacementScoreSource with EC2 GetSpotPlacementScores
// (IAM action ec2:GetSpotPlacementScores).
//
// The API is scarce; callers should ask through cloud.CachedPlacementScores, not
// directly:
//   - its request rate is throttled per account (RequestLimitExceeded), and the SDK's
//     retries only help with short bursts;
//   - EC2 may cap how many distinct request configurations (instance types, capacity,
//     regions, zone or region) an account asks about in 24 hours, answering
//     MaxConfigLimitExceeded for new ones until the day is over (configurations asked
//     about in the last 24 hours can still be asked again);
//   - the target capacity it scores is capped according to the account's recent Spot
//     usage;
//   - one call takes at most MaxPlacementInstanceTypes instance types.
//
// Each request is sent to the region it is about: scores are then available in every
// partition (in the China regions, EC2 only scores the region the call is made in).
type PlacementScores struct {
	ec2 func(region string) PlacementScoresAPI
}

var _ cloud.PlacementScoreSource = (*PlacementScores)(nil)

// NewPlacementScores builds a placement score source from an SDK configuration: one EC2
// client per region asked about, with the configuration's retryer, endpoint and
// credentials.
func NewPlacementScores(cfg awssdk.Config) *PlacementScores {
	return NewPlacementScoresFromClients(func(region string) PlacementScoresAPI {
		return getSpotPlacementScores(ec2Client(cfg, region).GetSpotPlacementScores)
	})
}

// NewPlacementScoresFromClients builds a placement score source that asks about a
// region with the client ec2For returns for it.
func NewPlacementScoresFromClients(ec2For func(region string) PlacementScoresAPI) *PlacementScores {
	return &PlacementScores{ec2: ec2For}
}

// SpotPlacementScores implements cloud.PlacementScoreSource: one paginated
// GetSpotPlacementScores request for capacity instances (unit type "units") of the
// distinct instance types, sorted (the same question is always the same
// configuration), scored for region alone, per zone (SingleAvailabilityZone) when
// perZone. Local Zones are left out. The scores are sorted by region and zone ID.
func (p *PlacementScores) SpotPlacementScores(ctx context.Context, region string, instanceTypes []string, capacity int32, perZone bool) ([]cloud.PlacementScore, error) {
	types := dedupe(instanceTypes)
	switch {
	case region == "":
		return nil, errors.New("failed to get Spot placement scores: no region")
	case len(types) == 0:
		return nil, fmt.Errorf("failed to get Spot placement scores in %s: no instance types", region)
	case len(types) > MaxPlacementInstanceTypes:
		return nil, fmt.Errorf("failed to get Spot placement scores in %s: %d instance types, at most %d fit in one request",
			region, len(types), MaxPlacementInstanceTypes)
	case capacity < 1:
		return nil, fmt.Errorf("failed to get Spot placement scores in %s: the capacity %d is not positive", region, capacity)
	}
	in := &ec2.GetSpotPlacementScoresInput{
		InstanceTypes:          types,
		TargetCapacity:         awssdk.Int32(capacity),
		TargetCapacityUnitType: ec2types.TargetCapacityUnitTypeUnits,
		RegionNames:            []string{region},
		SingleAvailabilityZone: awssdk.Bool(perZone),
	}
	var out []cloud.PlacementScore
	pages := ec2.NewGetSpotPlacementScoresPaginator(p.ec2(region), in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify("ec2:GetSpotPlacementScores", "Spot placement scores in "+region, err)
		}
		for _, s := range page.SpotPlacementScores {
			if s.Score == nil {
				continue
			}
			out = append(out, cloud.PlacementScore{
				Region: awssdk.ToString(s.Region),
				ZoneID: awssdk.ToString(s.AvailabilityZoneId),
				Score:  *s.Score,
			})
		}
	}
	slices.SortFunc(out, func(a, b cloud.PlacementScore) int {
		return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.ZoneID, b.ZoneID))
	})
	return out, nil
}
