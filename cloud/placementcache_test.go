package cloud_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/cloud"
	"github.com/ballast-dev/ballast/cloud/fake"
)

var t0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// clock is a clock the test sets.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type question struct {
	region   string
	types    []string
	capacity int32
	perZone  bool
}

func (q question) ask(ctx context.Context, s cloud.PlacementScoreSource) ([]cloud.PlacementScore, error) {
	return s.SpotPlacementScores(ctx, q.region, q.types, q.capacity, q.perZone)
}

var (
	q1        = question{"eu-west-1", []string{"m6i.large", "c6i.large", "r6i.large"}, 3, false}
	throttled = &cloud.ThrottledError{APIError: cloud.APIError{Op: "ec2:GetSpotPlacementScores", Code: "RequestLimitExceeded"}}
	errBoom   = errors.New("connection reset")
)

func isThrottled(err error) bool { return cloud.IsThrottled(err) }
func isErrBoom(err error) bool   { return errors.Is(err, errBoom) && !cloud.IsThrottled(err) }

func TestCachedPlacementScores(t *testing.T) {
	type step struct {
		at time.Duration // the clock, after t0
		// ask is the question; q1 when zero.
		ask question
		// score, when not zero, is what the source answers from this step on.
		score int32
		// fail is the source's next error.
		fail error
		// asked is whether the step reaches the source.
		asked bool
		// want is the score answered, zero for none.
		want int32
		// stale is whether the answer comes with a StaleError, fetched at t0+fetched.
		stale   bool
		fetched time.Duration
		// err checks the error (a StaleError's too); nil means none.
		err func(error) bool
	}
	m := time.Minute
	for _, tc := range []struct {
		name  string
		steps []step
	}{{
		name: "a fresh answer is reused within the TTL",
		steps: []step{
			{at: 0, score: 5, asked: true, want: 5},
			{at: 10*m - time.Second, score: 7, want: 5},
			{at: 10 * m, asked: true, want: 7},
		},
	}, {
		name: "the same question in other words is one question; other questions are asked",
		steps: []step{
			{at: 0, score: 5, asked: true, want: 5},
			{ask: question{"eu-west-1", []string{"r6i.large", "m6i.large", "c6i.large", "m6i.large"}, 3, false}, want: 5},
			{ask: question{"eu-west-1", []string{"m6i.large", "c6i.large", "r6i.large"}, 4, false}, asked: true, want: 5},
			{ask: question{"eu-west-1", []string{"m6i.large", "c6i.large", "r6i.large"}, 3, true}, asked: true, want: 5},
			{ask: question{"us-east-2", []string{"m6i.large", "c6i.large", "r6i.large"}, 3, false}, asked: true, want: 5},
			{ask: question{"eu-west-1", []string{"m6i.large", "c6i.large"}, 3, false}, asked: true, want: 5},
		},
	}, {
		name: "throttled: the last good answer, and no call while backing off, doubling up to the cap",
		steps: []step{
			{at: 0, score: 5, asked: true, want: 5},
			{at: 10 * m, fail: throttled, asked: true, want: 5, stale: true, err: isThrottled},
			// Backing off 1m.
			{at: 11*m - time.Second, want: 5, stale: true, err: isThrottled},
			{at: 11 * m, fail: throttled, asked: true, want: 5, stale: true, err: isThrottled},
			// 2m.
			{at: 13*m - time.Second, want: 5, stale: true, err: isThrottled},
			{at: 13 * m, fail: throttled, asked: true, want: 5, stale: true, err: isThrottled},
			// 4m, the cap.
			{at: 17 * m, fail: throttled, asked: true, want: 5, stale: true, err: isThrottled},
			{at: 21*m - time.Second, want: 5, stale: true, err: isThrottled},
			// An answer ends the backoff; the next throttle starts again at 1m.
			{at: 21 * m, score: 8, asked: true, want: 8},
			{at: 31 * m, fail: throttled, asked: true, want: 8, stale: true, fetched: 21 * m, err: isThrottled},
			{at: 32 * m, score: 9, asked: true, want: 9},
		},
	}, {
		name: "throttled without an answer: the error, for every question, while backing off",
		steps: []step{
			{at: 0, fail: throttled, asked: true, err: isThrottled},
			{at: 30 * time.Second, ask: question{"us-east-2", []string{"c6i.large"}, 1, true}, err: isThrottled},
			{at: m, score: 6, asked: true, want: 6},
		},
	}, {
		name: "another error: the last good answer, and no backoff",
		steps: []step{
			{at: 0, score: 5, asked: true, want: 5},
			{at: 10 * m, fail: errBoom, asked: true, want: 5, stale: true, err: isErrBoom},
			{at: 10*m + time.Second, score: 6, asked: true, want: 6},
		},
	}, {
		name: "another error without an answer: the error",
		steps: []step{
			{at: 0, fail: errBoom, asked: true, err: isErrBoom},
			{at: time.Second, score: 3, asked: true, want: 3},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			src := &fake.PlacementScores{}
			clk := &clock{t: t0}
			c := &cloud.CachedPlacementScores{Source: src, TTL: 10 * m, Backoff: m, MaxBackoff: 4 * m, Now: clk.Now}
			for i, s := range tc.steps {
				if s.ask.region == "" {
					s.ask = q1
				}
				clk.set(t0.Add(s.at))
				if s.score != 0 {
					for _, region := range []string{"eu-west-1", "us-east-2"} {
						src.SetScores(region, cloud.PlacementScore{Score: s.score}, cloud.PlacementScore{ZoneID: "zone-1", Score: s.score})
					}
				}
				if s.fail != nil {
					src.SetNextError(s.fail)
				}
				before := len(src.Calls())
				got, err := s.ask.ask(context.Background(), c)
				if asked := len(src.Calls()) > before; asked != s.asked {
					t.Errorf("step %d: asked the source %v, want %v", i, asked, s.asked)
				}
				if s.fail != nil && !s.asked {
					src.SetNextError(nil)
				}
				var score int32
				if len(got) == 1 {
					score = got[0].Score
				}
				if score != s.want || len(got) > 1 || s.want == 0 && got != nil {
					t.Errorf("step %d: scores %+v, want %d", i, got, s.want)
				}
				if cloud.IsStale(err) != s.stale {
					t.Errorf("step %d: err %v, stale %v", i, err, s.stale)
				}
				var stale *cloud.StaleError
				if errors.As(err, &stale) && !stale.FetchedAt.Equal(t0.Add(s.fetched)) {
					t.Errorf("step %d: fetched at %s, want %s", i, stale.FetchedAt, t0.Add(s.fetched))
				}
				if (err != nil) != (s.err != nil) || s.err != nil && !s.err(err) {
					t.Errorf("step %d: err = %v", i, err)
				}
			}
		})
	}
}

func TestCachedPlacementScoresAsksInNormalForm(t *testing.T) {
	src := &fake.PlacementScores{}
	src.SetScores("eu-west-1", cloud.PlacementScore{Score: 5})
	c := &cloud.CachedPlacementScores{Source: src, Now: (&clock{t: t0}).Now}
	asked := []string{"r6i.large", "m6i.large", "c6i.large", "m6i.large"}
	got, err := c.SpotPlacementScores(context.Background(), "eu-west-1", asked, 3, false)
	if err != nil || len(got) != 1 {
		t.Fatalf("scores = %+v, %v", got, err)
	}
	want := fake.PlacementCall{Region: "eu-west-1", InstanceTypes: []string{"c6i.large", "m6i.large", "r6i.large"}, Capacity: 3}
	if calls := src.Calls(); len(calls) != 1 || !reflect.DeepEqual(calls[0], want) {
		t.Errorf("calls = %+v, want %+v", calls, want)
	}
	if asked[0] != "r6i.large" {
		t.Errorf("the caller's slice changed: %v", asked)
	}
	// The answer is the caller's own: changing it does not change the cache.
	got[0].Score = 1
	if again, _ := c.SpotPlacementScores(context.Background(), "eu-west-1", asked, 3, false); again[0].Score != 5 {
		t.Errorf("cached answer changed to %+v", again)
	}
}

// gate holds every call to its source until released, and says when one starts.
type gate struct {
	cloud.PlacementScoreSource
	started chan struct{}
	release chan struct{}
}

func newGate(src cloud.PlacementScoreSource) *gate {
	return &gate{PlacementScoreSource: src, started: make(chan struct{}, 100), release: make(chan struct{})}
}

func (g *gate) SpotPlacementScores(ctx context.Context, region string, instanceTypes []string, capacity int32, perZone bool) ([]cloud.PlacementScore, error) {
	g.started <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.PlacementScoreSource.SpotPlacementScores(ctx, region, instanceTypes, capacity, perZone)
}

func TestCachedPlacementScoresSharesCalls(t *testing.T) {
	src := &fake.PlacementScores{}
	src.SetScores("eu-west-1", cloud.PlacementScore{Score: 5}, cloud.PlacementScore{ZoneID: "euw1-az1", Score: 7})
	g := newGate(src)
	c := &cloud.CachedPlacementScores{Source: g, Now: (&clock{t: t0}).Now}
	perZone := q1
	perZone.perZone = true
	want := map[bool]int32{false: 5, true: 7}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		q := []question{q1, perZone}[i%2]
		wg.Go(func() {
			got, err := q.ask(context.Background(), c)
			if err == nil && (len(got) != 1 || got[0].Score != want[q.perZone]) {
				err = errors.New("wrong answer")
			}
			errs <- err
		})
	}
	// Two questions: two calls, whoever else asks waits for them or finds their answer.
	<-g.started
	<-g.started
	close(g.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(g.started); n != 0 || len(src.Calls()) != 2 {
		t.Errorf("%d more calls started, %d calls answered; want 2 calls in all", n, len(src.Calls()))
	}
}

func TestCachedPlacementScoresCallerGivesUp(t *testing.T) {
	src := &fake.PlacementScores{}
	src.SetScores("eu-west-1", cloud.PlacementScore{Score: 4})
	g := newGate(src)
	c := &cloud.CachedPlacementScores{Source: g, Now: (&clock{t: t0}).Now}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := q1.ask(ctx, c)
		first <- err
	}()
	<-g.started
	type result struct {
		scores []cloud.PlacementScore
		err    error
	}
	second := make(chan result, 1)
	go func() {
		scores, err := q1.ask(context.Background(), c)
		second <- result{scores, err}
	}()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("the caller that gave up got %v", err)
	}
	// The other caller, waiting for the abandoned call or arriving after it, asks again.
	close(g.release)
	r := <-second
	if r.err != nil || len(r.scores) != 1 || r.scores[0].Score != 4 {
		t.Errorf("the other caller got %+v, %v", r.scores, r.err)
	}
	if len(g.started) != 1 {
		t.Errorf("%d calls after the abandoned one, want 1", len(g.started))
	}
}

// sourceFunc is a PlacementScoreSource made of a function.
type sourceFunc func(ctx context.Context, region string, instanceTypes []string, capacity int32, perZone bool) ([]cloud.PlacementScore, error)

func (f sourceFunc) SpotPlacementScores(ctx context.Context, region string, instanceTypes []string, capacity int32, perZone bool) ([]cloud.PlacementScore, error) {
	return f(ctx, region, instanceTypes, capacity, perZone)
}

func TestCachedPlacementScoresOneThrottleAtATime(t *testing.T) {
	g := newGate(sourceFunc(func(context.Context, string, []string, int32, bool) ([]cloud.PlacementScore, error) {
		return nil, throttled
	}))
	clk := &clock{t: t0}
	c := &cloud.CachedPlacementScores{Source: g, Backoff: time.Minute, Now: clk.Now}
	other := q1
	other.capacity = 10
	var wg sync.WaitGroup
	for _, q := range []question{q1, other} {
		wg.Go(func() {
			if _, err := q.ask(context.Background(), c); !cloud.IsThrottled(err) {
				t.Errorf("err = %v, want throttled", err)
			}
		})
	}
	// Both calls were under way when AWS throttled them: one backoff of a minute, not
	// one that doubled because the second call came back throttled too.
	<-g.started
	<-g.started
	close(g.release)
	wg.Wait()
	clk.set(t0.Add(time.Minute))
	if _, err := q1.ask(context.Background(), c); !cloud.IsThrottled(err) || len(g.started) != 1 {
		t.Errorf("after a minute: err %v, %d calls; want one more call", err, len(g.started))
	}
}
