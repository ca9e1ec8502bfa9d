package cloud

import "context"

// PlacementScoreSource tells how likely Spot capacity is to be available, so that the
// fallback controller can move Spot replicas to On-Demand before Spot launches start to
// fail, and back to Spot once capacity returns; and so that the interruption controller
// can prefer the zones where replacements are likely to launch.
type PlacementScoreSource interface {
	// SpotPlacementScores returns the Spot placement scores of launching capacity
	// instances of any of instanceTypes in region: one per availability zone (by zone
	// ID) when perZone, else one for the whole region. A score is only a
	// recommendation, and is always low when fewer than three instance types are given.
	SpotPlacementScores(ctx context.Context, region string, instanceTypes []string, capacity int32, perZone bool) ([]PlacementScore, error)
}

// PlacementScore is the Spot placement score of a region or of one of its availability
// zones for one request (instance types and capacity).
type PlacementScore struct {
	// Region is the region code, e.g. eu-west-1.
	Region string
	// ZoneID is the availability zone ID (e.g. euw1-az1), empty for a regional score.
	// It is the ID, not the name, because zone names map to different physical zones
	// in different accounts; Karpenter labels nodes with it (topology.k8s.aws/zone-id).
	ZoneID string
	// Score is from 1 (a Spot request is unlikely to succeed) to 10 (highly likely).
	Score int32
}
