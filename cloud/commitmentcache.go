package cloud

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Defaults of CachedCommitments.
const (
	// DefaultCommitmentInterval is how long a list of commitments is reused.
	// Commitments change when someone buys one or a term ends, over days; an hour
	// keeps a new purchase from waiting long.
	DefaultCommitmentInterval = time.Hour
	// DefaultCommitmentRetry is how long no call is made after a failed one; it doubles
	// with each failure in a row, up to the interval.
	DefaultCommitmentRetry = time.Minute
)

// CachedCommitments is a CommitmentSource that asks its Source at most once per
// Interval for each region and kind (Reserved Instances, Savings Plans), so that every
// reconcile can ask:
//
//   - an answer is reused for Interval;
//   - concurrent callers asking the same question share one call;
//   - after a failed call (throttled, access denied, an outage), no call is made for a
//     retry period that doubles with each failure in a row, from Retry up to
//     Interval, and an answer resets it: a missing IAM permission or a throttled
//     account is not asked again on every reconcile;
//   - when a call fails, or is not made because of the retry period, the last good
//     answer is returned with a StaleError (IsStale) that says how old it is and wraps
//     the reason (e.g. an AccessDeniedError), so that the caller can report a
//     condition while the last good answer stays in force; without one, the error
//     alone.
//
// A stale answer may list commitments whose term has ended since; the caller drops
// them by their End (CostCommitments does). Set the exported fields before the first
// call; it is safe for concurrent use and must not be copied afterwards.
type CachedCommitments struct {
	// Source is asked what the cache cannot answer, e.g. cloud/aws.Commitments.
	Source CommitmentSource
	// Interval is how long an answer is reused; zero means DefaultCommitmentInterval.
	Interval time.Duration
	// Retry is how long no call is made after a failed one; zero means
	// DefaultCommitmentRetry.
	Retry time.Duration
	// Now is the clock (tests step it); nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	reserved map[string]*commitmentEntry[ReservedInstance]
	plans    map[string]*commitmentEntry[SavingsPlan]
}

var _ CommitmentSource = (*CachedCommitments)(nil)

// commitmentEntry is what the cache knows about one question (a kind and a region).
type commitmentEntry[T any] struct {
	items     []T
	fetchedAt time.Time
	ok        bool // items and fetchedAt are a good answer
	call      *commitmentCall[T]
	// failures counts the failed calls in a row; no call is made before retryAt, and
	// lastErr is why.
	failures int
	retryAt  time.Time
	lastErr  error
}

// commitmentCall is a call to the Source under way; its answer is shared with the
// callers that asked meanwhile, once done is closed.
type commitmentCall[T any] struct {
	done      chan struct{}
	items     []T
	err       error
	cancelled bool // the caller that made the call gave up: the others ask again
}

// ReservedInstances implements CommitmentSource; see CachedCommitments for when it asks
// the Source, and for the StaleError that may come with an answer.
func (c *CachedCommitments) ReservedInstances(ctx context.Context, region string) ([]ReservedInstance, error) {
	c.mu.Lock()
	if c.reserved == nil {
		c.reserved = map[string]*commitmentEntry[ReservedInstance]{}
	}
	e := entryOf(c.reserved, region)
	c.mu.Unlock()
	return ask(ctx, c, e, "Reserved Instances in "+region, func(ctx context.Context) ([]ReservedInstance, error) {
		return c.Source.ReservedInstances(ctx, region)
	})
}

// SavingsPlans implements CommitmentSource; see CachedCommitments for when it asks the
// Source, and for the StaleError that may come with an answer.
func (c *CachedCommitments) SavingsPlans(ctx context.Context, region string) ([]SavingsPlan, error) {
	c.mu.Lock()
	if c.plans == nil {
		c.plans = map[string]*commitmentEntry[SavingsPlan]{}
	}
	e := entryOf(c.plans, region)
	c.mu.Unlock()
	return ask(ctx, c, e, "Savings Plans", func(ctx context.Context) ([]SavingsPlan, error) {
		return c.Source.SavingsPlans(ctx, region)
	})
}

func entryOf[T any](m map[string]*commitmentEntry[T], region string) *commitmentEntry[T] {
	e := m[region]
	if e == nil {
		e = &commitmentEntry[T]{}
		m[region] = e
	}
	return e
}

// ask answers one question from e, or from fetch when e cannot; c.mu guards e.
func ask[T any](ctx context.Context, c *CachedCommitments, e *commitmentEntry[T], what string,
	fetch func(context.Context) ([]T, error)) ([]T, error) {
	for {
		c.mu.Lock()
		now := c.now()
		if e.ok && now.Sub(e.fetchedAt) < c.interval() {
			items := slices.Clone(e.items)
			c.mu.Unlock()
			return items, nil
		}
		if call := e.call; call != nil {
			c.mu.Unlock()
			select {
			case <-call.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("failed to get %s: %w", what, ctx.Err())
			}
			if call.cancelled {
				continue
			}
			return slices.Clone(call.items), call.err
		}
		if now.Before(e.retryAt) {
			err := fmt.Errorf("not asking for %s again before %s, after %d failed calls: %w",
				what, e.retryAt.UTC().Format(time.RFC3339), e.failures, e.lastErr)
			items, err := e.answer(err)
			c.mu.Unlock()
			return items, err
		}
		call := &commitmentCall[T]{done: make(chan struct{})}
		e.call = call
		c.mu.Unlock()

		items, err := fetch(ctx)

		c.mu.Lock()
		e.call = nil
		call.cancelled = err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err())
		switch {
		case err == nil:
			e.items, e.fetchedAt, e.ok = slices.Clone(items), now, true
			e.failures, e.retryAt, e.lastErr = 0, time.Time{}, nil
		case !call.cancelled:
			e.failures++
			e.retryAt = c.now().Add(c.retryAfter(e.failures))
			e.lastErr = err
		}
		call.items, call.err = e.answer(err)
		close(call.done)
		c.mu.Unlock()
		return slices.Clone(call.items), call.err
	}
}

// answer is what a caller gets when the last call to the Source ended with err (nil
// for an answer): the answer alone, the last good one with a StaleError, or err alone.
func (e *commitmentEntry[T]) answer(err error) ([]T, error) {
	switch {
	case err == nil:
		return slices.Clone(e.items), nil
	case e.ok:
		return slices.Clone(e.items), &StaleError{FetchedAt: e.fetchedAt, Err: err}
	}
	return nil, err
}

func (c *CachedCommitments) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *CachedCommitments) interval() time.Duration {
	return orDefault(c.Interval, DefaultCommitmentInterval)
}

// retryAfter is the retry period after failures failed calls in a row.
func (c *CachedCommitments) retryAfter(failures int) time.Duration {
	d := orDefault(c.Retry, DefaultCommitmentRetry)
	for i := 1; i < failures && d < c.interval(); i++ {
		d *= 2
	}
	return min(d, c.interval())
}
