package interruption

import (
	"context"

	"github.com/ballast-dev/ballast/cloud"
)

// Handle records one event from Ballast's interruption queue (Consumer.Handle): a Spot
// interruption warning or a rebalance recommendation goes to Notify; instance state
// changes and scheduled changes change nothing (Karpenter replaces those nodes, and
// they say nothing about Spot capacity). It is idempotent, as the queue needs.
func (r *Reconciler) Handle(ctx context.Context, ev cloud.InterruptionEvent) error {
	switch ev.Kind {
	case cloud.SpotInterruption:
		return r.Notify(ctx, SpotInterruptionReason, ev.InstanceIDs, ev.Time)
	case cloud.RebalanceRecommendation:
		return r.Notify(ctx, RebalanceRecommendationReason, ev.InstanceIDs, ev.Time)
	}
	return nil
}

// QueueReader runs a Consumer of Ballast's interruption queue that hands every event
// to the controller, on the leader only: one replica reads the queue.
type QueueReader struct {
	Consumer *Consumer
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (q *QueueReader) NeedLeaderElection() bool { return true }

// Start reads the queue until ctx ends.
func (q *QueueReader) Start(ctx context.Context) error { return q.Consumer.Run(ctx) }
