package spotrank

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/ballast-dev/ballast/cloud"
)

// PlacementCapacity is the target capacity, in instances, Scores asks placement
// scores for: a modest Spot fleet of one family. It never changes, so that each
// family's question stays the same configuration for AWS's limits.
const PlacementCapacity int32 = 10

// MinPlacementFamily is the fewest types of one family Scores asks about: AWS always
// scores a request of fewer than three instance types low, whatever the capacity, so
// such an answer would say nothing about the family.
const MinPlacementFamily = 3

// Scores returns the Spot placement score of each of types in region: AWS scores a
// request for a set of types, so Scores asks once per instance family (the family's
// types among types, for PlacementCapacity instances, per zone) and gives every type of
// the family the mean of its zones' scores, rounded. A family with fewer than
// MinPlacementFamily types among types is not asked about and its types stay unknown
// (absent from the map), as do those of a family AWS returns no score for.
//
// src should be a cloud.CachedPlacementScores, which keeps the calls within AWS's
// limits: one family is one configuration, asked again at most once per TTL. The map
// holds every score there is, a stale one (cloud.IsStale) included; err joins what
// went wrong per family, or is the context's error when ctx ends first.
func Scores(ctx context.Context, src cloud.PlacementScoreSource, region string, types []string) (map[string]int32, error) {
	families := map[string][]string{}
	for _, t := range types {
		f := family(t)
		if f == t || f == "" || slices.Contains(families[f], t) {
			continue
		}
		families[f] = append(families[f], t)
	}
	names := make([]string, 0, len(families))
	for f, members := range families {
		if len(members) >= MinPlacementFamily {
			names = append(names, f)
		}
	}
	slices.Sort(names)
	out := map[string]int32{}
	var errs []error
	for _, f := range names {
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("failed to get Spot placement scores in %s: %w", region, err)
		}
		members := families[f]
		slices.Sort(members)
		zones, err := src.SpotPlacementScores(ctx, region, members, PlacementCapacity, true)
		if err != nil {
			errs = append(errs, fmt.Errorf("instance family %s: %w", f, err))
			if !cloud.IsStale(err) {
				continue
			}
		}
		score, ok := mean(zones)
		if !ok {
			continue
		}
		for _, t := range members {
			out[t] = score
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("failed to get some Spot placement scores in %s: %w", region, errors.Join(errs...))
	}
	return out, nil
}

// mean is the mean of the zones' scores, rounded; false when there is none in range.
func mean(zones []cloud.PlacementScore) (int32, bool) {
	sum, n := 0, 0
	for _, z := range zones {
		if z.Score >= 1 && z.Score <= 10 {
			sum += int(z.Score)
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return int32(math.Round(float64(sum) / float64(n))), true
}
