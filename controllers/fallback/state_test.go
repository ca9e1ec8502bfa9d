package fallback

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

var (
	t0  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cfg = Config{After: 3 * time.Minute, ReverseInterval: 30 * time.Minute, Memory: 3 * time.Minute, BatchGap: 10 * time.Second}
)

func at(d time.Duration) time.Time { return t0.Add(d) }

func mt(d time.Duration) *metav1.Time {
	m := metav1.NewTime(at(d))
	return &m
}

func obs(now time.Duration, mut func(*Observation)) Observation {
	o := Observation{Now: at(now), ReturnAllowed: true, SpotLikely: true}
	if mut != nil {
		mut(&o)
	}
	return o
}

func TestStep(t *testing.T) {
	short := func(since time.Duration) func(*Observation) {
		return func(o *Observation) {
			o.Short, o.PendingSpot, o.ShortSince, o.LastCapacityFailure = 2, 2, at(since), at(since+time.Second)
		}
	}
	fallenBack := &v1alpha1.FallbackStatus{State: v1alpha1.FallbackFallenBack, FallenBackSince: mt(3 * time.Minute),
		NextReturnAttempt: mt(33 * time.Minute), LastCapacityFailure: mt(3 * time.Minute)}
	returning := &v1alpha1.FallbackStatus{State: v1alpha1.FallbackReturning, ReturnStartedAt: mt(40 * time.Minute),
		FallenBackSince: mt(3 * time.Minute), LastCapacityFailure: mt(3 * time.Minute)}
	for _, tc := range []struct {
		name    string
		prev    *v1alpha1.FallbackStatus
		obs     Observation
		state   v1alpha1.FallbackState
		replace bool
		ret     bool
		event   string
		check   func(t *testing.T, p Plan)
	}{
		{name: "nothing waits: available", obs: obs(0, nil), state: v1alpha1.FallbackAvailable},
		{name: "Spot replicas wait after a capacity failure: short", obs: obs(10*time.Second, short(0)),
			state: v1alpha1.FallbackShort, event: SpotShortReason,
			check: func(t *testing.T, p Plan) {
				if p.RequeueAfter != 3*time.Minute-10*time.Second {
					t.Errorf("requeue after %s, want the rest of fallback.after", p.RequeueAfter)
				}
			}},
		{name: "a shortage that has lasted fallback.after: fall back, replace the waiting",
			prev: &v1alpha1.FallbackStatus{State: v1alpha1.FallbackShort, ShortSince: mt(0)}, obs: obs(3*time.Minute, short(0)),
			state: v1alpha1.FallbackFallenBack, replace: true, event: FellBackReason,
			check: func(t *testing.T, p Plan) {
				if !p.Status.NextReturnAttempt.Time.Equal(at(33 * time.Minute)) {
					t.Errorf("next return at %s, want reverseInterval after the fallback", p.Status.NextReturnAttempt)
				}
			}},
		{name: "a long shortage seen at once (after a restart) falls back at once",
			obs: obs(10*time.Minute, short(0)), state: v1alpha1.FallbackFallenBack, replace: true, event: FellBackReason},
		{name: "Karpenter found Spot elsewhere (one zone short): back to available",
			prev: &v1alpha1.FallbackStatus{State: v1alpha1.FallbackShort, ShortSince: mt(0)}, obs: obs(time.Minute, nil),
			state: v1alpha1.FallbackAvailable, event: SpotAvailableReason},
		{name: "fallen back: waiting Spot replicas are replaced, no return before the interval",
			prev: fallenBack, obs: obs(10*time.Minute, func(o *Observation) { o.PendingSpot, o.Fallback = 1, 12 }),
			state: v1alpha1.FallbackFallenBack, replace: true},
		{name: "the interval passed: return",
			prev: fallenBack, obs: obs(33*time.Minute, func(o *Observation) { o.Fallback = 12 }),
			state: v1alpha1.FallbackReturning, ret: true, event: ReturningReason},
		{name: "outside a window that allows ReverseFallback: wait",
			prev: fallenBack, obs: obs(33*time.Minute, func(o *Observation) { o.Fallback, o.ReturnAllowed = 12, false }),
			state: v1alpha1.FallbackFallenBack},
		{name: "a recent capacity failure: wait fallback.after after it",
			prev: fallenBack, obs: obs(33*time.Minute, func(o *Observation) { o.Fallback, o.LastCapacityFailure = 12, at(32*time.Minute) }),
			state: v1alpha1.FallbackFallenBack,
			check: func(t *testing.T, p Plan) {
				if p.RequeueAfter != 2*time.Minute {
					t.Errorf("requeue after %s, want 2m", p.RequeueAfter)
				}
			}},
		{name: "Karpenter still remembers the failure (its offerings cache): wait it out",
			prev: fallenBack, obs: obs(33*time.Minute, func(o *Observation) { o.Fallback, o.LastCapacityFailure = 12, at(31*time.Minute) }),
			state: v1alpha1.FallbackFallenBack,
			check: func(t *testing.T, p Plan) {
				if p.RequeueAfter != time.Minute {
					t.Errorf("requeue after %s, want 1m (the failure plus the 3m memory)", p.RequeueAfter)
				}
			}},
		{name: "returning: one pass per batch gap",
			prev: &v1alpha1.FallbackStatus{State: v1alpha1.FallbackReturning, ReturnStartedAt: mt(40 * time.Minute), LastReturnBatch: mt(41 * time.Minute)},
			obs:  obs(41*time.Minute+3*time.Second, func(o *Observation) { o.Fallback = 7 }), state: v1alpha1.FallbackReturning},
		{name: "a low placement score: the next interval",
			prev: fallenBack, obs: obs(33*time.Minute, func(o *Observation) { o.Fallback, o.SpotLikely = 12, false }),
			state: v1alpha1.FallbackFallenBack,
			check: func(t *testing.T, p Plan) {
				if !p.Status.NextReturnAttempt.Time.Equal(at(63 * time.Minute)) {
					t.Errorf("next return at %s, want 63m", p.Status.NextReturnAttempt)
				}
			}},
		{name: "nothing on fallback any more: available", prev: fallenBack, obs: obs(10*time.Minute, nil),
			state: v1alpha1.FallbackAvailable, event: ReturnedReason},
		{name: "returning: the last batch is not scheduled yet, wait",
			prev: returning, obs: obs(41*time.Minute, func(o *Observation) { o.Fallback, o.PendingSpot = 7, 5 }),
			state: v1alpha1.FallbackReturning},
		{name: "returning: the last batch runs, next batch",
			prev: returning, obs: obs(41*time.Minute, func(o *Observation) { o.Fallback = 7 }),
			state: v1alpha1.FallbackReturning, ret: true},
		{name: "returning outside the window: pause",
			prev: returning, obs: obs(41*time.Minute, func(o *Observation) { o.Fallback, o.ReturnAllowed = 7, false }),
			state: v1alpha1.FallbackReturning},
		{name: "returning replicas find Spot short: fall back at once with backoff",
			prev: returning, obs: obs(41*time.Minute, func(o *Observation) {
				o.Fallback, o.PendingSpot, o.Short, o.ShortSince, o.LastCapacityFailure = 7, 5, 5, at(40*time.Minute), at(40*time.Minute+30*time.Second)
			}),
			state: v1alpha1.FallbackFallenBack, replace: true, event: ReturnFailedReason,
			check: func(t *testing.T, p Plan) {
				if p.Status.FailedReturns != 1 || p.Status.Backoff != "1h0m0s" || !p.Status.NextReturnAttempt.Time.Equal(at(101*time.Minute)) {
					t.Errorf("failed %d, backoff %s, next %s; want 1, 1h, 1h41m", p.Status.FailedReturns, p.Status.Backoff, p.Status.NextReturnAttempt)
				}
			}},
		{name: "an old capacity failure does not stop a return",
			prev: returning, obs: obs(41*time.Minute, func(o *Observation) {
				o.Fallback, o.PendingSpot, o.Short, o.ShortSince, o.LastCapacityFailure = 7, 5, 5, at(40*time.Minute), at(3*time.Minute)
			}),
			state: v1alpha1.FallbackReturning},
		{name: "every replica is back: available, backoff reset",
			prev: &v1alpha1.FallbackStatus{State: v1alpha1.FallbackReturning, ReturnStartedAt: mt(0), FailedReturns: 3, Backoff: "4h0m0s"},
			obs:  obs(41*time.Minute, nil), state: v1alpha1.FallbackAvailable, event: ReturnedReason,
			check: func(t *testing.T, p Plan) {
				if p.Status.FailedReturns != 0 || p.Status.Backoff != "" {
					t.Errorf("backoff not reset: %+v", p.Status)
				}
			}},
		{name: "returning: only replicas that keep a covering node busy are left: available",
			prev: returning, obs: obs(41*time.Minute, func(o *Observation) { o.Fallback, o.Kept = 2, 2 }),
			state: v1alpha1.FallbackAvailable, event: ReturnedReason,
			check: func(t *testing.T, p Plan) {
				if !strings.Contains(p.Status.Message, "2 fallback replicas stay On-Demand") || !strings.Contains(p.Transition.Message, "but 2") {
					t.Errorf("message %q, event %q: want the 2 kept replicas", p.Status.Message, p.Transition.Message)
				}
			}},
		{name: "returning: kept replicas do not count as still to return",
			prev: returning, obs: obs(41*time.Minute, func(o *Observation) { o.Fallback, o.Kept = 7, 2 }),
			state: v1alpha1.FallbackReturning, ret: true,
			check: func(t *testing.T, p Plan) {
				if !strings.HasPrefix(p.Status.Message, "returning to Spot: 5 replicas still on fallback") {
					t.Errorf("message %q", p.Status.Message)
				}
			}},
		{name: "available with kept replicas only: stays available",
			obs: obs(time.Hour, func(o *Observation) { o.Fallback, o.Kept = 1, 1 }), state: v1alpha1.FallbackAvailable},
		{name: "available with replicas left on fallback (their node covers no commitment any more): return them",
			obs: obs(time.Hour, func(o *Observation) { o.Fallback, o.Kept = 3, 1 }), state: v1alpha1.FallbackReturning, ret: true, event: ReturningReason,
			check: func(t *testing.T, p Plan) {
				if !strings.HasPrefix(p.Status.Message, "returning 2 replicas left on fallback") {
					t.Errorf("message %q", p.Status.Message)
				}
			}},
		{name: "available with replicas left on fallback, outside a window: wait",
			obs: obs(time.Hour, func(o *Observation) { o.Fallback, o.ReturnAllowed = 3, false }), state: v1alpha1.FallbackAvailable},
		{name: "available with replicas left on fallback, a recent capacity failure: wait",
			obs: obs(time.Hour, func(o *Observation) { o.Fallback, o.LastCapacityFailure = 3, at(59*time.Minute) }), state: v1alpha1.FallbackAvailable},
		{name: "available with replicas left on fallback, a low placement score: wait",
			obs: obs(time.Hour, func(o *Observation) { o.Fallback, o.SpotLikely = 3, false }), state: v1alpha1.FallbackAvailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Step(tc.prev, tc.obs, cfg)
			if p.Status.State != tc.state || p.ReplacePending != tc.replace || p.ReturnBatch != tc.ret {
				t.Fatalf("state %s replace %v return %v, want %s %v %v (%s)", p.Status.State, p.ReplacePending, p.ReturnBatch, tc.state, tc.replace, tc.ret, p.Status.Message)
			}
			switch {
			case tc.event == "" && p.Transition != nil:
				t.Errorf("unexpected event %s: %s", p.Transition.Reason, p.Transition.Message)
			case tc.event != "" && (p.Transition == nil || p.Transition.Reason != tc.event):
				t.Errorf("event %v, want %s", p.Transition, tc.event)
			}
			if p.Status.Message == "" {
				t.Error("no status message")
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

// TestFlappingSpotBacksOff: every return that finds Spot short again doubles the wait
// before the next one (up to a day), so a flapping market costs a bounded number of
// evictions per day.
func TestFlappingSpotBacksOff(t *testing.T) {
	st := &v1alpha1.FallbackStatus{State: v1alpha1.FallbackFallenBack, NextReturnAttempt: mt(0)}
	now := time.Duration(0)
	var waits []time.Duration
	for range 8 {
		p := Step(st, obs(now, func(o *Observation) { o.Fallback = 10 }), cfg)
		if p.Status.State != v1alpha1.FallbackReturning {
			t.Fatalf("no return at %s: %s", now, p.Status.Message)
		}
		now += 10 * time.Second
		p = Step(&p.Status, obs(now, func(o *Observation) {
			o.Fallback, o.Short, o.PendingSpot, o.ShortSince, o.LastCapacityFailure = 8, 2, 2, at(now-5*time.Second), at(now-time.Second)
		}), cfg)
		if p.Status.State != v1alpha1.FallbackFallenBack {
			t.Fatalf("still %s after Spot failed again", p.Status.State)
		}
		wait := p.Status.NextReturnAttempt.Sub(at(now))
		waits = append(waits, wait)
		st = &p.Status
		now += wait
	}
	want := []time.Duration{time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 16 * time.Hour, 24 * time.Hour, 24 * time.Hour, 24 * time.Hour}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
}
