package distribution

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Status writes are batched once they come faster than a person reads them: a pass
// over 2,000 workloads used to patch the ClusterPolicy's status 2,000 times (each a
// merge patch between two copies of the whole policy), at the client's request rate.
// A few writes a second go out at once, so that one workload's change shows
// immediately; beyond them, entries wait for the flusher, which writes each object's
// pending entries in one patch every StatusInterval.
const (
	// DefaultStatusInterval is how often the flusher writes the entries that waited.
	DefaultStatusInterval = time.Second
	// statusWritesPerSecond and statusBurst bound the writes made at once.
	statusWritesPerSecond = 5
	statusBurst           = 10
)

// statusTarget names the object whose status lists workloads: the ClusterPolicy, or a
// WorkloadDistributionRule.
type statusTarget struct {
	rule bool
	key  client.ObjectKey
}

func (t statusTarget) object() client.Object {
	if t.rule {
		return &v1alpha1.WorkloadDistributionRule{}
	}
	return &v1alpha1.ClusterPolicy{}
}

// metadata is the object as metav1.PartialObjectMetadata, to write it without
// reading it back whole.
func (t statusTarget) metadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	kind := "ClusterPolicy"
	if t.rule {
		kind = "WorkloadDistributionRule"
	}
	m.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(kind))
	m.Namespace, m.Name = t.key.Namespace, t.key.Name
	return m
}

func (t statusTarget) workloads(o client.Object) *[]v1alpha1.WorkloadPlacement {
	if t.rule {
		return &o.(*v1alpha1.WorkloadDistributionRule).Status.Workloads
	}
	return &o.(*v1alpha1.ClusterPolicy).Status.Workloads
}

func targetOf(o client.Object) statusTarget {
	_, rule := o.(*v1alpha1.WorkloadDistributionRule)
	return statusTarget{rule: rule, key: client.ObjectKeyFromObject(o)}
}

type workloadID struct{ kind, namespace, name string }

func idOf(e v1alpha1.WorkloadPlacement) workloadID { return workloadID{e.Kind, e.Namespace, e.Name} }

// pendingEntry is an entry to write (observed at now), or the removal of one.
type pendingEntry struct {
	entry  v1alpha1.WorkloadPlacement
	now    metav1.Time
	remove bool
	seq    uint64
}

// statusBatch holds the entries not written yet, per object. Its zero value is ready:
// without a flusher running, every write goes out at once.
type statusBatch struct {
	mu      sync.Mutex
	pending map[statusTarget]map[workloadID]pendingEntry
	limiter *rate.Limiter
	seq     uint64
	// flushing is set while the flusher runs.
	flushing atomic.Bool
	// writing serialises flushes, so that entries taken by one and put back when its
	// write failed never land after newer ones another flush wrote.
	writing sync.Mutex
}

// entries returns target's waiting entries, made if none; b.mu must be held.
func (b *statusBatch) entries(t statusTarget) map[workloadID]pendingEntry {
	if b.pending == nil {
		b.pending = map[statusTarget]map[workloadID]pendingEntry{}
	}
	if b.pending[t] == nil {
		b.pending[t] = map[workloadID]pendingEntry{}
	}
	return b.pending[t]
}

// put records an entry (or a removal) for target, replacing one that waited.
func (b *statusBatch) put(t statusTarget, pe pendingEntry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	pe.seq = b.seq
	b.entries(t)[idOf(pe.entry)] = pe
}

// drop forgets every waiting entry of a workload, whatever its object.
func (b *statusBatch) drop(id workloadID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for t, m := range b.pending {
		delete(m, id)
		if len(m) == 0 {
			delete(b.pending, t)
		}
	}
}

// waiting reports whether an entry of the workload waits for target.
func (b *statusBatch) waiting(t statusTarget, id workloadID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.pending[t][id]
	return ok
}

// take removes and returns target's waiting entries.
func (b *statusBatch) take(t statusTarget) map[workloadID]pendingEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.pending[t]
	delete(b.pending, t)
	return m
}

// restore puts back entries whose write failed, unless a newer one (a removal
// included) took their place.
func (b *statusBatch) restore(t statusTarget, failed map[workloadID]pendingEntry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.entries(t)
	for id, pe := range failed {
		if cur, ok := m[id]; !ok || cur.seq < pe.seq {
			m[id] = pe
		}
	}
}

// targets lists the objects with waiting entries.
func (b *statusBatch) targets() []statusTarget {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]statusTarget, 0, len(b.pending))
	for t := range b.pending {
		out = append(out, t)
	}
	return out
}

// now reports whether a write may go out at once: always without a flusher, else
// within the rate.
func (b *statusBatch) now() bool {
	if !b.flushing.Load() {
		return true
	}
	b.mu.Lock()
	if b.limiter == nil {
		b.limiter = rate.NewLimiter(statusWritesPerSecond, statusBurst)
	}
	l := b.limiter
	b.mu.Unlock()
	return l.Allow()
}

// record queues an entry for target and writes the target's waiting entries at once
// when the rate allows (or no flusher runs).
func (r *Reconciler) record(ctx context.Context, t statusTarget, pe pendingEntry) error {
	r.statusBatch.put(t, pe)
	if !r.statusBatch.now() {
		return nil
	}
	return r.flushStatus(ctx, t)
}

// flushStatus writes target's waiting entries in one merge patch of status.workloads
// that fails on a concurrent change (then retried on the fresh object): the fields
// other controllers own are never rewritten. Entries whose write failed wait for the
// next flush.
func (r *Reconciler) flushStatus(ctx context.Context, t statusTarget) error {
	r.statusBatch.writing.Lock()
	defer r.statusBatch.writing.Unlock()
	batch := r.statusBatch.take(t)
	if len(batch) == 0 {
		return nil
	}
	// A fixed order: the bounded list's result does not depend on map order.
	ordered := slices.SortedFunc(maps.Values(batch), func(a, b pendingEntry) int { return cmp.Compare(a.seq, b.seq) })
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fresh := t.object()
		// Read-only: the list is changed by copy (upsert, slices.Clone), so the cache's
		// object need not be copied whole first.
		if err := r.Client.Get(ctx, t.key, fresh, client.UnsafeDisableDeepCopy); err != nil {
			return client.IgnoreNotFound(err)
		}
		current := *t.workloads(fresh)
		list, changed := current, false
		for _, pe := range ordered {
			if pe.remove {
				if i := slices.IndexFunc(list, func(e v1alpha1.WorkloadPlacement) bool { return sameWorkload(e, pe.entry) }); i >= 0 {
					list = slices.Delete(slices.Clone(list), i, i+1)
					changed = true
				}
				continue
			}
			var ch bool
			list, ch = upsert(list, pe.entry, pe.now)
			changed = changed || ch
		}
		if !changed {
			return nil
		}
		patch, err := workloadsPatch(fresh.GetResourceVersion(), list)
		if err != nil {
			return err
		}
		// The API server answers with the whole object, the list of every workload
		// included; read back its metadata alone (decoding the answer was most of the
		// cost of a write).
		return r.Client.Status().Patch(ctx, t.metadata(), client.RawPatch(types.MergePatchType, patch))
	})
	if err != nil {
		r.statusBatch.restore(t, batch)
	}
	return err
}

// RunStatusFlusher writes the waiting status entries every StatusInterval until ctx
// ends, then once more. While it runs, status writes beyond a few a second wait for it.
func (r *Reconciler) RunStatusFlusher(ctx context.Context) error {
	interval := r.StatusInterval
	if interval <= 0 {
		interval = DefaultStatusInterval
	}
	r.statusBatch.flushing.Store(true)
	defer r.statusBatch.flushing.Store(false)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	log := logf.FromContext(ctx).WithValues("controller", "distribution-"+r.Kind)
	flushAll := func(ctx context.Context) {
		for _, t := range r.statusBatch.targets() {
			if err := r.flushStatus(ctx, t); err != nil {
				log.Error(err, "failed to write the workloads' placement status; retrying", "object", t.key.String())
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			// The last entries, with a little time of their own.
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			flushAll(last)
			cancel()
			return nil
		case <-tick.C:
			flushAll(ctx)
		}
	}
}

// workloadsPatch is the JSON merge patch that sets status.workloads to list (removes it
// when empty), under the resourceVersion read (a conflict when the object changed
// since). A merge patch replaces a list whole: this is what a merge patch between the
// object read and the object changed says, without encoding and diffing the whole
// object twice (most of the distribution controller's CPU while pods churn).
func workloadsPatch(resourceVersion string, list []v1alpha1.WorkloadPlacement) ([]byte, error) {
	if len(list) == 0 {
		list = nil // null: the field goes, as the API server's copy omits an empty list
	}
	type status struct {
		Workloads []v1alpha1.WorkloadPlacement `json:"workloads"`
	}
	type meta struct {
		ResourceVersion string `json:"resourceVersion"`
	}
	return json.Marshal(struct {
		Metadata meta   `json:"metadata"`
		Status   status `json:"status"`
	}{meta{resourceVersion}, status{list}})
}
