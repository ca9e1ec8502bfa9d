package fallback

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// maxBackoff bounds the wait between failed returns.
const maxBackoff = 24 * time.Hour

// Config is what the policy says about fallback.
type Config struct {
	// After is how long Spot replicas may wait for capacity before falling back.
	After time.Duration
	// ReverseInterval is how often a return to Spot is tried.
	ReverseInterval time.Duration
	// Memory is how long Karpenter remembers that a Spot offering ran out of capacity
	// and does not try it again (the AWS provider's unavailable-offerings cache, 3
	// minutes): a return starts only once that has passed since the last failure, or
	// Karpenter would not even try Spot for the returning replicas.
	Memory time.Duration
	// BatchGap is the least time between two return passes, so that the replacements
	// of one pass exist before the next is decided.
	BatchGap time.Duration
}

// Observation is what the controller saw of the cluster on one pass.
type Observation struct {
	Now time.Time
	// Short counts the Ballast-placed Spot replicas that are unschedulable with
	// evidence that Karpenter could not launch Spot capacity for them; ShortSince is
	// when the first of them started to wait.
	Short      int
	ShortSince time.Time
	// PendingSpot counts the Ballast-placed Spot replicas not scheduled yet, for any
	// reason.
	PendingSpot int
	// LastCapacityFailure is the last insufficient-capacity report for the cluster's
	// Spot capacity (zero when none was seen).
	LastCapacityFailure time.Time
	// Fallback counts the replicas on fallback.
	Fallback int32
	// Kept counts the replicas on fallback that stay On-Demand: each is the last
	// workload pod of a node that covers a commitment, where it runs prepaid, and
	// returning it would let Karpenter remove the node and leave the commitment unused.
	// A return is done when every other one is back.
	Kept int32
	// ReturnAllowed is false outside the maintenance windows that allow
	// ReverseFallback (when the policy has such windows).
	ReturnAllowed bool
	// SpotLikely is false when the Spot placement score says Spot is unlikely to be
	// had; true when it is good or unknown.
	SpotLikely bool
}

// Transition is a change of state worth an event.
type Transition struct {
	Reason, Message string
	Warning         bool
}

// Plan is what one pass decides.
type Plan struct {
	// Status is the new fallback status (Replicas and Workloads are the caller's).
	Status v1alpha1.FallbackStatus
	// ReplacePending: replace the Ballast-placed Spot replicas still Pending.
	ReplacePending bool
	// ReturnBatch: move the next batch of fallback replicas back to Spot.
	ReturnBatch bool
	// Transition, when set, is worth an event.
	Transition *Transition
	// RequeueAfter is when to look again at the latest.
	RequeueAfter time.Duration
}

// Event reasons of the transitions.
const (
	SpotShortReason     = "SpotShort"
	SpotAvailableReason = "SpotAvailable"
	FellBackReason      = "FellBackToOnDemand"
	ReturningReason     = "ReturningToSpot"
	ReturnFailedReason  = "ReturnToSpotFailed"
	ReturnedReason      = "ReturnedToSpot"
)

// Step is the fallback state machine: from the last status and what was observed, the
// next status and what to do. It is pure; every timer comes from obs.Now.
func Step(prev *v1alpha1.FallbackStatus, obs Observation, cfg Config) Plan {
	st := v1alpha1.FallbackStatus{State: v1alpha1.FallbackAvailable}
	if prev != nil {
		st = *prev.DeepCopy()
	}
	now := obs.Now
	if !obs.LastCapacityFailure.IsZero() && (st.LastCapacityFailure == nil || obs.LastCapacityFailure.After(st.LastCapacityFailure.Time)) {
		st.LastCapacityFailure = timeOf(obs.LastCapacityFailure)
	}
	p := Plan{RequeueAfter: time.Minute}
	switch st.State {
	case v1alpha1.FallbackShort, v1alpha1.FallbackFallenBack, v1alpha1.FallbackReturning:
	default:
		st.State = v1alpha1.FallbackAvailable
	}

	returnable := obs.Fallback - obs.Kept
	quietUntil := obs.LastCapacityFailure.Add(max(cfg.After, cfg.Memory))
	if st.State == v1alpha1.FallbackAvailable {
		st.ShortSince, st.FallenBackSince, st.ReturnStartedAt, st.NextReturnAttempt = nil, nil, nil, nil
		st.Message = "Spot capacity is available"
		if obs.Short == 0 {
			// Replicas left on fallback (their node no longer covers a commitment, or
			// admitted on fallback just before the return ended) go back like any.
			if returnable > 0 && obs.PendingSpot == 0 && obs.ReturnAllowed && !now.Before(quietUntil) && obs.SpotLikely {
				st.State = v1alpha1.FallbackReturning
				st.ReturnStartedAt, st.LastReturnBatch = timeOf(now), timeOf(now)
				st.Message = fmt.Sprintf("returning %d replicas left on fallback to Spot", returnable)
				p.ReturnBatch = true
				p.Transition = &Transition{Reason: ReturningReason, Message: fmt.Sprintf("trying Spot again for %d replicas left on fallback", returnable)}
				p.RequeueAfter = 5 * time.Second
			}
			p.Status = withKept(st, obs.Kept)
			return p
		}
		st.State = v1alpha1.FallbackShort
		st.ShortSince = timeOf(obs.ShortSince)
		p.Transition = &Transition{Reason: SpotShortReason, Warning: true,
			Message: fmt.Sprintf("%d Spot replicas wait for capacity Karpenter could not launch; they fall back to On-Demand after %s", obs.Short, cfg.After)}
	}

	switch st.State {
	case v1alpha1.FallbackShort:
		if obs.Short == 0 {
			st.State, st.ShortSince = v1alpha1.FallbackAvailable, nil
			st.Message = "Spot capacity is available"
			p.Transition = &Transition{Reason: SpotAvailableReason, Message: "Karpenter found Spot capacity for the waiting replicas; nothing falls back"}
			break
		}
		since := obs.ShortSince
		if st.ShortSince != nil && st.ShortSince.Time.Before(since) {
			since = st.ShortSince.Time
		}
		st.ShortSince = timeOf(since)
		if wait := since.Add(cfg.After).Sub(now); wait > 0 {
			st.Message = fmt.Sprintf("%d Spot replicas wait for capacity; they fall back at %s", obs.Short, since.Add(cfg.After).UTC().Format(time.RFC3339))
			p.RequeueAfter = wait
			break
		}
		st.State = v1alpha1.FallbackFallenBack
		st.FallenBackSince = timeOf(now)
		st.NextReturnAttempt = timeOf(now.Add(backoff(cfg, st.FailedReturns)))
		st.Backoff = backoff(cfg, st.FailedReturns).String()
		st.Message = fmt.Sprintf("Spot capacity has been short since %s: replicas meant for Spot run On-Demand until the return at %s",
			since.UTC().Format(time.RFC3339), st.NextReturnAttempt.UTC().Format(time.RFC3339))
		p.ReplacePending = true
		p.Transition = &Transition{Reason: FellBackReason, Warning: true,
			Message: fmt.Sprintf("Spot capacity short for %s: %d waiting Spot replicas are replaced On-Demand, and new ones are placed On-Demand", now.Sub(since).Round(time.Second), obs.PendingSpot)}
		p.RequeueAfter = st.NextReturnAttempt.Sub(now)

	case v1alpha1.FallbackFallenBack:
		p.ReplacePending = obs.PendingSpot > 0
		if p.ReplacePending {
			p.RequeueAfter = 5 * time.Second
		}
		next := now
		if st.NextReturnAttempt != nil {
			next = st.NextReturnAttempt.Time
		}
		switch {
		case obs.Fallback == 0 && obs.PendingSpot == 0 && st.FallenBackSince != nil && now.Sub(st.FallenBackSince.Time) >= cfg.After:
			st = available(st)
			p.Transition = &Transition{Reason: ReturnedReason, Message: "no replica is on fallback any more"}
		case now.Before(next):
			st.Message = fmt.Sprintf("%d replicas on fallback; the next return to Spot is at %s", obs.Fallback, next.UTC().Format(time.RFC3339))
			p.RequeueAfter = min(p.RequeueAfter, next.Sub(now))
		case obs.PendingSpot > 0:
			// Replace the waiting replicas first: a return decided now would let their
			// replacements be placed on Spot again.
			st.Message = fmt.Sprintf("%d replicas on fallback; %d Spot replicas still wait and are being replaced", obs.Fallback, obs.PendingSpot)
		case !obs.ReturnAllowed:
			st.Message = fmt.Sprintf("%d replicas on fallback; waiting for a maintenance window that allows ReverseFallback", obs.Fallback)
		case now.Before(quietUntil):
			st.Message = fmt.Sprintf("%d replicas on fallback; Spot capacity failed at %s, so the return waits until %s",
				obs.Fallback, obs.LastCapacityFailure.UTC().Format(time.RFC3339), quietUntil.UTC().Format(time.RFC3339))
			p.RequeueAfter = quietUntil.Sub(now)
		case !obs.SpotLikely:
			st.NextReturnAttempt = timeOf(now.Add(cfg.ReverseInterval))
			st.Message = fmt.Sprintf("%d replicas on fallback; the Spot placement score is low, so the return waits until %s",
				obs.Fallback, st.NextReturnAttempt.UTC().Format(time.RFC3339))
			p.RequeueAfter = cfg.ReverseInterval
		default:
			st.State = v1alpha1.FallbackReturning
			st.ReturnStartedAt = timeOf(now)
			st.LastReturnBatch = timeOf(now)
			st.Message = fmt.Sprintf("returning %d replicas to Spot, a few at a time", returnable)
			p.ReturnBatch = true
			p.Transition = &Transition{Reason: ReturningReason, Message: fmt.Sprintf("trying Spot again for %d replicas on fallback", returnable)}
			p.RequeueAfter = 5 * time.Second
		}

	case v1alpha1.FallbackReturning:
		started := now
		if st.ReturnStartedAt != nil {
			started = st.ReturnStartedAt.Time
		}
		switch {
		case obs.Short > 0 && !obs.LastCapacityFailure.Before(started):
			st.FailedReturns++
			wait := backoff(cfg, st.FailedReturns)
			st.State = v1alpha1.FallbackFallenBack
			st.FallenBackSince = timeOf(now)
			st.ReturnStartedAt, st.LastReturnBatch = nil, nil
			st.NextReturnAttempt = timeOf(now.Add(wait))
			st.Backoff = wait.String()
			st.Message = fmt.Sprintf("Spot was short again during the return (%d failed in a row): replicas stay On-Demand until %s",
				st.FailedReturns, st.NextReturnAttempt.UTC().Format(time.RFC3339))
			p.ReplacePending = true
			p.Transition = &Transition{Reason: ReturnFailedReason, Warning: true,
				Message: fmt.Sprintf("returning replicas found Spot short again; back On-Demand, next try in %s", wait)}
			p.RequeueAfter = wait
		case returnable <= 0 && obs.PendingSpot == 0:
			st = available(st)
			msg := "every fallback replica is back on Spot"
			if obs.Kept > 0 {
				msg = fmt.Sprintf("every fallback replica is back on Spot but %d that keep nodes covering a commitment busy", obs.Kept)
			}
			p.Transition = &Transition{Reason: ReturnedReason, Message: msg}
		case obs.PendingSpot > 0:
			st.Message = fmt.Sprintf("returning to Spot: %d replicas wait for Spot nodes, %d still on fallback", obs.PendingSpot, returnable)
			p.RequeueAfter = 5 * time.Second
		case st.LastReturnBatch != nil && now.Sub(st.LastReturnBatch.Time) < cfg.BatchGap:
			st.Message = fmt.Sprintf("returning to Spot: %d replicas still on fallback", returnable)
			p.RequeueAfter = cfg.BatchGap - now.Sub(st.LastReturnBatch.Time)
		case !obs.ReturnAllowed:
			st.Message = fmt.Sprintf("returning to Spot paused: %d replicas on fallback wait for a maintenance window that allows ReverseFallback", returnable)
		default:
			st.Message = fmt.Sprintf("returning to Spot: %d replicas still on fallback", returnable)
			st.LastReturnBatch = timeOf(now)
			p.ReturnBatch = true
			p.RequeueAfter = max(cfg.BatchGap, time.Second)
		}
	}
	p.Status = withKept(st, obs.Kept)
	return p
}

// withKept adds to the message how many fallback replicas stay On-Demand for a
// commitment.
func withKept(st v1alpha1.FallbackStatus, kept int32) v1alpha1.FallbackStatus {
	st.Kept = kept
	if kept > 0 {
		st.Message += fmt.Sprintf("; %d fallback replicas stay On-Demand: each is the last workload pod of a node that covers a commitment", kept)
	}
	return st
}

// available is the status once nothing is on fallback: the backoff resets.
func available(st v1alpha1.FallbackStatus) v1alpha1.FallbackStatus {
	st.State = v1alpha1.FallbackAvailable
	st.ShortSince, st.FallenBackSince, st.ReturnStartedAt, st.NextReturnAttempt, st.LastReturnBatch = nil, nil, nil, nil, nil
	st.FailedReturns, st.Backoff = 0, ""
	st.Message = "Spot capacity is available"
	return st
}

// backoff is the wait before a return after failed returns in a row: the reverse
// interval, doubled for each failure, at most maxBackoff (or the interval, if longer).
func backoff(cfg Config, failed int32) time.Duration {
	d := cfg.ReverseInterval
	for range min(failed, 30) {
		if d >= maxBackoff {
			break
		}
		d *= 2
	}
	return max(min(d, maxBackoff), cfg.ReverseInterval)
}

func timeOf(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}
