package interruption

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ballast-dev/ballast/cloud"
	cloudaws "github.com/ballast-dev/ballast/cloud/aws"
	"github.com/ballast-dev/ballast/cloud/fake"
	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/metrics"
)

// fixture reads one of cloud's EventBridge events, in the shapes of the AWS
// documentation.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "cloud", "testdata", "interruptions", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// counts reads the consumer's counters, to compare before and after.
type counts struct {
	messages                    map[[2]string]float64
	receiveErrors, deleteErrors float64
}

var allKinds = []string{string(cloud.SpotInterruption), string(cloud.RebalanceRecommendation), string(cloud.StateChange), string(cloud.ScheduledChange), KindUnknown}

func readCounts() counts {
	c := counts{messages: map[[2]string]float64{}}
	for _, k := range allKinds {
		for _, r := range []string{ResultHandled, ResultDuplicate, ResultMalformed, ResultUnknown, ResultFailed} {
			c.messages[[2]string{k, r}] = testutil.ToFloat64(metrics.InterruptionMessages.WithLabelValues(k, r))
		}
	}
	c.receiveErrors = testutil.ToFloat64(metrics.InterruptionReceiveErrors)
	c.deleteErrors = testutil.ToFloat64(metrics.InterruptionDeleteErrors)
	return c
}

// since returns the messages counted since before, without the zeros.
func (c counts) since(before counts) map[[2]string]float64 {
	out := map[[2]string]float64{}
	for k, v := range c.messages {
		if d := v - before.messages[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// total adds the messages counted.
func total(m map[[2]string]float64) float64 {
	var n float64
	for _, v := range m {
		n += v
	}
	return n
}

// eventually waits until cond holds, failing the test after timeout. It waits for
// what happens elsewhere (another process, another goroutine); it asserts no time.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recorder is a Handle that records the events it is given.
type recorder struct {
	mu     sync.Mutex
	events []cloud.InterruptionEvent
	// then, when set, runs after an event is recorded and gives Handle's error.
	then func(cloud.InterruptionEvent) error
}

func (r *recorder) handle(_ context.Context, ev cloud.InterruptionEvent) error {
	r.mu.Lock()
	r.events = append(r.events, ev)
	then := r.then
	r.mu.Unlock()
	if then != nil {
		return then(ev)
	}
	return nil
}

func (r *recorder) got() []cloud.InterruptionEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// receiving is a queue that records the messages it hands out.
type receiving struct {
	cloud.InterruptionQueue
	mu       sync.Mutex
	received []cloud.InterruptionMessage
}

func (q *receiving) Receive(ctx context.Context) ([]cloud.InterruptionMessage, error) {
	msgs, err := q.InterruptionQueue.Receive(ctx)
	q.mu.Lock()
	q.received = append(q.received, msgs...)
	q.mu.Unlock()
	return msgs, err
}

func (q *receiving) messages() []cloud.InterruptionMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.received)
}

// startSQS starts fauxqs (the SQS JSON protocol) for one test.
func startSQS(t *testing.T) *localcluster.SQS {
	t.Helper()
	s, err := localcluster.StartSQS(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("fauxqs log:\n%s", s.Log())
		}
		s.Stop()
	})
	return s
}

// sqsQueue is the SDK-backed queue at url, with a fast retryer: a stopped server
// fails a receive in two quick attempts.
func sqsQueue(t testing.TB, s *localcluster.SQS, url string) cloud.InterruptionQueue {
	t.Helper()
	cfg := s.Config()
	cfg.Retryer = func() awssdk.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 2
			o.MaxBackoff = time.Millisecond
		})
	}
	q, err := cloudaws.NewInterruptionQueue(cfg, url)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// run runs c until the test ends (or stop is called) and reports Run's result.
func run(t *testing.T, ctx context.Context, c *Consumer) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				err = errors.New("Run did not return within a minute of its context's end")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func createQueue(t *testing.T, s *localcluster.SQS, name string, visibility time.Duration) string {
	t.Helper()
	url, err := s.CreateQueue(context.Background(), name, visibility)
	if err != nil {
		t.Fatal(err)
	}
	return url
}

func send(t *testing.T, s *localcluster.SQS, url string, body []byte) {
	t.Helper()
	if _, err := s.Send(context.Background(), url, body); err != nil {
		t.Fatal(err)
	}
}

// queueEmpty reports whether the queue holds no message, visible or hidden.
func queueEmpty(t *testing.T, s *localcluster.SQS, url string) bool {
	t.Helper()
	visible, hidden, err := s.Count(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return visible == 0 && hidden == 0
}

// TestConsumerOnSQS sends the four kinds of events in their real EventBridge shapes, a
// duplicate, malformed messages and events of other kinds through a real SQS protocol
// server: each event is handled once, everything is counted, and the queue ends empty.
func TestConsumerOnSQS(t *testing.T) {
	s := startSQS(t)
	url := createQueue(t, s, "ballast-interruptions", 30*time.Second)
	kinds := map[string]cloud.InterruptionKind{
		"spot-interruption.json": cloud.SpotInterruption, "rebalance-recommendation.json": cloud.RebalanceRecommendation,
		"state-change.json": cloud.StateChange, "scheduled-change.json": cloud.ScheduledChange,
	}
	for f := range kinds {
		send(t, s, url, fixture(t, f))
	}
	// EventBridge delivers at least once: the same event in a second message.
	send(t, s, url, fixture(t, "spot-interruption.json"))
	for _, body := range []string{
		"garbage, not JSON: <Event><id>1</id></Event>",
		`{"version":"0","id":"x","source":"aws.ec2","detail-type":"EC2 Spot Instance Interruption Warning","time":"2026-11-03T14:05:37Z"}`,
		`{"version":"0","id":"y","source":"aws.ec2","detail-type":"EC2 Spot Instance Interruption Warning","time":"2026-11-03T14:05:37Z",` +
			`"detail":{"instance-action":"terminate"}}`,
	} {
		send(t, s, url, []byte(body))
	}
	send(t, s, url, fixture(t, "autoscaling-launch.json"))
	send(t, s, url, fixture(t, "health-issue.json"))

	before := readCounts()
	rec := &recorder{}
	stop := run(t, context.Background(), &Consumer{Queue: sqsQueue(t, s, url), Handle: rec.handle})
	eventually(t, "every message counted and the queue empty", time.Minute, func() bool {
		return total(readCounts().since(before)) == 10 && queueEmpty(t, s, url)
	})
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}

	want := map[[2]string]float64{
		{"SpotInterruption", "handled"}: 1, {"RebalanceRecommendation", "handled"}: 1,
		{"StateChange", "handled"}: 1, {"ScheduledChange", "handled"}: 1,
		{"SpotInterruption", "duplicate"}: 1,
		{"Unknown", "malformed"}:          2, {"SpotInterruption", "malformed"}: 1,
		{"Unknown", "unknown"}: 2,
	}
	after := readCounts()
	if got := after.since(before); !mapsEqual(got, want) {
		t.Errorf("counted %v, want %v", got, want)
	}
	if after.deleteErrors != before.deleteErrors || after.receiveErrors != before.receiveErrors {
		t.Errorf("%v delete and %v receive errors", after.deleteErrors-before.deleteErrors, after.receiveErrors-before.receiveErrors)
	}
	handled := map[cloud.InterruptionKind]cloud.InterruptionEvent{}
	for _, ev := range rec.got() {
		if _, twice := handled[ev.Kind]; twice {
			t.Errorf("the %s event was handled twice", ev.Kind)
		}
		handled[ev.Kind] = ev
	}
	for f, kind := range kinds {
		want, err := cloud.ParseInterruptionMessage(fixture(t, f))
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := handled[kind]; !ok || got.ID != want.ID || !slices.Equal(got.InstanceIDs, want.InstanceIDs) {
			t.Errorf("%s: handled %+v, want %+v", f, got, want)
		}
	}
}

func mapsEqual(a, b map[[2]string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestConsumerRedeliveryAfterCrash stops a consumer after Handle returned and before
// the delete: a new consumer (no memory of the first) receives the message again
// once the visibility timeout ends, handles the event again and deletes it.
func TestConsumerRedeliveryAfterCrash(t *testing.T) {
	s := startSQS(t)
	url := createQueue(t, s, "crash", time.Second)
	send(t, s, url, fixture(t, "spot-interruption.json"))
	before := readCounts()

	ctx, crash := context.WithCancel(context.Background())
	first := &recorder{then: func(cloud.InterruptionEvent) error { crash(); return nil }}
	firstQueue := &receiving{InterruptionQueue: sqsQueue(t, s, url)}
	c := &Consumer{Queue: firstQueue, Handle: first.handle}
	if err := c.Run(ctx); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if len(first.got()) != 1 {
		t.Fatalf("the first consumer handled %d events, want 1", len(first.got()))
	}
	if visible, hidden, err := s.Count(context.Background(), url); err != nil || visible+hidden != 1 {
		t.Fatalf("after the crash the queue holds %d+%d messages (%v), want the one not deleted", visible, hidden, err)
	}

	second := &recorder{}
	secondQueue := &receiving{InterruptionQueue: sqsQueue(t, s, url)}
	stop := run(t, context.Background(), &Consumer{Queue: secondQueue, Handle: second.handle})
	eventually(t, "the event handled again and deleted", time.Minute, func() bool {
		return len(second.got()) == 1 && queueEmpty(t, s, url)
	})
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if a, b := first.got()[0], second.got()[0]; a.ID != b.ID || a.Kind != b.Kind {
		t.Errorf("handled %+v, then %+v: not the same event", a, b)
	}
	m1, m2 := firstQueue.messages(), secondQueue.messages()
	if len(m1) != 1 || len(m2) != 1 || m1[0].ID != m2[0].ID {
		t.Fatalf("received %+v, then %+v: want the same message once each", m1, m2)
	}
	if m1[0].ReceiveCount != 1 || m2[0].ReceiveCount != 2 {
		t.Errorf("receive counts %d then %d, want 1 then 2", m1[0].ReceiveCount, m2[0].ReceiveCount)
	}
	want := map[[2]string]float64{{"SpotInterruption", "handled"}: 2}
	if got := readCounts().since(before); !mapsEqual(got, want) {
		t.Errorf("counted %v, want %v", got, want)
	}
}

// TestConsumerSurvivesQueueOutage stops the SQS server under a running consumer: each
// failed receive is counted and followed by a backoff on the consumer's clock, and
// Run goes on until its context ends.
func TestConsumerSurvivesQueueOutage(t *testing.T) {
	s := startSQS(t)
	url := createQueue(t, s, "outage", 30*time.Second)
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 3, 14, 0, 0, 0, time.UTC))
	rec := &recorder{}
	before := readCounts()
	stop := run(t, context.Background(), &Consumer{Queue: sqsQueue(t, s, url), Handle: rec.handle, Clock: clk,
		MinBackoff: time.Second, MaxBackoff: 4 * time.Second})
	send(t, s, url, fixture(t, "rebalance-recommendation.json"))
	eventually(t, "the event handled", time.Minute, func() bool { return len(rec.got()) == 1 })

	s.Stop()
	for i := 1; i <= 4; i++ {
		eventually(t, fmt.Sprintf("failed receive %d, then a backoff", i), time.Minute, func() bool {
			return readCounts().receiveErrors-before.receiveErrors == float64(i) && clk.HasWaiters()
		})
		// The next receive waits for the backoff (1s, 2s, 4s, 4s: doubling up to
		// MaxBackoff) to pass on the consumer's clock: a shorter step would leave the
		// consumer waiting, and the next failure would never come.
		clk.Step(min(time.Second<<(i-1), 4*time.Second))
	}
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

func TestConsumerBackoff(t *testing.T) {
	c := &Consumer{}
	var got []time.Duration
	var b time.Duration
	for range 9 {
		b = c.nextBackoff(b)
		got = append(got, b)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i := range want {
		want[i] *= time.Second
	}
	if !slices.Equal(got, want) {
		t.Errorf("backoffs %v, want %v", got, want)
	}
}

// TestConsumerSteps drives Poll on the in-memory queue, one receive at a time, on a
// clock the test steps.
func TestConsumerSteps(t *testing.T) {
	ctx := context.Background()
	spot := fixture(t, "spot-interruption.json")
	setup := func(handle func(context.Context, cloud.InterruptionEvent) error) (*fake.InterruptionQueue, *clocktesting.FakeClock, *Consumer) {
		q := &fake.InterruptionQueue{}
		clk := clocktesting.NewFakeClock(time.Date(2026, 11, 3, 14, 0, 0, 0, time.UTC))
		return q, clk, &Consumer{Queue: q, Handle: handle, Clock: clk, DedupeWindow: 10 * time.Minute}
	}
	poll := func(t *testing.T, c *Consumer) {
		t.Helper()
		if err := c.Poll(ctx); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("a duplicate within the window is deleted unhandled; after it, handled again", func(t *testing.T) {
		rec := &recorder{}
		q, clk, c := setup(rec.handle)
		before := readCounts()
		q.Send(spot)
		q.Send(spot)
		poll(t, c)
		clk.Step(9 * time.Minute)
		q.Send(spot)
		poll(t, c)
		if n := len(rec.got()); n != 1 {
			t.Fatalf("handled %d times within the window, want once", n)
		}
		clk.Step(2 * time.Minute)
		q.Send(spot)
		poll(t, c)
		if n := len(rec.got()); n != 2 {
			t.Fatalf("handled %d times, want twice: the first handling is out of the window", n)
		}
		if q.Len() != 0 || len(q.Deleted()) != 4 {
			t.Errorf("%d messages left, %d deleted; want 0 and 4", q.Len(), len(q.Deleted()))
		}
		want := map[[2]string]float64{{"SpotInterruption", "handled"}: 2, {"SpotInterruption", "duplicate"}: 2}
		if got := readCounts().since(before); !mapsEqual(got, want) {
			t.Errorf("counted %v, want %v", got, want)
		}
	})

	t.Run("a failed handling leaves the message for redelivery", func(t *testing.T) {
		fail := true
		rec := &recorder{then: func(cloud.InterruptionEvent) error {
			if fail {
				return errors.New("the API server is away")
			}
			return nil
		}}
		q, _, c := setup(rec.handle)
		before := readCounts()
		q.Send(spot)
		poll(t, c)
		if q.Len() != 1 || len(q.Deleted()) != 0 {
			t.Fatalf("after a failure: %d messages, %d deleted; want the message kept", q.Len(), len(q.Deleted()))
		}
		fail = false
		q.Expire()
		poll(t, c)
		if len(rec.got()) != 2 || q.Len() != 0 {
			t.Fatalf("handled %d times, %d messages left; want the redelivery handled and deleted", len(rec.got()), q.Len())
		}
		if got := q.Deleted()[0].ReceiveCount; got != 2 {
			t.Errorf("deleted on delivery %d, want 2", got)
		}
		want := map[[2]string]float64{{"SpotInterruption", "failed"}: 1, {"SpotInterruption", "handled"}: 1}
		if got := readCounts().since(before); !mapsEqual(got, want) {
			t.Errorf("counted %v, want %v", got, want)
		}
	})

	t.Run("a failed delete is counted; the redelivery is a duplicate", func(t *testing.T) {
		rec := &recorder{}
		q, _, c := setup(rec.handle)
		before := readCounts()
		q.Send(spot)
		q.FailNextDelete(errors.New("AccessDenied"))
		poll(t, c)
		if q.Len() != 1 {
			t.Fatalf("%d messages left, want the one not deleted", q.Len())
		}
		q.Expire()
		poll(t, c)
		if len(rec.got()) != 1 || q.Len() != 0 {
			t.Fatalf("handled %d times, %d messages left; want once, none", len(rec.got()), q.Len())
		}
		after := readCounts()
		want := map[[2]string]float64{{"SpotInterruption", "handled"}: 1, {"SpotInterruption", "duplicate"}: 1}
		if got := after.since(before); !mapsEqual(got, want) {
			t.Errorf("counted %v, want %v", got, want)
		}
		if d := after.deleteErrors - before.deleteErrors; d != 1 {
			t.Errorf("%v delete errors, want 1", d)
		}
	})

	t.Run("a panicking handler fails the event, and the consumer goes on", func(t *testing.T) {
		panics := true
		rec := &recorder{then: func(cloud.InterruptionEvent) error {
			if panics {
				panic("bug")
			}
			return nil
		}}
		q, _, c := setup(rec.handle)
		before := readCounts()
		q.Send(spot)
		q.Send(fixture(t, "state-change.json"))
		poll(t, c)
		if q.Len() != 2 {
			t.Fatalf("%d messages left, want both", q.Len())
		}
		panics = false
		q.Expire()
		poll(t, c)
		want := map[[2]string]float64{
			{"SpotInterruption", "failed"}: 1, {"StateChange", "failed"}: 1,
			{"SpotInterruption", "handled"}: 1, {"StateChange", "handled"}: 1,
		}
		if got := readCounts().since(before); !mapsEqual(got, want) {
			t.Errorf("counted %v, want %v", got, want)
		}
	})

	t.Run("a failed receive is counted and returned", func(t *testing.T) {
		q, _, c := setup((&recorder{}).handle)
		before := readCounts()
		q.FailNextReceive(errors.New("connection refused"))
		if err := c.Poll(ctx); err == nil {
			t.Fatal("no error")
		}
		if d := readCounts().receiveErrors - before.receiveErrors; d != 1 {
			t.Errorf("%v receive errors, want 1", d)
		}
	})

	t.Run("the handled events remembered are bounded", func(t *testing.T) {
		_, clk, c := setup((&recorder{}).handle)
		for i := range maxRemembered + 5 {
			c.remember(fmt.Sprintf("ev-%d", i))
			clk.Step(time.Millisecond)
		}
		if len(c.handled) != maxRemembered || c.handledRecently("ev-0") || !c.handledRecently(fmt.Sprintf("ev-%d", maxRemembered+4)) {
			t.Errorf("%d events remembered, the oldest %v", len(c.handled), c.handledRecently("ev-0"))
		}
	})

	t.Run("Run refuses to start without a queue or a handler", func(t *testing.T) {
		if err := (&Consumer{Queue: &fake.InterruptionQueue{}}).Run(ctx); err == nil {
			t.Error("no error without a handler")
		}
		if err := (&Consumer{Handle: (&recorder{}).handle}).Run(ctx); err == nil {
			t.Error("no error without a queue")
		}
	})
}
