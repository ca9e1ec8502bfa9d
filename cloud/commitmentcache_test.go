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

var denied = &cloud.AccessDeniedError{APIError: cloud.APIError{Op: "ec2:DescribeReservedInstances", Code: "UnauthorizedOperation"}}

func TestCachedCommitments(t *testing.T) {
	type step struct {
		at time.Duration // the clock, after t0
		// count, when not zero, is the reservation count the source answers from now on.
		count int32
		// fail is the source's next error.
		fail error
		// asked is whether the step reaches the source.
		asked bool
		// want is the count answered, zero for no answer.
		want int32
		// stale is whether the answer comes with a StaleError, fetched at t0+fetched.
		stale   bool
		fetched time.Duration
		// err checks the error (a StaleError's too); nil means none.
		err func(error) bool
	}
	m := time.Minute
	isDenied := func(err error) bool { return cloud.IsAccessDenied(err) }
	for _, tc := range []struct {
		name  string
		steps []step
	}{{
		name: "an answer is reused for the interval, then asked again",
		steps: []step{
			{count: 2, asked: true, want: 2},
			{at: 59 * m, count: 3, want: 2},
			{at: 60 * m, asked: true, want: 3},
		},
	}, {
		name: "access denied: the last good answer stays in force, with a StaleError",
		steps: []step{
			{count: 2, asked: true, want: 2},
			{at: 60 * m, fail: denied, asked: true, want: 2, stale: true, err: isDenied},
			// Not asked again before the retry period (1m) is over.
			{at: 60*m + 30*time.Second, want: 2, stale: true, err: isDenied},
			// Failing again doubles it: 2m.
			{at: 61 * m, fail: errBoom, asked: true, want: 2, stale: true, err: isErrBoom},
			{at: 62*m + 59*time.Second, want: 2, stale: true, err: isErrBoom},
			// An answer resets it.
			{at: 63 * m, count: 4, asked: true, want: 4},
			{at: 123 * m, fail: throttled, asked: true, want: 4, stale: true, fetched: 63 * m, err: isThrottled},
			{at: 124 * m, asked: true, want: 4},
		},
	}, {
		name: "without a good answer, the error alone",
		steps: []step{
			{fail: throttled, asked: true, err: isThrottled},
			{at: 30 * time.Second, err: isThrottled},
			{at: m, count: 1, asked: true, want: 1},
		},
	}, {
		name: "the retry period is capped by the interval",
		steps: []step{
			{fail: errBoom, asked: true, err: isErrBoom},             // 1m
			{at: 1 * m, fail: errBoom, asked: true, err: isErrBoom},  // 2m
			{at: 3 * m, fail: errBoom, asked: true, err: isErrBoom},  // 4m
			{at: 7 * m, fail: errBoom, asked: true, err: isErrBoom},  // 8m
			{at: 15 * m, fail: errBoom, asked: true, err: isErrBoom}, // 16m
			{at: 31 * m, fail: errBoom, asked: true, err: isErrBoom}, // 32m
			{at: 63 * m, fail: errBoom, asked: true, err: isErrBoom}, // 60m, not 64m
			{at: 122 * m, err: isErrBoom},
			{at: 123 * m, count: 5, asked: true, want: 5},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			src := &fake.Commitments{}
			clk := &clock{t: t0}
			c := &cloud.CachedCommitments{Source: src, Now: clk.Now}
			for i, s := range tc.steps {
				clk.set(t0.Add(s.at))
				if s.count != 0 {
					src.SetReservedInstances("eu-west-1", cloud.ReservedInstance{InstanceType: "m6i.large", Count: s.count})
				}
				src.SetNextError(s.fail)
				before := len(src.Calls())
				got, err := c.ReservedInstances(context.Background(), "eu-west-1")
				if asked := len(src.Calls()) > before; asked != s.asked {
					t.Errorf("step %d: asked the source = %v, want %v", i, asked, s.asked)
				}
				src.SetNextError(nil)
				var count int32
				if len(got) == 1 {
					count = got[0].Count
				} else if len(got) > 1 {
					t.Fatalf("step %d: %d reservations", i, len(got))
				}
				if count != s.want {
					t.Errorf("step %d: count %d, want %d", i, count, s.want)
				}
				if cloud.IsStale(err) != s.stale {
					t.Errorf("step %d: err = %v, stale %v", i, err, s.stale)
				}
				if s.stale {
					var se *cloud.StaleError
					if !errors.As(err, &se) || !se.FetchedAt.Equal(t0.Add(s.fetched)) {
						t.Errorf("step %d: stale error %v, want fetched at t0+%s", i, err, s.fetched)
					}
				}
				if (err != nil) != (s.err != nil) || (s.err != nil && !s.err(err)) {
					t.Errorf("step %d: err = %v", i, err)
				}
			}
		})
	}
}

func TestCachedCommitmentsKeepsQuestionsApart(t *testing.T) {
	src := &fake.Commitments{}
	src.SetReservedInstances("eu-west-1", cloud.ReservedInstance{InstanceType: "m6i.large", Count: 1})
	src.SetReservedInstances("us-east-1", cloud.ReservedInstance{InstanceType: "c6i.large", Count: 2})
	src.SetSavingsPlans(cloud.SavingsPlan{Type: cloud.ComputeSavingsPlan, PerHour: 3})
	clk := &clock{t: t0}
	c := &cloud.CachedCommitments{Source: src, Now: clk.Now}
	ctx := context.Background()
	src.SetNextError(denied)
	// A failure of one kind does not hold back the other, nor another region.
	if _, err := c.ReservedInstances(ctx, "eu-west-1"); !cloud.IsAccessDenied(err) {
		t.Fatalf("err = %v", err)
	}
	if plans, err := c.SavingsPlans(ctx, "eu-west-1"); err != nil || len(plans) != 1 || plans[0].PerHour != 3 {
		t.Errorf("plans = %+v, %v", plans, err)
	}
	if ris, err := c.ReservedInstances(ctx, "us-east-1"); err != nil || len(ris) != 1 || ris[0].InstanceType != "c6i.large" {
		t.Errorf("us-east-1 = %+v, %v", ris, err)
	}
	// The answers are copies: a caller changing one does not change the next.
	plans, _ := c.SavingsPlans(ctx, "eu-west-1")
	plans[0].PerHour = 99
	if again, _ := c.SavingsPlans(ctx, "eu-west-1"); again[0].PerHour != 3 {
		t.Errorf("a caller changed the cached answer: %+v", again)
	}
	want := []fake.CommitmentCall{{Method: "ReservedInstances", Region: "eu-west-1"}, {Method: "SavingsPlans", Region: "eu-west-1"},
		{Method: "ReservedInstances", Region: "us-east-1"}}
	if got := src.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
}

// blockingCommitments holds every SavingsPlans call until release is closed.
type blockingCommitments struct {
	fake.Commitments
	started chan struct{}
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (b *blockingCommitments) SavingsPlans(ctx context.Context, region string) ([]cloud.SavingsPlan, error) {
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
	b.started <- struct{}{}
	<-b.release
	return b.Commitments.SavingsPlans(ctx, region)
}

func TestCachedCommitmentsSharesOneCall(t *testing.T) {
	src := &blockingCommitments{started: make(chan struct{}, 10), release: make(chan struct{})}
	src.SetSavingsPlans(cloud.SavingsPlan{Type: cloud.ComputeSavingsPlan, PerHour: 2})
	c := &cloud.CachedCommitments{Source: src, Now: (&clock{t: t0}).Now}
	const callers = 5
	var wg sync.WaitGroup
	results := make(chan []cloud.SavingsPlan, callers)
	for range callers {
		wg.Go(func() {
			plans, err := c.SavingsPlans(context.Background(), "eu-west-1")
			if err != nil {
				t.Error(err)
			}
			results <- plans
		})
	}
	<-src.started
	close(src.release)
	wg.Wait()
	close(results)
	for plans := range results {
		if len(plans) != 1 || plans[0].PerHour != 2 {
			t.Errorf("a caller got %+v", plans)
		}
	}
	if src.n != 1 {
		t.Errorf("%d calls to the source, want one shared", src.n)
	}
}
