// Package podstore is how Ballast's controllers and webhooks read pods: the manager's
// cache keeps a compact record of each pod (Pod) rather than a corev1.Pod, and this
// package reads those records from the pod informer's store, without copying them.
//
// The cache holds every pod of the cluster on every replica, so a pod's size there is
// most of the controller's memory: a corev1.Pod struct is 1,240 bytes before any of
// its fields is set, the record about 330, and the pods of a workload share one spec.
// A list through the cache's client would also copy each pod's struct even with
// client.UnsafeDisableDeepCopy (a list's items are values): the informer's store holds
// pointers, and this package hands those out. The cache's client cannot read the
// records as corev1.Pods: every reader goes through a Reader.
package podstore

import (
	"context"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Unfinished selects the pods that have not run to completion (phase neither Succeeded
// nor Failed): the only pods the manager's cache holds (controllers.CacheOptions). A
// finished pod holds no capacity on its node, counts in no workload's split and is
// never evicted or replaced, so no controller reads it, and a cluster may keep
// thousands: the pod garbage collector deletes finished pods only past
// kube-controller-manager's --terminated-pod-gc-threshold, 12,500 by default. A pod
// that finishes leaves the cache as if deleted.
var Unfinished = fields.AndSelectors(
	fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
	fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed)),
)

// Reader reads the pods of the cluster as the cache keeps them (Pod). The pods are the
// cache's own: read them, never change them (changes go to the API server through a
// client).
type Reader interface {
	// All returns every pod.
	All(ctx context.Context) ([]*Pod, error)
	// Selected returns the pods of a namespace that sel selects (podstore.Selector:
	// the cache's pods lack the node's topology labels).
	Selected(ctx context.Context, namespace string, sel labels.Selector) ([]*Pod, error)
	// AddIndex indexes the pods by the values f gives each (none: not indexed). Call it
	// before the cache starts.
	AddIndex(name string, f func(*Pod) []string) error
	// Indexed returns the pods AddIndex's f gave value under name.
	Indexed(ctx context.Context, name, value string) ([]*Pod, error)
}

// informer is the part of a client-go informer (what the manager's
// cache.GetInformer returns) FromInformer reads.
type informer interface {
	GetIndexer() toolscache.Indexer
	AddIndexers(toolscache.Indexers) error
}

// FromInformer reads the pods the informer's store holds (the manager's
// cache.GetInformer for Pods).
func FromInformer(i any) (Reader, error) {
	s, ok := i.(informer)
	if !ok {
		return nil, fmt.Errorf("the pod informer (%T) has no indexed store to read", i)
	}
	return store{s}, nil
}

// ForManager reads the pods of the manager's cache.
func ForManager(ctx context.Context, c interface {
	GetInformer(ctx context.Context, obj client.Object, opts ...crcache.InformerGetOption) (crcache.Informer, error)
}) (Reader, error) {
	i, err := c.GetInformer(ctx, &corev1.Pod{})
	if err != nil {
		return nil, fmt.Errorf("failed to get the pod informer: %w", err)
	}
	return FromInformer(i)
}

type store struct{ i informer }

func records(items []any) []*Pod {
	out := make([]*Pod, 0, len(items))
	for _, item := range items {
		if p, ok := Of(item); ok {
			out = append(out, p)
		}
	}
	return out
}

func (r store) All(context.Context) ([]*Pod, error) { return records(r.i.GetIndexer().List()), nil }

func (r store) Selected(_ context.Context, namespace string, sel labels.Selector) ([]*Pod, error) {
	items, err := r.i.GetIndexer().ByIndex(toolscache.NamespaceIndex, namespace)
	if err != nil {
		return nil, err
	}
	var out []*Pod
	for _, item := range items {
		if p, ok := Of(item); ok && sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out, nil
}

func indexName(name string) string { return "ballast:" + name }

func (r store) AddIndex(name string, f func(*Pod) []string) error {
	if _, ok := r.i.GetIndexer().GetIndexers()[indexName(name)]; ok {
		// Indexed already (the informer is the manager's, shared), by the function
		// that owns the name.
		return nil
	}
	return r.i.AddIndexers(toolscache.Indexers{indexName(name): func(obj any) ([]string, error) {
		if p, ok := Of(obj); ok {
			return f(p), nil
		}
		return nil, nil
	}})
}

func (r store) Indexed(_ context.Context, name, value string) ([]*Pod, error) {
	items, err := r.i.GetIndexer().ByIndex(indexName(name), value)
	if err != nil {
		return nil, err
	}
	return records(items), nil
}

// FromClient lists the pods through c (without deep copies when c reads from a
// cache of whole pods): for controllers built without the cache's informer, in tests.
func FromClient(c client.Reader) Reader {
	return &clientReader{c: c, indexes: map[string]func(*Pod) []string{}}
}

type clientReader struct {
	c       client.Reader
	mu      sync.Mutex
	indexes map[string]func(*Pod) []string
}

func (r *clientReader) list(ctx context.Context, opts ...client.ListOption) ([]*Pod, error) {
	var list corev1.PodList
	if err := r.c.List(ctx, &list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		return nil, err
	}
	out := make([]*Pod, len(list.Items))
	for i := range list.Items {
		out[i] = FromPod(&list.Items[i])
	}
	return out, nil
}

func (r *clientReader) All(ctx context.Context) ([]*Pod, error) { return r.list(ctx) }

func (r *clientReader) Selected(ctx context.Context, namespace string, sel labels.Selector) ([]*Pod, error) {
	return r.list(ctx, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: sel})
}

func (r *clientReader) AddIndex(name string, f func(*Pod) []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.indexes[name] = f
	return nil
}

func (r *clientReader) Indexed(ctx context.Context, name, value string) ([]*Pod, error) {
	r.mu.Lock()
	f := r.indexes[name]
	r.mu.Unlock()
	if f == nil {
		return nil, fmt.Errorf("no pod index %q", name)
	}
	all, err := r.list(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Pod
	for _, p := range all {
		if slices.Contains(f(p), value) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Or returns r, or a Reader listing through c when r is nil.
func Or(r Reader, c client.Reader) Reader {
	if r != nil {
		return r
	}
	return FromClient(c)
}
