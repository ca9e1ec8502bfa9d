package fake

import (
	"context"
	"slices"
	"sync"

	"github.com/ballast-dev/ballast/cloud"
)

// Call is one recorded call.
type Call struct {
	// Method is OnDemandPrices or SpotPrices.
	Method        string
	Region        string
	InstanceTypes []string
}

// Prices is a recording cloud.PriceSource. Set OnDemand and Spot (region -> instance
// type -> USD per hour) before use; it is safe for concurrent use.
type Prices struct {
	mu       sync.Mutex
	OnDemand map[string]map[string]float64
	Spot     map[string]map[string]float64
	calls    []Call
	nextErr  error
}

var _ cloud.PriceSource = (*Prices)(nil)

// OnDemandPrices implements cloud.PriceSource.
func (f *Prices) OnDemandPrices(_ context.Context, region string, instanceTypes []string) (map[string]float64, error) {
	return f.answer("OnDemandPrices", region, instanceTypes, f.OnDemand)
}

// SpotPrices implements cloud.PriceSource.
func (f *Prices) SpotPrices(_ context.Context, region string, instanceTypes []string) (map[string]float64, error) {
	return f.answer("SpotPrices", region, instanceTypes, f.Spot)
}

func (f *Prices) answer(method, region string, types []string, table map[string]map[string]float64) (map[string]float64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, Call{Method: method, Region: region, InstanceTypes: slices.Clone(types)})
	if err := f.nextErr; err != nil {
		f.nextErr = nil
		return nil, err
	}
	out := map[string]float64{}
	for _, t := range types {
		if p, ok := table[region][t]; ok {
			out[t] = p
		}
	}
	return out, nil
}

// SetNextError makes the next call, and only it, fail with err.
func (f *Prices) SetNextError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextErr = err
}

// Calls returns the calls so far, oldest first.
func (f *Prices) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Reset forgets the calls and any injected error; the price tables stay.
func (f *Prices) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.nextErr = nil, nil
}
