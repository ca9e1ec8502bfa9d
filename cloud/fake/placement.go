package fake

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/ballast-dev/ballast/cloud"
)

// PlacementCall is one recorded SpotPlacementScores call.
type PlacementCall struct {
	Region        string
	InstanceTypes []string
	Capacity      int32
	PerZone       bool
}

// PlacementScores is a recording cloud.PlacementScoreSource. It answers a question
// about a set of instance types with the scores SetScoresFor set for that set, else
// with the scores SetScores set for the region, whatever the capacity: the zone scores
// for a per-zone call, the regional one otherwise. It is safe for concurrent use, and
// its scores may change while a controller runs (Spot capacity going and coming back).
type PlacementScores struct {
	mu     sync.Mutex
	scores map[string][]cloud.PlacementScore
	// forTypes are the scores of SetScoresFor, by region and set of types (typeSet).
	forTypes map[string][]cloud.PlacementScore
	calls    []PlacementCall
	nextErr  error
}

var _ cloud.PlacementScoreSource = (*PlacementScores)(nil)

// SetScores replaces the scores of region: those with a ZoneID answer per-zone calls,
// those without answer regional calls. Their Region is set to region.
func (f *PlacementScores) SetScores(region string, scores ...cloud.PlacementScore) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.scores == nil {
		f.scores = map[string][]cloud.PlacementScore{}
	}
	own := make([]cloud.PlacementScore, len(scores))
	for i, s := range scores {
		s.Region = region
		own[i] = s
	}
	f.scores[region] = own
}

// SetScoresFor replaces the scores of questions about exactly the set instanceTypes
// (in any order, duplicates ignored) in region, as AWS scores each set of types on its
// own; questions about other sets get the region's scores (SetScores). Without scores,
// the set's questions get the region's scores again.
func (f *PlacementScores) SetScoresFor(region string, instanceTypes []string, scores ...cloud.PlacementScore) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.forTypes == nil {
		f.forTypes = map[string][]cloud.PlacementScore{}
	}
	key := typeSet(region, instanceTypes)
	if len(scores) == 0 {
		delete(f.forTypes, key)
		return
	}
	own := make([]cloud.PlacementScore, len(scores))
	for i, s := range scores {
		s.Region = region
		own[i] = s
	}
	f.forTypes[key] = own
}

// typeSet is the key of a region and a set of instance types.
func typeSet(region string, instanceTypes []string) string {
	types := slices.Clone(instanceTypes)
	slices.Sort(types)
	return region + "/" + strings.Join(slices.Compact(types), ",")
}

// SpotPlacementScores implements cloud.PlacementScoreSource.
func (f *PlacementScores) SpotPlacementScores(_ context.Context, region string, instanceTypes []string, capacity int32, perZone bool) ([]cloud.PlacementScore, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, PlacementCall{Region: region, InstanceTypes: slices.Clone(instanceTypes), Capacity: capacity, PerZone: perZone})
	if err := f.nextErr; err != nil {
		f.nextErr = nil
		return nil, err
	}
	scores, ok := f.forTypes[typeSet(region, instanceTypes)]
	if !ok {
		scores = f.scores[region]
	}
	var out []cloud.PlacementScore
	for _, s := range scores {
		if (s.ZoneID != "") == perZone {
			out = append(out, s)
		}
	}
	return out, nil
}

// SetNextError makes the next call, and only it, fail with err.
func (f *PlacementScores) SetNextError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextErr = err
}

// Calls returns the calls so far, oldest first.
func (f *PlacementScores) Calls() []PlacementCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.calls)
	for i := range out {
		out[i].InstanceTypes = slices.Clone(out[i].InstanceTypes)
	}
	return out
}

// Reset forgets the calls and any injected error; the scores stay.
func (f *PlacementScores) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.nextErr = nil, nil
}
