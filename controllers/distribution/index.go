package distribution

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// PodIndex keeps, from the pod informer's events, how many pods of each owner (a
// ReplicaSet, a Job, a StatefulSet) count in each class, which reservations their pods
// carry and which pods are present, so that an admission reads a workload's split in
// O(owners) instead of listing and copying its pods: the last pod of a 3,000-replica
// scale-up costs what the first did. It counts what the cache shows, like a list would:
// pods admitted moments ago that the cache does not show yet are the reservations'
// business (the ledger's, or the decider's in memory).
type PodIndex struct {
	// nodes returns the capacity type of a node, for pods Ballast did not place.
	nodes func(name string) string
	// synced reports whether the informer delivered its initial list to the index.
	synced func() bool

	mu sync.RWMutex
	// pods holds every counted pod (not terminating, not finished, with a controller).
	pods map[types.UID]indexedPod
	// owners holds the counts per owner UID.
	owners map[types.UID]*split.Counts
	// reservations maps the reservation of every counted pod to the pod.
	reservations map[string]types.UID
}

// indexedPod is what the index remembers of a pod: enough to undo its count.
type indexedPod struct {
	owner       types.UID
	spot        bool
	reservation string
}

// eventSource is the part of an informer NewPodIndex needs.
type eventSource interface {
	AddEventHandler(handler toolscache.ResourceEventHandler) (toolscache.ResourceEventHandlerRegistration, error)
}

// NewPodIndex registers a PodIndex on the pod informer (the manager's
// cache.GetInformer for Pods); nodes reads the capacity type of the node an unplaced
// pod runs on (usually from the same cache).
func NewPodIndex(informer eventSource, nodes client.Reader) (*PodIndex, error) {
	x := newPodIndex(NodeCapacity(context.Background(), nodes))
	reg, err := informer.AddEventHandler(x)
	if err != nil {
		return nil, fmt.Errorf("failed to watch pods for the placement index: %w", err)
	}
	x.synced = reg.HasSynced
	return x, nil
}

func newPodIndex(nodes func(string) string) *PodIndex {
	return &PodIndex{
		nodes: nodes, pods: map[types.UID]indexedPod{},
		owners: map[types.UID]*split.Counts{}, reservations: map[string]types.UID{},
	}
}

// Synced reports whether the index holds every pod of the informer's initial list.
func (x *PodIndex) Synced() bool { return x != nil && x.synced != nil && x.synced() }

// OnAdd counts a pod.
func (x *PodIndex) OnAdd(obj any, _ bool) { x.set(obj) }

// OnUpdate recounts a pod (it may have become terminating, finished, or bound to a
// node whose capacity type decides its class).
func (x *PodIndex) OnUpdate(_, obj any) { x.set(obj) }

// OnDelete uncounts a pod.
func (x *PodIndex) OnDelete(obj any) {
	if pod, ok := podstore.Of(obj); ok {
		x.mu.Lock()
		defer x.mu.Unlock()
		x.remove(pod.UID)
	}
}

func (x *PodIndex) set(obj any) {
	pod, ok := podstore.Of(obj)
	if !ok {
		return
	}
	owner := metav1.GetControllerOf(pod)
	counted := owner != nil && pod.DeletionTimestamp == nil &&
		pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
	var entry indexedPod
	if counted {
		entry = indexedPod{
			owner:       owner.UID,
			spot:        IntendedCapacity(pod, x.nodes) == v1alpha1.CapacitySpot,
			reservation: pod.Reservation,
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.pods[pod.UID]; ok && counted && old == entry {
		return
	}
	x.remove(pod.UID)
	if !counted {
		return
	}
	x.pods[pod.UID] = entry
	c := x.owners[entry.owner]
	if c == nil {
		c = &split.Counts{}
		x.owners[entry.owner] = c
	}
	if entry.spot {
		c.Spot++
	} else {
		c.OnDemand++
	}
	if entry.reservation != "" {
		x.reservations[entry.reservation] = pod.UID
	}
}

// remove uncounts a pod; x.mu is held.
func (x *PodIndex) remove(uid types.UID) {
	old, ok := x.pods[uid]
	if !ok {
		return
	}
	delete(x.pods, uid)
	if c := x.owners[old.owner]; c != nil {
		if old.spot {
			c.Spot--
		} else {
			c.OnDemand--
		}
		if c.Total() == 0 {
			delete(x.owners, old.owner)
		}
	}
	if old.reservation != "" && x.reservations[old.reservation] == uid {
		delete(x.reservations, old.reservation)
	}
}

// view is the index as one workload's admission reads it.
func (x *PodIndex) view(w *Workload) observation { return indexView{x: x, w: w} }

// indexView reads one workload's pods from the index.
type indexView struct {
	x *PodIndex
	w *Workload
}

func (v indexView) counts() split.Counts {
	v.x.mu.RLock()
	defer v.x.mu.RUnlock()
	var out split.Counts
	for owner := range v.w.owners {
		if c := v.x.owners[owner]; c != nil {
			out.OnDemand += c.OnDemand
			out.Spot += c.Spot
		}
	}
	return out
}

func (v indexView) seen(reservation string) bool {
	v.x.mu.RLock()
	defer v.x.mu.RUnlock()
	_, ok := v.x.reservations[reservation]
	return ok
}

func (v indexView) class(uid types.UID) (string, bool) {
	v.x.mu.RLock()
	defer v.x.mu.RUnlock()
	p, ok := v.x.pods[uid]
	if !ok || !v.w.owners[p.owner] {
		return "", false
	}
	if p.spot {
		return v1alpha1.CapacitySpot, true
	}
	return v1alpha1.CapacityOnDemand, true
}

// observation is a workload's pods as an admission observes them: from a list of its
// pods, or from the PodIndex.
type observation interface {
	// counts returns the classes of the observed pods.
	counts() split.Counts
	// seen reports whether a pod carrying the reservation is observed.
	seen(reservation string) bool
	// class returns the class of an observed pod of the workload.
	class(uid types.UID) (string, bool)
}

// listed is an observation made from a list of the workload's pods.
type listed struct {
	total        split.Counts
	reservations map[string]bool
	classes      map[types.UID]string
}

func newListed(pods []observedPod) *listed {
	l := &listed{reservations: make(map[string]bool, len(pods)), classes: make(map[types.UID]string, len(pods))}
	for _, o := range pods {
		l.total.Add(o.Capacity)
		if o.Reservation != "" {
			l.reservations[o.Reservation] = true
		}
		l.classes[o.UID] = o.Capacity
	}
	return l
}

func (l *listed) counts() split.Counts         { return l.total }
func (l *listed) seen(reservation string) bool { return l.reservations[reservation] }
func (l *listed) class(uid types.UID) (string, bool) {
	c, ok := l.classes[uid]
	return c, ok
}

// Owned returns the counts of the pods whose controller is owner.
func (x *PodIndex) Owned(owner types.UID) split.Counts {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if c := x.owners[owner]; c != nil {
		return *c
	}
	return split.Counts{}
}
