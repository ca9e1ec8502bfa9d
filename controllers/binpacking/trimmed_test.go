package binpacking_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/controllers"
	"github.com/ballast-dev/ballast/controllers/binpacking"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/controllers/internal/trim"
	"github.com/ballast-dev/ballast/test/controlplane"
)

// TestMarksNodesThroughTheTrimmedCache runs bin-packing as the manager runs it: reading
// from the trimmed cache, writing through the guard. The cache holds only Ballast's
// annotations of a node, so removing the underused mark must remove that one key and
// leave the node's other annotations (Karpenter's, the kubelet's) on the server.
func TestMarksNodesThroughTheTrimmedCache(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "bp-trimmed", cpu30, nil)
	f.r.Client, f.r.Pods = trimmedClient(t)
	f.node("small", true)
	name := f.cluster + "-small"
	var n corev1.Node
	if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil {
		t.Fatal(err)
	}
	n.Annotations = map[string]string{"karpenter.sh/nodepool-hash": "42", "node.alpha.kubernetes.io/ttl": "0"}
	if err := env.Client.Update(ctx, &n); err != nil {
		t.Fatal(err)
	}
	f.pod("a", "small", "500m")
	waitCached(t, f.r.Client, func(c client.Reader) bool {
		pods, err := f.r.Pods.Selected(ctx, f.ns, labels.Everything())
		var n corev1.Node
		return err == nil && len(pods) == 1 &&
			c.Get(ctx, client.ObjectKey{Name: name}, &n) == nil && n.Status.Allocatable.Cpu().Value() == 4
	})

	f.pass(0)
	server := func() *corev1.Node {
		var n corev1.Node
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil {
			t.Fatal(err)
		}
		return &n
	}
	if got := server().Annotations; got[binpacking.UnderusedSinceAnnotation] == "" || got["karpenter.sh/nodepool-hash"] != "42" {
		t.Fatalf("an underused node: annotations %v, want the mark beside Karpenter's", got)
	}
	f.pod("b", "small", "2")
	waitCached(t, f.r.Client, func(c client.Reader) bool {
		pods, err := f.r.Pods.Selected(ctx, f.ns, labels.Everything())
		var n corev1.Node
		return err == nil && len(pods) == 2 &&
			c.Get(ctx, client.ObjectKey{Name: name}, &n) == nil && n.Annotations[binpacking.UnderusedSinceAnnotation] != ""
	})
	f.pass(time.Minute)
	got := server().Annotations
	if _, marked := got[binpacking.UnderusedSinceAnnotation]; marked || got["karpenter.sh/nodepool-hash"] != "42" || got["node.alpha.kubernetes.io/ttl"] != "0" {
		t.Fatalf("a busy node again: annotations %v, want Karpenter's and the kubelet's only", got)
	}
}

// trimmedClient reads from a cache configured as the manager's, through the guard, and
// its pods from the informer's store, as the manager's controllers do.
func trimmedClient(t *testing.T) (client.Client, podstore.Reader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	opts := controllers.CacheOptions(true)
	opts.Scheme = controlplane.Scheme
	informers, err := cache.New(env.Config, opts)
	if err != nil {
		t.Fatal(err)
	}
	pods, err := podstore.ForManager(ctx, informers)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := informers.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "cache:", err)
		}
	}()
	c, err := client.New(env.Config, client.Options{Scheme: controlplane.Scheme, Cache: &client.CacheOptions{Reader: informers}})
	if err != nil {
		t.Fatal(err)
	}
	return trim.Guard(c), pods
}

func waitCached(t *testing.T, c client.Reader, done func(client.Reader) bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return done(c), nil
	})
	if err != nil {
		t.Fatal("the cache did not catch up")
	}
}
