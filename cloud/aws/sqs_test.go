package aws

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/ballast-dev/ballast/cloud"
	"github.com/ballast-dev/ballast/localcluster"
)

// startSQS starts fauxqs, which speaks SQS's JSON protocol, for one test.
func startSQS(t *testing.T) *localcluster.SQS {
	t.Helper()
	dir := t.TempDir()
	s, err := localcluster.StartSQS(context.Background(), dir)
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

// sqsConfig is the SDK configuration for s with a fast retryer, so that calls to a
// stopped server fail quickly.
func sqsConfig(s *localcluster.SQS) awssdk.Config {
	cfg := s.Config()
	cfg.Retryer = func() awssdk.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 2; o.Backoff = noBackoff{} })
	}
	return cfg
}

// fixtureBody reads one of cloud's EventBridge fixtures.
func fixtureBody(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "interruptions", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// receiveAll receives until n messages came (SQS may answer with fewer than there
// are).
func receiveAll(t *testing.T, q *InterruptionQueue, n int) []cloud.InterruptionMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var got []cloud.InterruptionMessage
	for len(got) < n {
		msgs, err := q.Receive(ctx)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(got), n, err)
		}
		got = append(got, msgs...)
	}
	if len(got) != n {
		t.Fatalf("received %d messages, want %d", len(got), n)
	}
	return got
}

// recordingTransport keeps the body of every request it passes on.
type recordingTransport struct {
	mu     sync.Mutex
	bodies []string
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		data, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(data))
		r.mu.Lock()
		r.bodies = append(r.bodies, req.Header.Get("X-Amz-Target")+" "+string(data))
		r.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recordingTransport) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bodies)
}

func TestInterruptionQueue(t *testing.T) {
	s := startSQS(t)
	ctx := context.Background()
	newQueue := func(t *testing.T, name string, visibility time.Duration) string {
		t.Helper()
		url, err := s.CreateQueue(ctx, name, visibility)
		if err != nil {
			t.Fatal(err)
		}
		return url
	}
	send := func(t *testing.T, url string, body []byte) string {
		t.Helper()
		id, err := s.Send(ctx, url, body)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	count := func(t *testing.T, url string, wantVisible, wantHidden int) {
		t.Helper()
		visible, hidden, err := s.Count(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if visible != wantVisible || hidden != wantHidden {
			t.Errorf("the queue holds %d visible and %d hidden messages, want %d and %d", visible, hidden, wantVisible, wantHidden)
		}
	}

	t.Run("receive and delete", func(t *testing.T) {
		url := newQueue(t, "receive-delete", 30*time.Second)
		bodies := map[string][]byte{}
		for _, f := range []string{"spot-interruption.json", "rebalance-recommendation.json", "scheduled-change.json"} {
			bodies[send(t, url, fixtureBody(t, f))] = fixtureBody(t, f)
		}
		rec := &recordingTransport{}
		cfg := sqsConfig(s)
		cfg.HTTPClient = &http.Client{Transport: rec}
		q, err := NewInterruptionQueue(cfg, url)
		if err != nil {
			t.Fatal(err)
		}
		got := receiveAll(t, q, len(bodies))
		var handles []string
		for _, m := range got {
			want, ok := bodies[m.ID]
			if !ok {
				t.Fatalf("message %q was never sent", m.ID)
			}
			if string(m.Body) != string(want) {
				t.Errorf("message %s: body %q, want %q", m.ID, m.Body, want)
			}
			if m.ReceiptHandle == "" || slices.Contains(handles, m.ReceiptHandle) {
				t.Errorf("message %s: receipt handle %q is not its own", m.ID, m.ReceiptHandle)
			}
			handles = append(handles, m.ReceiptHandle)
			if m.ReceiveCount != 1 {
				t.Errorf("message %s: receive count %d on its first delivery", m.ID, m.ReceiveCount)
			}
		}
		count(t, url, 0, len(bodies))
		for _, m := range got {
			if err := q.Delete(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		count(t, url, 0, 0)

		// Long polling for the most messages SQS gives, with their receive counts.
		reqs := rec.requests()
		if len(reqs) == 0 {
			t.Fatal("no request recorded")
		}
		for _, r := range reqs {
			target, body, _ := strings.Cut(r, " ")
			var in struct {
				QueueURL                    string   `json:"QueueUrl"`
				MaxNumberOfMessages         int      `json:"MaxNumberOfMessages"`
				WaitTimeSeconds             int      `json:"WaitTimeSeconds"`
				MessageSystemAttributeNames []string `json:"MessageSystemAttributeNames"`
				ReceiptHandle               string   `json:"ReceiptHandle"`
			}
			if err := json.Unmarshal([]byte(body), &in); err != nil {
				t.Fatalf("%s: %v", target, err)
			}
			if in.QueueURL != url {
				t.Errorf("%s for queue %q, want %q", target, in.QueueURL, url)
			}
			switch target {
			case "AmazonSQS.ReceiveMessage":
				if in.MaxNumberOfMessages != 10 || in.WaitTimeSeconds != 20 || !slices.Equal(in.MessageSystemAttributeNames, []string{"ApproximateReceiveCount"}) {
					t.Errorf("not a long poll for 10 messages with their receive counts: %s", body)
				}
			case "AmazonSQS.DeleteMessage":
				if !slices.Contains(handles, in.ReceiptHandle) {
					t.Errorf("deleted with receipt handle %q, not one received", in.ReceiptHandle)
				}
			default:
				t.Errorf("unexpected call %s %s", target, body)
			}
		}
	})

	t.Run("by name", func(t *testing.T) {
		url := newQueue(t, "by-name", 30*time.Second)
		id := send(t, url, fixtureBody(t, "state-change.json"))
		q, err := NewInterruptionQueue(sqsConfig(s), "by-name")
		if err != nil {
			t.Fatal(err)
		}
		got := receiveAll(t, q, 1)
		if got[0].ID != id {
			t.Errorf("received %q, want %q", got[0].ID, id)
		}
		if err := q.Delete(ctx, got[0]); err != nil {
			t.Fatal(err)
		}
		count(t, url, 0, 0)
	})

	t.Run("delivered again after the visibility timeout", func(t *testing.T) {
		url := newQueue(t, "redelivery", time.Second)
		id := send(t, url, fixtureBody(t, "spot-interruption.json"))
		q, err := NewInterruptionQueue(sqsConfig(s), url)
		if err != nil {
			t.Fatal(err)
		}
		first := receiveAll(t, q, 1)[0]
		// Not deleted: once hidden for a second, the long poll gets it again.
		second := receiveAll(t, q, 1)[0]
		if first.ID != id || second.ID != id {
			t.Fatalf("received %q then %q, want %q twice", first.ID, second.ID, id)
		}
		if first.ReceiveCount != 1 || second.ReceiveCount != 2 {
			t.Errorf("receive counts %d then %d, want 1 then 2", first.ReceiveCount, second.ReceiveCount)
		}
		if first.ReceiptHandle == second.ReceiptHandle {
			t.Error("the second delivery has the first one's receipt handle")
		}
		if err := q.Delete(ctx, second); err != nil {
			t.Fatal(err)
		}
		count(t, url, 0, 0)
	})

	t.Run("a queue that does not exist", func(t *testing.T) {
		q, err := NewInterruptionQueue(sqsConfig(s), "missing")
		if err != nil {
			t.Fatal(err)
		}
		_, err = q.Receive(ctx)
		if !cloud.IsNotFound(err) {
			t.Fatalf("want a not-found error, got %v", err)
		}
		if !strings.Contains(err.Error(), "missing") || strings.Contains(err.Error(), testSecret) {
			t.Errorf("the error does not name the queue, or shows the secret: %v", err)
		}
	})
}

func TestInterruptionQueueServerGone(t *testing.T) {
	s := startSQS(t)
	ctx := context.Background()
	url, err := s.CreateQueue(ctx, "gone", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Whoever puts credentials in the queue's URL does not see them in errors.
	url = strings.Replace(url, "://", "://user:hunter2@", 1)
	q, err := NewInterruptionQueue(sqsConfig(s), url)
	if err != nil {
		t.Fatal(err)
	}
	s.Stop()
	_, err = q.Receive(ctx)
	if err == nil || !strings.Contains(err.Error(), "failed to receive interruption messages from") {
		t.Fatalf("want a receive error, got %v", err)
	}
	errs := []error{err}
	err = q.Delete(ctx, cloud.InterruptionMessage{ID: "m-1", ReceiptHandle: "r-1"})
	if err == nil || !strings.Contains(err.Error(), "failed to delete interruption message m-1") {
		t.Fatalf("want a delete error, got %v", err)
	}
	for _, err := range append(errs, err) {
		for _, secret := range []string{"hunter2", testSecret} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows %q: %v", secret, err)
			}
		}
	}
}

func TestNewInterruptionQueueRefuses(t *testing.T) {
	for queue, says := range map[string]string{
		"":                          "no interruption queue",
		"my queue":                  "neither a URL",
		"arn:aws:sqs:eu-west-1:1:q": "neither a URL",
		strings.Repeat("q", 81):     "neither a URL",
		"https://user:" + testSecret + "@sqs.eu-west-1.amazonaws.com/1/q\n": "",
	} {
		q, err := NewInterruptionQueueFromClient(nil, queue)
		if says == "" {
			// A URL is taken as it is; SQS says what is wrong with it.
			if err != nil {
				t.Errorf("%q: %v", queue, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: got %v, %v; want an error saying %q", queue, q, err, says)
		}
	}
	// A URL is taken as it is: SQS says what is wrong with it.
	for _, ok := range []string{"https://sqs.eu-west-1.amazonaws.com/123456789012/q", "ballast-interruptions", "Ballast_Q1", strings.Repeat("q", 80), strings.Repeat("q", 75) + ".fifo"} {
		if _, err := NewInterruptionQueueFromClient(nil, ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}
