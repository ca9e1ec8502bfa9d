package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	splitmodel "github.com/ballast-dev/ballast/split"
)

// BenchmarkFallback measures fallback on the whole cluster with the real controller:
// a Deployment whose 4 replicas all run on Spot scales to 8 while Spot is unavailable.
// reaction-s is the time from the first new Spot replica reported unschedulable to all 8
// Running, minus spot.fallback.after; return-s is the time from Spot coming back to all
// 8 on Spot again, minus spot.fallback.reverseInterval.
//
//	go test -run '^$' -bench BenchmarkFallback -benchtime 1x ./test/e2e/
func BenchmarkFallback(b *testing.B) {
	ctx := context.Background()
	after, _ := fallbackAfter.Parse()
	interval, _ := reverseInterval.Parse()
	var reaction, back time.Duration
	for i := 0; i < b.N; i++ {
		ns := newNamespace(b)
		leaveSpotAvailable(b, ns)
		optIn(b, ns)
		createRule(b, ns, 0, 0, v1alpha1.LeastInterrupted) // a new Spot node per Spot replica
		if err := kube.Client.Create(ctx, deployment(ns, "bench", 4, "250m", nil)); err != nil {
			b.Fatal(err)
		}
		waitSplit(b, ns, "bench", splitmodel.Counts{Spot: 4}, 3*time.Minute)
		waitSpotNodesOnlyFor(b, ns)
		b.ResetTimer()
		restore := spotOutage(b)
		scale(b, ns, "bench", 8)
		var firstUnschedulable time.Time
		err := kube.Eventually(ctx, "all 8 replicas Running", 3*time.Minute, func(ctx context.Context) (bool, string, error) {
			var pods corev1.PodList
			if err := kube.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "bench"}); err != nil {
				return false, "", err
			}
			for _, p := range pods.Items {
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable && firstUnschedulable.IsZero() {
						firstUnschedulable = time.Now()
					}
				}
			}
			running, err := kube.RunningPods(ctx, ns, appSelector("bench"))
			return len(running) == 8 && !firstUnschedulable.IsZero(), fmt.Sprintf("%d running", len(running)), err
		})
		if err != nil {
			b.Fatal(err)
		}
		reaction += time.Since(firstUnschedulable) - after
		restore()
		restored := time.Now()
		waitSplit(b, ns, "bench", splitmodel.Counts{Spot: 8}, 4*time.Minute)
		back += time.Since(restored) - interval
		b.StopTimer()
		if err := kube.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
		waitAvailable(b)
		b.StartTimer()
	}
	b.ReportMetric((reaction / time.Duration(b.N)).Seconds(), "reaction-s")
	b.ReportMetric((back / time.Duration(b.N)).Seconds(), "return-s")
}
