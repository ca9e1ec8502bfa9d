package fake

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestInterruptionQueue(t *testing.T) {
	ctx := context.Background()
	q := &InterruptionQueue{}
	var ids []string
	for i := range 12 {
		ids = append(ids, q.Send([]byte{byte('a' + i)}))
	}
	first, err := q.Receive(ctx)
	if err != nil || len(first) != 10 {
		t.Fatalf("first receive: %d messages, %v; want 10", len(first), err)
	}
	second, err := q.Receive(ctx)
	if err != nil || len(second) != 2 || second[1].ID != ids[11] || string(second[1].Body) != "l" {
		t.Fatalf("second receive: %+v, %v; want the last two", second, err)
	}
	if first[0].ReceiveCount != 1 || first[0].ReceiptHandle == "" {
		t.Errorf("first delivery: %+v", first[0])
	}

	// Deleted messages are gone; the others come back, counted, with new handles.
	for _, m := range first {
		if err := q.Delete(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if q.Len() != 2 || len(q.Deleted()) != 10 {
		t.Fatalf("%d left, %d deleted", q.Len(), len(q.Deleted()))
	}
	q.Expire()
	again, err := q.Receive(ctx)
	if err != nil || len(again) != 2 || again[0].ReceiveCount != 2 || again[0].ReceiptHandle == second[0].ReceiptHandle {
		t.Fatalf("redelivery: %+v, %v", again, err)
	}
	// A stale receipt handle deletes nothing.
	if err := q.Delete(ctx, second[0]); err != nil || q.Len() != 2 {
		t.Fatalf("a stale handle: %v, %d left", err, q.Len())
	}

	// Receive waits for a message, or for its context.
	waited := make(chan int, 1)
	go func() {
		msgs, _ := q.Receive(ctx)
		waited <- len(msgs)
	}()
	q.Send([]byte("late"))
	if n := <-waited; n != 1 {
		t.Errorf("the waiting receive got %d messages, want the one sent", n)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := q.Receive(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("an empty queue's receive ended with %v, want its context's error", err)
	}

	boom := errors.New("boom")
	q.FailNextReceive(boom)
	q.FailNextDelete(boom)
	if _, err := q.Receive(ctx); !errors.Is(err, boom) {
		t.Errorf("receive: %v", err)
	}
	if err := q.Delete(ctx, again[0]); !errors.Is(err, boom) {
		t.Errorf("delete: %v", err)
	}
	if err := q.Delete(ctx, again[0]); err != nil {
		t.Errorf("the injected error must fail one call only: %v", err)
	}
	if q.Receives() != 6 {
		t.Errorf("%d receives recorded, want 6", q.Receives())
	}

	q.Reset()
	if q.Len() != 0 || len(q.Deleted()) != 0 || q.Receives() != 0 || q.Send(nil) != "message-1" {
		t.Error("Reset left state behind")
	}
}
