package controllers

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/test/controlplane"
)

// TestCacheLeavesOutFinishedPods runs the manager's cache, trimmed and whole, against a
// real API server: pods that have run to completion (Succeeded, Failed) are never in
// it, a pod that finishes leaves it as if deleted, and pending and running pods stay.
func TestCacheLeavesOutFinishedPods(t *testing.T) {
	env, err := controlplane.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	ctx := context.Background()
	for _, trimmed := range []bool{true, false} {
		t.Run(fmt.Sprintf("trimmed=%v", trimmed), func(t *testing.T) {
			ns := fmt.Sprintf("finished-%v", trimmed)
			if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				t.Fatal(err)
			}
			phases := map[string]corev1.PodPhase{"pending": "", "running": corev1.PodRunning, "succeeded": corev1.PodSucceeded, "failed": corev1.PodFailed}
			for name, phase := range phases {
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
				}
				if err := env.Client.Create(ctx, pod); err != nil {
					t.Fatal(err)
				}
				if phase != "" {
					setPhase(t, env.Client, pod, phase)
				}
			}

			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			opts := CacheOptions(trimmed)
			opts.Scheme = controlplane.Scheme
			c, err := cache.New(env.Config, opts)
			if err != nil {
				t.Fatal(err)
			}
			pods, err := podstore.ForManager(runCtx, c)
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = c.Start(runCtx) }()
			if !c.WaitForCacheSync(runCtx) {
				t.Fatal("the cache did not sync")
			}
			cached := func(want ...string) {
				t.Helper()
				var got []string
				err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
					// Read as the controllers read them: the informer's store.
					in, err := pods.Selected(ctx, ns, labels.Everything())
					if err != nil {
						return false, err
					}
					got = got[:0]
					for _, p := range in {
						got = append(got, p.Name)
					}
					slices.Sort(got)
					return slices.Equal(got, want), nil
				})
				if err != nil {
					t.Fatalf("the cache holds the pods %v, want %v", got, want)
				}
			}
			cached("pending", "running")

			running := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "running"}}
			setPhase(t, env.Client, running, corev1.PodSucceeded)
			cached("pending")
			if all, _ := pods.All(ctx); slices.ContainsFunc(all, func(p *podstore.Pod) bool { return p.Namespace == ns && p.Name == "running" }) {
				t.Fatal("a pod that finished is still read from the cache")
			}
			// Still on the server: finished, not deleted.
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(running), &corev1.Pod{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func setPhase(t *testing.T, c client.Client, pod *corev1.Pod, phase corev1.PodPhase) {
	t.Helper()
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"status":{"phase":%q}}`, phase))
	if err := c.Status().Patch(context.Background(), pod, patch); err != nil {
		t.Fatal(err)
	}
}
