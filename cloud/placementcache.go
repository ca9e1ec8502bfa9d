package cloud

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults of CachedPlacementScores.
const (
	// DefaultPlacementScoreTTL is how long a placement score is reused. Scores follow
	// Spot capacity, which moves over minutes to hours; asking more often would spend
	// the account's throttled calls for little.
	DefaultPlacementScoreTTL = 10 * time.Minute
	// DefaultPlacementBackoff is how long no call is made after a throttled one.
	DefaultPlacementBackoff = time.Minute
	// DefaultPlacementMaxBackoff caps the backoff, which doubles with each throttled
	// call in a row.
	DefaultPlacementMaxBackoff = time.Hour
)

// CachedPlacementScores is a PlacementScoreSource that keeps the calls to its Source
// within AWS's limits on Spot placement scores (a throttled request rate per account,
// and a cap on new request configurations per 24 hours), so that every controller can
// ask as often as it reconciles:
//
//   - the same question (region, set of instance types, capacity, per zone or not) is
//     answered from the last answer for TTL, and is always asked in the same words
//     (the distinct instance types, sorted), so that it stays one configuration;
//   - concurrent callers asking the same question share one call;
//   - after a throttled call, no call at all is made for a backoff period (the limits
//     are the account's, not the question's), doubling with each throttled call in a
//     row up to MaxBackoff, and reset by an answer;
//   - when a call fails, or is not made because of the backoff, the last good answer to
//     the question is returned with a StaleError (IsStale) that says how old it is and
//     wraps the reason, e.g. a ThrottledError; without one, the error alone.
//
// Answers are kept until the CachedPlacementScores is dropped: there are as few
// questions as AWS lets an account ask. Set the exported fields before the first call;
// it is safe for concurrent use and must not be copied afterwards.
type CachedPlacementScores struct {
	// Source is asked what the cache cannot answer, e.g. cloud/aws.PlacementScores.
	Source PlacementScoreSource
	// TTL is how long an answer is reused; zero means DefaultPlacementScoreTTL.
	TTL time.Duration
	// Backoff is how long no call is made after a throttled one; zero means
	// DefaultPlacementBackoff.
	Backoff time.Duration
	// MaxBackoff caps the doubling backoff; zero means DefaultPlacementMaxBackoff.
	MaxBackoff time.Duration
	// Now is the clock (tests step it); nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	entries map[placementQuestion]*placementEntry
	// backoff is the current backoff, zero when the last call was not throttled; no
	// call is made before until; throttle is the error that set them; episode counts
	// the backoffs started, so that calls made before one do not double it.
	backoff  time.Duration
	until    time.Time
	throttle error
	episode  int
}

var _ PlacementScoreSource = (*CachedPlacementScores)(nil)

// placementQuestion is a question in its normal form: the sorted distinct instance
// types, joined by commas.
type placementQuestion struct {
	region   string
	types    string
	capacity int32
	perZone  bool
}

// placementEntry is what the cache knows about one question.
type placementEntry struct {
	scores    []PlacementScore
	fetchedAt time.Time
	ok        bool // scores and fetchedAt are a good answer
	call      *placementCall
}

// placementCall is a call to the Source under way; its answer is shared with the
// callers that asked the same question meanwhile, once done is closed.
type placementCall struct {
	done      chan struct{}
	scores    []PlacementScore
	err       error
	cancelled bool // the caller that made the call gave up: the others ask again
}

// SpotPlacementScores implements PlacementScoreSource; see CachedPlacementScores for
// when it asks the Source, and for the StaleError that may come with an answer.
func (c *CachedPlacementScores) SpotPlacementScores(ctx context.Context, region string, instanceTypes []string, capacity int32, perZone bool) ([]PlacementScore, error) {
	types := slices.Clone(instanceTypes)
	slices.Sort(types)
	types = slices.Compact(types)
	q := placementQuestion{region: region, types: strings.Join(types, ","), capacity: capacity, perZone: perZone}
	for {
		c.mu.Lock()
		e := c.entry(q)
		now := c.now()
		if e.ok && now.Sub(e.fetchedAt) < c.ttl() {
			scores := slices.Clone(e.scores)
			c.mu.Unlock()
			return scores, nil
		}
		if call := e.call; call != nil {
			c.mu.Unlock()
			select {
			case <-call.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("failed to get Spot placement scores in %s: %w", region, ctx.Err())
			}
			if call.cancelled {
				continue
			}
			return slices.Clone(call.scores), call.err
		}
		if now.Before(c.until) {
			err := fmt.Errorf("not asking for Spot placement scores before %s, after throttling: %w",
				c.until.UTC().Format(time.RFC3339), c.throttle)
			scores, err := e.answer(err)
			c.mu.Unlock()
			return scores, err
		}
		call := &placementCall{done: make(chan struct{})}
		e.call = call
		episode := c.episode
		c.mu.Unlock()

		scores, err := c.Source.SpotPlacementScores(ctx, region, slices.Clone(types), capacity, perZone)

		c.mu.Lock()
		e.call = nil
		switch {
		case err == nil:
			e.scores, e.fetchedAt, e.ok = slices.Clone(scores), now, true
			c.backoff, c.until, c.throttle = 0, time.Time{}, nil
		case IsThrottled(err) && episode == c.episode:
			c.episode++
			c.backoff = min(max(2*c.backoff, c.initialBackoff()), c.maxBackoff())
			c.until = c.now().Add(c.backoff)
			c.throttle = err
		}
		call.scores, call.err = e.answer(err)
		call.cancelled = err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err())
		close(call.done)
		c.mu.Unlock()
		return slices.Clone(call.scores), call.err
	}
}

// answer is what a caller gets when the last call to the Source ended with err (nil
// for an answer): the answer alone, the last good one with a StaleError, or err alone.
func (e *placementEntry) answer(err error) ([]PlacementScore, error) {
	switch {
	case err == nil:
		return slices.Clone(e.scores), nil
	case e.ok:
		return slices.Clone(e.scores), &StaleError{FetchedAt: e.fetchedAt, Err: err}
	}
	return nil, err
}

func (c *CachedPlacementScores) entry(q placementQuestion) *placementEntry {
	if c.entries == nil {
		c.entries = map[placementQuestion]*placementEntry{}
	}
	e := c.entries[q]
	if e == nil {
		e = &placementEntry{}
		c.entries[q] = e
	}
	return e
}

func (c *CachedPlacementScores) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *CachedPlacementScores) ttl() time.Duration {
	return orDefault(c.TTL, DefaultPlacementScoreTTL)
}

func (c *CachedPlacementScores) initialBackoff() time.Duration {
	return orDefault(c.Backoff, DefaultPlacementBackoff)
}

func (c *CachedPlacementScores) maxBackoff() time.Duration {
	return orDefault(c.MaxBackoff, DefaultPlacementMaxBackoff)
}

// orDefault returns d, or def when d is not positive.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
