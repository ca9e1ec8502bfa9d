package distribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ballast-dev/ballast/split"
)

// The elected leader decides every admission of a Deployment, ReplicaSet or Job from
// memory: the PodIndex's counts, plus its own decisions whose pods the cache does not
// show yet, less the pods recorded as departing. One decider makes the decisions
// exact without writing anything per admission. The other replicas forward their
// admissions' decisions to it (forward.go); whoever cannot reach it, and the leader
// itself while it warms up, decides through the Lease ledger as before (ledger.go).

// DeciderRecordPrefix names the Lease in Ballast's namespace where the deciding
// replica publishes its identity and address: ballast-decider-<cluster>.
const DeciderRecordPrefix = "ballast-decider-"

// addressAnnotation on the decider record holds the https://host:port of the
// deciding replica's webhook server.
const addressAnnotation = "ballast.dev/address"

// DefaultWarmup is how long a new decider, once it has published itself, decides the
// decisions forwarded to it through the ledger before it decides from memory
// (Decider.Warmup): longer than a replica trusts the record it read (recordTTL) plus
// a decision's budget (--decision-timeout, 2s), so that no replica still decides
// through the ledger on its own when the decider starts deciding from memory.
const DefaultWarmup = recordTTL + 5*time.Second

// WarmupFor returns the warm-up a decider needs when decisions take at most budget
// (the webhook's --decision-timeout): the record's TTL, the budget, and 3s to spare.
func WarmupFor(budget time.Duration) time.Duration {
	if budget <= 0 {
		return DefaultWarmup
	}
	return recordTTL + budget + 3*time.Second
}

// errNotDeciding says this replica does not decide from memory now.
var errNotDeciding = errors.New("this replica is not the decider")

// Decider decides admissions from memory on the elected leader. It is a manager
// runnable that needs leader election: it starts deciding once the PodIndex is synced
// and Warmup has passed (the previous decider's last pods are then in the cache, and
// its unobserved decisions are in the ledgers it flushed them to), publishes itself in
// the decider record, and on losing leadership stops deciding and writes its
// decisions whose pods are not observed yet to the workloads' ledgers, where the
// replicas that decide next read them.
type Decider struct {
	// API reads the ledgers and writes them and the decider record, without a cache.
	API client.Client
	// Index holds the counts of the workloads' pods.
	Index *PodIndex
	// Identity names this replica in the decider record (unique per process).
	Identity string
	// Address is https://host:port where the other replicas reach this replica's
	// webhook server.
	Address string
	// Namespace is Ballast's own namespace, where the decider record lives.
	Namespace string
	// Cluster names the decider record (ballast-decider-<cluster>).
	Cluster string
	// Warmup is how long the decider, once published, decides through the ledger
	// before it decides from memory (DefaultWarmup when zero). It must outlast the
	// time a replica trusts the record it read plus a decision's budget: a replica
	// that started deciding through the ledger before it learnt of this decider
	// finishes before the decider reads the ledgers.
	Warmup time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// serving: published in the record; forwarded decisions come here.
	serving atomic.Bool
	// active: deciding from memory.
	active atomic.Bool
	// handover is held shared by every decision from memory and exclusively while
	// stepping down, so that a decision either finishes before the flush or is
	// refused after it.
	handover  sync.RWMutex
	mu        sync.Mutex
	workloads map[types.UID]*memory
}

// memory is what the decider keeps of one workload.
type memory struct {
	mu sync.Mutex
	// loaded: the ledger's reservations and departures were read this term.
	loaded bool
	// pending are decisions whose pods the index does not show yet.
	pending []reservation
	// departing are pods recorded as about to go.
	departing []departure
	// kind, namespace, name and uid locate the ledger when the decider flushes.
	w Workload
}

// NeedLeaderElection is true: only the elected leader decides from memory.
func (d *Decider) NeedLeaderElection() bool { return true }

// Deciding reports whether the decider decides from memory now.
func (d *Decider) Deciding() bool { return d != nil && d.active.Load() }

// Serving reports whether this replica is the published decider (deciding from memory,
// or through the ledger while it warms up).
func (d *Decider) Serving() bool { return d != nil && d.serving.Load() }

func (d *Decider) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// RecordName is the name of the decider record of a cluster.
func RecordName(cluster string) string { return DeciderRecordPrefix + cluster }

// Start decides from memory until ctx ends (leadership is lost or the manager stops).
func (d *Decider) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("decider")
	warmup := d.Warmup
	if warmup <= 0 {
		warmup = DefaultWarmup
	}
	for !d.Index.Synced() {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := d.publish(ctx); err != nil {
		// Without the record, the other replicas keep deciding through the ledger;
		// deciding from memory beside them would not be exact.
		log.Error(err, "failed to publish the decider record; admissions keep deciding through the ledgers")
		<-ctx.Done()
		return nil
	}
	// Warm-up: the decisions forwarded here go through the ledger, like those of the
	// replicas that have not read the record yet; after it, every replica forwards.
	d.serving.Store(true)
	defer d.serving.Store(false)
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(warmup):
	}
	// Decisions through the ledger that this replica began while warming up finish
	// before it decides from memory: the ledgers it reads then hold them.
	d.handover.Lock()
	d.mu.Lock()
	d.workloads = map[types.UID]*memory{}
	d.mu.Unlock()
	registerLocal(d)
	d.active.Store(true)
	d.handover.Unlock()
	log.Info("deciding admissions from memory", "identity", d.Identity)
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	for {
		select {
		case <-sweep.C:
			d.forget()
		case <-ctx.Done():
			d.stepDown(log)
			return nil
		}
	}
}

// publish writes the decider record: this replica's identity and address.
func (d *Decider) publish(ctx context.Context) error {
	key := client.ObjectKey{Namespace: d.Namespace, Name: RecordName(d.Cluster)}
	var lease coordinationv1.Lease
	err := d.API.Get(ctx, key, &lease)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	exists := err == nil
	lease.Name, lease.Namespace = key.Name, key.Namespace
	if lease.Labels == nil {
		lease.Labels = map[string]string{}
	}
	lease.Labels["app.kubernetes.io/managed-by"] = "ballast"
	if lease.Annotations == nil {
		lease.Annotations = map[string]string{}
	}
	lease.Annotations[addressAnnotation] = d.Address
	lease.Spec.HolderIdentity = ptr.To(d.Identity)
	lease.Spec.AcquireTime = &metav1.MicroTime{Time: d.now()}
	if exists {
		return d.API.Update(ctx, &lease)
	}
	return d.API.Create(ctx, &lease)
}

// ledgerTurn waits while the decider changes state (steps down or starts deciding
// from memory) and returns the function that ends the caller's decision through the
// ledger, during which the decider does not change state. A nil decider waits for
// nothing.
func (d *Decider) ledgerTurn() func() {
	if d == nil {
		return func() {}
	}
	d.handover.RLock()
	return d.handover.RUnlock
}

// stepDown stops deciding from memory and writes the decisions whose pods are not
// observed yet to their workloads' ledgers. A decision in progress finishes first (it
// holds its workload's lock), so every decision made from memory is either flushed or
// observed; a forwarded request that comes later is refused and decided through the
// ledger, which then holds the flushed reservations.
func (d *Decider) stepDown(log interface {
	Error(err error, msg string, kv ...any)
}) {
	d.handover.Lock()
	defer d.handover.Unlock()
	d.active.Store(false)
	unregisterLocal(d)
	d.mu.Lock()
	all := d.workloads
	d.workloads = nil
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, m := range all {
		m.mu.Lock()
		if err := d.flush(ctx, m); err != nil {
			log.Error(err, "failed to hand over reservations to the ledger", "workload", m.w.Key())
		}
		m.mu.Unlock()
	}
}

// flush writes a workload's unobserved decisions to its ledger; m.mu is held.
func (d *Decider) flush(ctx context.Context, m *memory) error {
	d.prune(m, d.now())
	if len(m.pending) == 0 {
		return nil
	}
	l := &ledger{api: d.API, now: d.now}
	// The ledger may be contended by every replica deciding through it now; the
	// hand-over keeps trying until its deadline rather than lose a reservation.
	for {
		err := d.flushOnce(ctx, l, m)
		if err == nil || ctx.Err() != nil {
			return err
		}
		// The ledger's update already retries conflicts; an error here (the API server
		// unreachable, a refusal) is worth a pause rather than a busy loop.
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *Decider) flushOnce(ctx context.Context, l *ledger, m *memory) error {
	return l.update(ctx, &m.w, func(lease *coordinationv1.Lease, now time.Time) (bool, error) {
		all := pendingReservations(lease.Annotations[reservationsAnnotation], func(string) bool { return false }, now)
		known := map[string]bool{}
		for _, r := range all {
			known[r.ID] = true
		}
		for _, r := range m.pending {
			if !known[r.ID] {
				all = append(all, r)
			}
		}
		data, err := json.Marshal(all)
		if err != nil {
			return false, err
		}
		lease.Annotations[reservationsAnnotation] = string(data)
		return true, nil
	})
}

// forget drops the memory of workloads with nothing pending, so that it stays bounded
// by the workloads admitting pods now.
func (d *Decider) forget() {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for uid, m := range d.workloads {
		if m.mu.TryLock() {
			d.prune(m, now)
			if len(m.pending) == 0 && len(m.departing) == 0 {
				delete(d.workloads, uid)
			}
			m.mu.Unlock()
		}
	}
}

// memoryOf returns the memory of a workload, or nil when not deciding.
func (d *Decider) memoryOf(w *Workload) *memory {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.workloads == nil {
		return nil
	}
	m := d.workloads[w.UID]
	if m == nil {
		m = &memory{w: Workload{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name, UID: w.UID}}
		d.workloads[w.UID] = m
	}
	return m
}

// decide places a pod of w from memory, or returns errNotDeciding.
func (d *Decider) decide(ctx context.Context, w *Workload, rule split.Rule, fit Fit, id string, dryRun bool) (split.Decision, error) {
	if !d.Serving() && !d.Deciding() {
		return split.Decision{}, errNotDeciding
	}
	// Taken before deciding whether to decide from memory: while the decider steps
	// down, this waits until its decisions are in the ledgers, so that the ledger
	// decision the caller falls back to sees them.
	d.handover.RLock()
	defer d.handover.RUnlock()
	m := d.memoryOf(w)
	if m == nil || !d.Deciding() {
		return split.Decision{}, errNotDeciding
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.loaded {
		if err := d.load(ctx, m); err != nil {
			return split.Decision{}, err
		}
	}
	now := d.now()
	decision := d.decideIn(m, d.Index.view(w), rule, fit, w.Replicas, now)
	if !dryRun {
		m.pending = append(m.pending, reservation{ID: id, Capacity: decision.Capacity, At: now.UnixMilli()})
	}
	return decision, nil
}

// decideIn is the in-memory decision: counts from the index, less departing pods,
// plus unobserved decisions, constrained to fit. It allocates nothing.
func (d *Decider) decideIn(m *memory, obs observation, rule split.Rule, fit Fit, replicas int32, now time.Time) split.Decision {
	current := obs.counts()
	d.prune(m, now)
	for _, dep := range m.departing {
		if c, ok := obs.class(dep.UID); ok {
			subtract(&current, c)
		}
	}
	kept := m.pending[:0]
	for _, r := range m.pending {
		if !obs.seen(r.ID) {
			kept = append(kept, r)
			current.Add(r.Capacity)
		}
	}
	m.pending = kept
	decision, _ := fit.Constrain(split.Decide(rule, replicas, current))
	return decision
}

// prune drops expired reservations and departures; m.mu is held.
func (d *Decider) prune(m *memory, now time.Time) {
	live := func(at int64) bool { return now.Sub(time.UnixMilli(at)) <= reservationTTL }
	pending := m.pending[:0]
	for _, r := range m.pending {
		if live(r.At) {
			pending = append(pending, r)
		}
	}
	m.pending = pending
	departing := m.departing[:0]
	for _, dep := range m.departing {
		if live(dep.At) {
			departing = append(departing, dep)
		}
	}
	m.departing = departing
}

// load reads the workload's ledger once per term: reservations written by replicas
// that decided through it (before this decider, or unable to reach it) and the
// departures recorded there.
func (d *Decider) load(ctx context.Context, m *memory) error {
	var lease coordinationv1.Lease
	err := d.API.Get(ctx, client.ObjectKey{Namespace: m.w.Namespace, Name: leasePrefix + string(m.w.UID)}, &lease)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("failed to read the placement ledger of %s: %w", m.w.Key(), err)
	default:
		now := d.now()
		m.pending = append(m.pending, pendingReservations(lease.Annotations[reservationsAnnotation], func(string) bool { return false }, now)...)
		var all []departure
		if raw := lease.Annotations[departuresAnnotation]; raw != "" && json.Unmarshal([]byte(raw), &all) == nil {
			for _, dep := range all {
				m.depart(dep, false)
			}
		}
	}
	m.loaded = true
	return nil
}

// depart records (or, with undo, withdraws) a departure; m.mu is held.
func (m *memory) depart(dep departure, undo bool) {
	for i := range m.departing {
		if m.departing[i].UID == dep.UID {
			m.departing = append(m.departing[:i], m.departing[i+1:]...)
			break
		}
	}
	if !undo {
		m.departing = append(m.departing, dep)
	}
}

// departed tells the decider of a departure recorded in this process (by the drift,
// fallback or bin-packing controllers, which run on the leader too).
func (d *Decider) departed(w *Workload, pod types.UID, reservationID string, undo bool, at time.Time) {
	if !d.Deciding() {
		return
	}
	m := d.memoryOf(w)
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.depart(departure{UID: pod, At: at.UnixMilli()}, undo)
	if undo || reservationID == "" {
		return
	}
	// The departing pod counts for nothing, also once no cache shows it: its own
	// reservation goes with it.
	kept := m.pending[:0]
	for _, r := range m.pending {
		if r.ID != reservationID {
			kept = append(kept, r)
		}
	}
	m.pending = kept
}

// local holds the deciders of this process, which Depart tells of departures.
var local struct {
	sync.Mutex
	deciders []*Decider
}

func registerLocal(d *Decider) {
	local.Lock()
	defer local.Unlock()
	local.deciders = append(local.deciders, d)
}

func unregisterLocal(d *Decider) {
	local.Lock()
	defer local.Unlock()
	for i, x := range local.deciders {
		if x == d {
			local.deciders = append(local.deciders[:i], local.deciders[i+1:]...)
			return
		}
	}
}

// notifyDeparture tells this process's deciders of a departure just recorded.
func notifyDeparture(w *Workload, pod types.UID, reservationID string, undo bool, at time.Time) {
	local.Lock()
	deciders := append([]*Decider(nil), local.deciders...)
	local.Unlock()
	for _, d := range deciders {
		d.departed(w, pod, reservationID, undo, at)
	}
}
