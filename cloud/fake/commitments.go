package fake

import (
	"context"
	"slices"
	"sync"

	"github.com/ballast-dev/ballast/cloud"
)

// CommitmentCall is one recorded call.
type CommitmentCall struct {
	// Method is ReservedInstances or SavingsPlans.
	Method string
	Region string
}

// Commitments is a recording cloud.CommitmentSource. It answers ReservedInstances with
// the reservations set for the region by SetReservedInstances, and SavingsPlans with
// every plan set by SetSavingsPlans whatever the region (Savings Plans are global, as
// from AWS). It is safe for concurrent use, and its answers may change while a
// controller runs (a purchase, a term ending).
type Commitments struct {
	mu       sync.Mutex
	reserved map[string][]cloud.ReservedInstance
	plans    []cloud.SavingsPlan
	calls    []CommitmentCall
	nextErr  error
}

var _ cloud.CommitmentSource = (*Commitments)(nil)

// SetReservedInstances replaces the reservations of region; their Region is set to it.
func (f *Commitments) SetReservedInstances(region string, ris ...cloud.ReservedInstance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reserved == nil {
		f.reserved = map[string][]cloud.ReservedInstance{}
	}
	own := make([]cloud.ReservedInstance, len(ris))
	for i, ri := range ris {
		ri.Region = region
		own[i] = ri
	}
	f.reserved[region] = own
}

// SetSavingsPlans replaces the account's Savings Plans.
func (f *Commitments) SetSavingsPlans(plans ...cloud.SavingsPlan) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plans = slices.Clone(plans)
}

// ReservedInstances implements cloud.CommitmentSource.
func (f *Commitments) ReservedInstances(_ context.Context, region string) ([]cloud.ReservedInstance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("ReservedInstances", region); err != nil {
		return nil, err
	}
	return slices.Clone(f.reserved[region]), nil
}

// SavingsPlans implements cloud.CommitmentSource.
func (f *Commitments) SavingsPlans(_ context.Context, region string) ([]cloud.SavingsPlan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("SavingsPlans", region); err != nil {
		return nil, err
	}
	return slices.Clone(f.plans), nil
}

// record records a call and returns the injected error, if any, once.
func (f *Commitments) record(method, region string) error {
	f.calls = append(f.calls, CommitmentCall{Method: method, Region: region})
	err := f.nextErr
	f.nextErr = nil
	return err
}

// SetNextError makes the next call, and only it, fail with err.
func (f *Commitments) SetNextError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextErr = err
}

// Calls returns the calls so far, oldest first.
func (f *Commitments) Calls() []CommitmentCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Reset forgets the calls and any injected error; the commitments stay.
func (f *Commitments) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.nextErr = nil, nil
}
