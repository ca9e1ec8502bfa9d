package fake

import (
	"context"
	"fmt"
	"sync"

	"github.com/ballast-dev/ballast/cloud"
)

// InterruptionQueue is an in-memory cloud.InterruptionQueue that behaves like an SQS
// queue whose visibility timeout only ends when the test says so: Receive hands out
// up to 10 visible messages and hides them; Delete removes a hidden one by its receipt
// handle; Expire makes the hidden ones visible again, to be delivered once more with a
// new receipt handle. Receive waits, like long polling, until a message is visible or
// its context ends. It records every call, lets a test inject the next error of each
// call, and is safe for concurrent use.
type InterruptionQueue struct {
	mu       sync.Mutex
	visible  []cloud.InterruptionMessage
	hidden   map[string]cloud.InterruptionMessage // by receipt handle
	sent     int
	receipts int
	arrived  chan struct{}

	receives   int
	deleted    []cloud.InterruptionMessage
	receiveErr error
	deleteErr  error
}

var _ cloud.InterruptionQueue = (*InterruptionQueue)(nil)

// Send adds a message with body to the queue and returns its message ID.
func (q *InterruptionQueue) Send(body []byte) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.init()
	q.sent++
	id := fmt.Sprintf("message-%d", q.sent)
	q.visible = append(q.visible, cloud.InterruptionMessage{ID: id, Body: append([]byte(nil), body...)})
	q.signal()
	return id
}

// Expire ends the visibility timeout of every message received and not deleted.
func (q *InterruptionQueue) Expire() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.init()
	for h, m := range q.hidden {
		delete(q.hidden, h)
		q.visible = append(q.visible, m)
	}
	q.signal()
}

// Receive implements cloud.InterruptionQueue.
func (q *InterruptionQueue) Receive(ctx context.Context) ([]cloud.InterruptionMessage, error) {
	q.mu.Lock()
	q.init()
	q.receives++
	if err := q.receiveErr; err != nil {
		q.receiveErr = nil
		q.mu.Unlock()
		return nil, err
	}
	for len(q.visible) == 0 {
		arrived := q.arrived
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-arrived:
		}
		q.mu.Lock()
	}
	defer q.mu.Unlock()
	n := min(len(q.visible), 10)
	out := make([]cloud.InterruptionMessage, 0, n)
	for _, m := range q.visible[:n] {
		q.receipts++
		m.ReceiveCount++
		m.ReceiptHandle = fmt.Sprintf("receipt-%d", q.receipts)
		q.hidden[m.ReceiptHandle] = m
		out = append(out, m)
	}
	q.visible = q.visible[n:]
	return out, nil
}

// Delete implements cloud.InterruptionQueue. Deleting a message that is not hidden
// under that receipt handle (already deleted, or delivered again since) does nothing,
// as with SQS.
func (q *InterruptionQueue) Delete(_ context.Context, msg cloud.InterruptionMessage) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.init()
	if err := q.deleteErr; err != nil {
		q.deleteErr = nil
		return err
	}
	if m, ok := q.hidden[msg.ReceiptHandle]; ok {
		delete(q.hidden, msg.ReceiptHandle)
		q.deleted = append(q.deleted, m)
	}
	return nil
}

// FailNextReceive makes the next Receive return err.
func (q *InterruptionQueue) FailNextReceive(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.receiveErr = err
}

// FailNextDelete makes the next Delete return err.
func (q *InterruptionQueue) FailNextDelete(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleteErr = err
}

// Receives returns how many times Receive was called.
func (q *InterruptionQueue) Receives() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.receives
}

// Deleted returns the messages deleted, in order.
func (q *InterruptionQueue) Deleted() []cloud.InterruptionMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]cloud.InterruptionMessage(nil), q.deleted...)
}

// Len returns how many messages are on the queue, visible or hidden.
func (q *InterruptionQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.visible) + len(q.hidden)
}

// Reset empties the queue and forgets the calls and injected errors.
func (q *InterruptionQueue) Reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.visible, q.hidden, q.deleted = nil, nil, nil
	q.sent, q.receipts, q.receives = 0, 0, 0
	q.receiveErr, q.deleteErr = nil, nil
	q.init()
}

func (q *InterruptionQueue) init() {
	if q.hidden == nil {
		q.hidden = map[string]cloud.InterruptionMessage{}
	}
	if q.arrived == nil {
		q.arrived = make(chan struct{})
	}
}

// signal wakes the receives waiting for a message.
func (q *InterruptionQueue) signal() {
	close(q.arrived)
	q.arrived = make(chan struct{})
}
