package interruption

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/cloud"
	"github.com/ballast-dev/ballast/localcluster"
)

// BenchmarkConsumerThroughput measures one consumer reading, parsing, handing to a
// handler that does nothing, and deleting messages over the real SQS protocol
// (fauxqs on this machine): an operation is one message, and msgs/s the throughput.
// The b.N messages are sent before the timer starts.
func BenchmarkConsumerThroughput(b *testing.B) {
	s, err := localcluster.StartSQS(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Stop()
	ctx := context.Background()
	url, err := s.CreateQueue(ctx, fmt.Sprintf("bench-%d", b.N), 30*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		body := fmt.Appendf(nil, `{"version":"0","id":"bench-%d","detail-type":"EC2 Spot Instance Interruption Warning",`+
			`"source":"aws.ec2","account":"123456789012","time":"2026-11-03T14:05:37Z","region":"eu-west-1",`+
			`"resources":[],"detail":{"instance-id":"i-%017x","instance-action":"terminate"}}`, i, i)
		if _, err := s.Send(ctx, url, body); err != nil {
			b.Fatal(err)
		}
	}
	handled := 0
	c := &Consumer{Queue: sqsQueue(b, s, url), Handle: func(context.Context, cloud.InterruptionEvent) error {
		handled++
		return nil
	}}
	b.ResetTimer()
	start := time.Now()
	for handled < b.N {
		if err := c.Poll(ctx); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	if visible, hidden, err := s.Count(ctx, url); err != nil || visible+hidden != 0 {
		b.Fatalf("%d messages left (%v)", visible+hidden, err)
	}
}
