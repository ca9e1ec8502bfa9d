// Package podstore reads every pod of the cluster from the manager's cache without
// copying them.
//
// A list of every pod through the cache's client costs a copy of each pod's struct even
// with client.UnsafeDisableDeepCopy (the list's items are values): about 1.2 KB a pod,
// 24 MB a pass at 20,000 pods, made again by each controller that reads the whole
// cluster (bin-packing, cost, the return from fallback). The informer's store holds
// pointers; this package hands those out.
package podstore

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	toolscache "k8s.io/client-go/tools/cache"
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

// Reader lists every pod of the cluster. The pods are the cache's own: read them, never
// change them (changes go to the API server through a client).
type Reader interface {
	All(ctx context.Context) ([]*corev1.Pod, error)
}

// storeOwner is the part of a client-go informer (what the manager's
// cache.GetInformer returns) FromInformer reads.
type storeOwner interface {
	GetStore() toolscache.Store
}

// FromInformer reads the pods the informer's store holds (the manager's
// cache.GetInformer for Pods).
func FromInformer(informer any) (Reader, error) {
	s, ok := informer.(storeOwner)
	if !ok {
		return nil, fmt.Errorf("the pod informer (%T) has no store to read", informer)
	}
	return store{s.GetStore()}, nil
}

type store struct{ s toolscache.Store }

func (r store) All(context.Context) ([]*corev1.Pod, error) {
	items := r.s.List()
	out := make([]*corev1.Pod, 0, len(items))
	for _, item := range items {
		if p, ok := item.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// FromClient lists the pods through c (without deep copies when c reads from a
// cache): for controllers built without the cache's informer, in tests.
func FromClient(c client.Reader) Reader { return clientReader{c} }

type clientReader struct{ c client.Reader }

func (r clientReader) All(ctx context.Context) ([]*corev1.Pod, error) {
	var list corev1.PodList
	if err := r.c.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
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
