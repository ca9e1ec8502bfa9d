package distribution

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// Admissions of one workload race: the ReplicaSet controller creates pods in parallel
// batches, and several webhook replicas may answer them. Each decision must see the
// ones before it, including pods admitted but not yet in any informer cache. So the
// decisions of a workload are recorded in a Lease in its namespace (the API server is
// the one state every replica shares), updated with optimistic concurrency: a replica
// reads the Lease, decides from the pods it observes plus the reservations not yet
// observed, and writes its reservation back under the Lease's resourceVersion; if
// another admission wrote first, it reads again and decides again. A reservation
// carries the admission's UID, which the pod keeps in an annotation, so once the pod
// is observed the reservation is dropped; reservations of pods that never appeared
// (a later admission plugin refused them) expire after reservationTTL.

const (
	// ReservationAnnotation on a pod holds the UID of the admission that placed it.
	ReservationAnnotation = podstore.ReservationAnnotation
	// reservationsAnnotation on a Lease holds the pending reservations as JSON.
	reservationsAnnotation = "ballast.dev/reservations"
	// departuresAnnotation on a Lease holds the pods recorded as departing, as JSON.
	departuresAnnotation = "ballast.dev/departures"
	// leasePrefix names the Leases: ballast-placement-<workload UID>.
	leasePrefix    = "ballast-placement-"
	reservationTTL = 30 * time.Second
	// maxAttempts bounds the retries of one decision; the admission's deadline bounds
	// them in time. Retries back off with jitter so racing admissions spread out.
	maxAttempts = 100
)

// reservation is a decision whose pod may not be observable yet.
type reservation struct {
	ID       string `json:"id"`
	Capacity string `json:"c"`
	// At is the Unix time in milliseconds of the decision.
	At int64 `json:"at"`
}

// ledger reads and writes a workload's reservations.
type ledger struct {
	// api reads and writes Leases without a cache: a stale read would defeat the
	// optimistic concurrency.
	api client.Client
	now func() time.Time
}

// observedPod is a pod of the workload as an admission sees it (from a cache).
type observedPod struct {
	UID         types.UID
	Capacity    string
	Reservation string
}

// departure is a pod about to go (evicted, or deleted so that its controller replaces
// it), recorded before it goes: a cache that still shows it must not make its
// replacement look like a surge beside it.
type departure struct {
	UID types.UID `json:"uid"`
	// At is the Unix time in milliseconds of the record.
	At int64 `json:"at"`
}

// reserve decides under the workload's Lease. decide receives the counts to decide
// from (observed pods, less those recorded as departing, plus pending reservations)
// and returns the capacity; reserve records it under id, unless dryRun (a dry-run
// admission decides like a real one but writes nothing).
func (l *ledger) reserve(ctx context.Context, w *Workload, obs observation, id string, dryRun bool, decide func(split.Counts) string) (string, error) {
	var capacity string
	err := l.update(ctx, w, func(lease *coordinationv1.Lease, now time.Time) (bool, error) {
		pending := pendingReservations(lease.Annotations[reservationsAnnotation], obs.seen, now)
		current := obs.counts()
		for _, d := range departures(lease.Annotations[departuresAnnotation], now) {
			if c, ok := obs.class(d); ok {
				subtract(&current, c)
			}
		}
		for _, r := range pending {
			current.Add(r.Capacity)
		}
		capacity = decide(current)
		if dryRun {
			return false, nil
		}
		pending = append(pending, reservation{ID: id, Capacity: capacity, At: now.UnixMilli()})
		data, err := json.Marshal(pending)
		if err != nil {
			return false, err
		}
		lease.Annotations[reservationsAnnotation] = string(data)
		return true, nil
	})
	return capacity, err
}

// subtract uncounts one replica of the class.
func subtract(c *split.Counts, capacity string) {
	if capacity == v1alpha1.CapacitySpot {
		c.Spot--
	} else {
		c.OnDemand--
	}
}

// Depart records that pod is about to leave its workload (an eviction, or a delete so
// that its controller replaces it), so that admissions do not count it while their
// cache still shows it; undo removes the record again (the eviction was refused).
// Pods of StatefulSets, placed by ordinal, need no record.
func Depart(ctx context.Context, api client.Client, w *Workload, pod *podstore.Pod, undo bool) error {
	if w == nil || w.Kind == KindStatefulSet {
		return nil
	}
	l := &ledger{api: api, now: time.Now}
	recorded := time.Now()
	err := l.update(ctx, w, func(lease *coordinationv1.Lease, now time.Time) (bool, error) {
		recorded = now
		var all []departure
		if raw := lease.Annotations[departuresAnnotation]; raw != "" {
			_ = json.Unmarshal([]byte(raw), &all)
		}
		var keep []departure
		for _, d := range all {
			if d.UID != pod.UID && now.Sub(time.UnixMilli(d.At)) <= reservationTTL {
				keep = append(keep, d)
			}
		}
		if !undo {
			keep = append(keep, departure{UID: pod.UID, At: now.UnixMilli()})
		}
		// A departing pod counts for nothing, also when no cache shows it any more: its
		// own reservation goes with it (else, once the pod is gone, the reservation
		// would count it for the rest of its 30 s).
		dropped := false
		if id := pod.Reservation; id != "" && !undo {
			if raw := lease.Annotations[reservationsAnnotation]; strings.Contains(raw, id) {
				rest := pendingReservations(raw, func(r string) bool { return r == id }, now)
				data, err := json.Marshal(rest)
				if err != nil {
					return false, err
				}
				lease.Annotations[reservationsAnnotation], dropped = string(data), true
			}
		}
		if len(keep) == 0 {
			if _, ok := lease.Annotations[departuresAnnotation]; !ok {
				return dropped, nil
			}
			delete(lease.Annotations, departuresAnnotation)
			return true, nil
		}
		data, err := json.Marshal(keep)
		if err != nil {
			return false, err
		}
		lease.Annotations[departuresAnnotation] = string(data)
		return true, nil
	})
	if err == nil {
		// The decider of this process (the leader, where the evicting controllers run)
		// decides from memory and does not read the ledger for each admission.
		notifyDeparture(w, pod.UID, pod.Reservation, undo, recorded)
	}
	return err
}

// update reads the workload's Lease (an empty one when there is none), lets change
// modify its annotations, and writes it back when change says so, under optimistic
// concurrency: when another writer came first, it reads and changes again.
func (l *ledger) update(ctx context.Context, w *Workload, change func(lease *coordinationv1.Lease, now time.Time) (bool, error)) error {
	key := client.ObjectKey{Namespace: w.Namespace, Name: leasePrefix + string(w.UID)}
	for attempt := range maxAttempts {
		if attempt > 0 {
			backoff := time.Duration(1+rand.IntN(min(attempt, 10)*2)) * time.Millisecond
			select {
			case <-ctx.Done():
				return fmt.Errorf("the placement ledger of %s stayed contended: %w", w.Key(), ctx.Err())
			case <-time.After(backoff):
			}
		}
		var lease coordinationv1.Lease
		err := l.api.Get(ctx, key, &lease)
		exists := err == nil
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("failed to read the placement ledger of %s: %w", w.Key(), err)
		}
		if lease.Annotations == nil {
			lease.Annotations = map[string]string{}
		}
		write, err := change(&lease, l.now())
		if err != nil || !write {
			return err
		}
		if exists {
			err = l.api.Update(ctx, &lease)
		} else {
			lease.Name, lease.Namespace = key.Name, key.Namespace
			lease.Labels = map[string]string{"app.kubernetes.io/managed-by": "ballast"}
			lease.OwnerReferences = []metav1.OwnerReference{{
				APIVersion: ownerAPIVersion(w.Kind), Kind: w.Kind, Name: w.Name, UID: w.UID,
			}}
			err = l.api.Create(ctx, &lease)
		}
		switch {
		case err == nil:
			return nil
		case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
			continue // another writer of the same workload won; change again.
		default:
			return fmt.Errorf("failed to write the placement ledger of %s: %w", w.Key(), err)
		}
	}
	return fmt.Errorf("the placement ledger of %s stayed contended for %d attempts", w.Key(), maxAttempts)
}

// departures returns the UIDs recorded as departing and not expired.
func departures(raw string, now time.Time) []types.UID {
	var all []departure
	if raw == "" || json.Unmarshal([]byte(raw), &all) != nil {
		return nil
	}
	var out []types.UID
	for _, d := range all {
		if now.Sub(time.UnixMilli(d.At)) <= reservationTTL {
			out = append(out, d.UID)
		}
	}
	return out
}

// pendingReservations returns the reservations whose pods are not observed yet and
// that have not expired.
func pendingReservations(raw string, seen func(string) bool, now time.Time) []reservation {
	var all []reservation
	if raw == "" || json.Unmarshal([]byte(raw), &all) != nil {
		return nil
	}
	var out []reservation
	for _, r := range all {
		if seen(r.ID) || now.Sub(time.UnixMilli(r.At)) > reservationTTL {
			continue
		}
		out = append(out, r)
	}
	return out
}

func ownerAPIVersion(kind string) string {
	if kind == KindJob {
		return "batch/v1"
	}
	return "apps/v1" // Deployments, StatefulSets and ReplicaSets
}
