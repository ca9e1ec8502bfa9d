package interruption

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ballast-dev/ballast/cloud"
	"github.com/ballast-dev/ballast/metrics"
	"github.com/ballast-dev/ballast/redact"
)

// Defaults of the Consumer's settings.
const (
	// DefaultDedupeWindow is how long a consumer remembers the events it handled.
	// EventBridge delivers an event more than once at times, within seconds or
	// minutes; the queue keeps a message no longer than its retention period (5
	// minutes in docs/interruptions.md).
	DefaultDedupeWindow = 15 * time.Minute
	// DefaultMinBackoff is the first wait after a failed receive.
	DefaultMinBackoff = time.Second
	// DefaultMaxBackoff is the longest wait between failed receives.
	DefaultMaxBackoff = time.Minute
)

// maxRemembered bounds how many handled events a consumer remembers, so that a flood
// of events cannot grow its memory without end; past it the oldest are forgotten
// first (and, delivered again, are handled again).
const maxRemembered = 10000

// What became of a message: the result label of ballast_interruption_messages_total.
const (
	// ResultHandled is an event handled, and its message deleted.
	ResultHandled = "handled"
	// ResultDuplicate is an event this consumer handled already, delivered again; its
	// message is deleted.
	ResultDuplicate = "duplicate"
	// ResultMalformed is a message that is no event Ballast can act on; deleted.
	ResultMalformed = "malformed"
	// ResultUnknown is an event of a kind Ballast does not act on; deleted.
	ResultUnknown = "unknown"
	// ResultFailed is an event Handle failed on; left on the queue, which delivers it
	// again after its visibility timeout.
	ResultFailed = "failed"
)

// KindUnknown is the kind label of messages that do not say what they are.
const KindUnknown = "Unknown"

// Consumer reads Ballast's interruption queue and hands each event to Handle. Run one
// per queue and cluster (on the leader): two consumers of one queue each see only
// part of the events.
//
// Every message ends deleted except those whose event Handle failed on: malformed
// messages and events of kinds Ballast does not act on are logged (with a short
// redacted excerpt), counted and deleted, never retried and never left to clog the
// queue. Events are handled one at a time, in the order received.
type Consumer struct {
	// Queue is where the messages come from.
	Queue cloud.InterruptionQueue
	// Handle acts on one event. The queue delivers at least once, so Handle must be
	// idempotent: it is called again for an event it has handled when the consumer
	// stops (or its delete fails) between Handle's return and the message's delete,
	// when another consumer (after a restart) receives the same event, or when
	// EventBridge sends the event twice more than DedupeWindow apart. An error leaves
	// the message on the queue: SQS delivers it again after the visibility timeout,
	// until its retention period ends. Handle should return promptly: the messages
	// received with the event wait for it.
	Handle func(ctx context.Context, ev cloud.InterruptionEvent) error

	// Clock tells the time and times the backoff; the real clock when nil.
	Clock clock.Clock
	// DedupeWindow is how long an event handled is remembered: delivered again
	// within it, it is deleted without calling Handle. DefaultDedupeWindow when 0.
	DedupeWindow time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed receive, which doubles
	// with each failure in a row. DefaultMinBackoff and DefaultMaxBackoff when 0.
	MinBackoff, MaxBackoff time.Duration

	mu sync.Mutex
	// handled is when each event remembered was handled, by EventBridge event ID.
	handled map[string]time.Time
}

// Run polls the queue until ctx ends, then returns nil. A failed receive is logged
// and counted, and tried again after a backoff; nothing ends Run but ctx.
func (c *Consumer) Run(ctx context.Context) error {
	if c.Queue == nil || c.Handle == nil {
		return errors.New("the interruption consumer needs a queue and a handler")
	}
	log := logf.FromContext(ctx)
	var backoff time.Duration
	for ctx.Err() == nil {
		err := c.Poll(ctx)
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			backoff = 0
			continue
		}
		backoff = c.nextBackoff(backoff)
		log.Error(err, "failed to receive interruption messages; trying again", "after", backoff.String())
		select {
		case <-ctx.Done():
		case <-c.clock().After(backoff):
		}
	}
	return nil
}

// Poll receives once (a long poll) and consumes what came, one message after the
// other. It returns the receive's error; what becomes of each message is logged and
// counted. When ctx ends after a message is handled and before it is deleted, Poll
// returns at once: that message, and those after it, are delivered again after the
// queue's visibility timeout.
func (c *Consumer) Poll(ctx context.Context) error {
	msgs, err := c.Queue.Receive(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		metrics.InterruptionReceiveErrors.Inc()
		return err
	}
	c.forgetOld()
	for _, m := range msgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.consume(ctx, m)
	}
	return nil
}

// consume handles one message and deletes it unless Handle failed.
func (c *Consumer) consume(ctx context.Context, m cloud.InterruptionMessage) {
	log := logf.FromContext(ctx).WithValues("message", redact.Excerpt(m.ID), "receiveCount", m.ReceiveCount)
	ev, err := cloud.ParseInterruptionMessage(m.Body)
	if err != nil {
		kind, result := KindUnknown, ResultMalformed
		var malformed *cloud.MalformedMessageError
		switch {
		case cloud.IsUnknownMessage(err):
			result = ResultUnknown
			log.Info("deleting an interruption message of a kind Ballast does not act on", "reason", err.Error())
		case errors.As(err, &malformed) && malformed.Kind != "":
			kind = string(malformed.Kind)
			fallthrough
		default:
			log.Info("deleting a malformed interruption message", "reason", err.Error())
		}
		metrics.InterruptionMessages.WithLabelValues(kind, result).Inc()
		c.delete(ctx, log, m)
		return
	}
	kind := string(ev.Kind)
	log = log.WithValues("event", redact.Excerpt(ev.ID), "kind", kind, "instances", ev.InstanceIDs)
	if c.handledRecently(ev.ID) {
		metrics.InterruptionMessages.WithLabelValues(kind, ResultDuplicate).Inc()
		log.V(1).Info("deleting an interruption event handled already")
		c.delete(ctx, log, m)
		return
	}
	start := c.clock().Now()
	err = c.handle(ctx, ev)
	metrics.InterruptionHandleDuration.WithLabelValues(kind).Observe(c.clock().Since(start).Seconds())
	if err != nil {
		metrics.InterruptionMessages.WithLabelValues(kind, ResultFailed).Inc()
		log.Error(err, "failed to handle an interruption event; the queue delivers it again after its visibility timeout")
		return
	}
	c.remember(ev.ID)
	metrics.InterruptionMessages.WithLabelValues(kind, ResultHandled).Inc()
	log.V(1).Info("handled an interruption event")
	if ctx.Err() != nil {
		// Stopping: the message comes back, and its event is handled again.
		return
	}
	c.delete(ctx, log, m)
}

// handle calls Handle, turning a panic into an error: a handler's bug must not stop
// the consumer.
func (c *Consumer) handle(ctx context.Context, ev cloud.InterruptionEvent) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the interruption handler panicked: %v", r)
		}
	}()
	return c.Handle(ctx, ev)
}

// delete deletes a message; a failure is logged and counted, and the queue delivers
// the message again.
func (c *Consumer) delete(ctx context.Context, log logr.Logger, m cloud.InterruptionMessage) {
	if err := c.Queue.Delete(ctx, m); err != nil {
		if ctx.Err() != nil {
			return
		}
		metrics.InterruptionDeleteErrors.Inc()
		log.Error(err, "failed to delete an interruption message; the queue delivers it again")
	}
}

// handledRecently reports whether the event was handled within the dedupe window.
func (c *Consumer) handledRecently(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.handled[id]
	return ok && c.clock().Since(at) < c.dedupeWindow()
}

// remember records that the event was handled now.
func (c *Consumer) remember(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.handled == nil {
		c.handled = map[string]time.Time{}
	}
	c.handled[id] = c.clock().Now()
	for len(c.handled) > maxRemembered {
		oldest, first := "", time.Time{}
		for id, at := range c.handled {
			if oldest == "" || at.Before(first) {
				oldest, first = id, at
			}
		}
		delete(c.handled, oldest)
	}
}

// forgetOld forgets the events handled before the dedupe window.
func (c *Consumer) forgetOld() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, at := range c.handled {
		if c.clock().Since(at) >= c.dedupeWindow() {
			delete(c.handled, id)
		}
	}
}

func (c *Consumer) nextBackoff(last time.Duration) time.Duration {
	lo, hi := c.MinBackoff, c.MaxBackoff
	if lo <= 0 {
		lo = DefaultMinBackoff
	}
	if hi <= 0 {
		hi = DefaultMaxBackoff
	}
	if last <= 0 {
		return min(lo, hi)
	}
	return min(2*last, hi)
}

func (c *Consumer) dedupeWindow() time.Duration {
	if c.DedupeWindow > 0 {
		return c.DedupeWindow
	}
	return DefaultDedupeWindow
}

func (c *Consumer) clock() clock.Clock {
	if c.Clock != nil {
		return c.Clock
	}
	return clock.RealClock{}
}
