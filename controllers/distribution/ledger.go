package distribution

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
	ReservationAnnotation = "ballast.dev/reservation"
	// reservationsAnnotation on a Lease holds the pending reservations as JSON.
	reservationsAnnotation = "ballast.dev/reservations"
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

// reserve decides under the workload's Lease. decide receives the counts to decide
// from (observed plus pending) and returns the capacity; reserve records it under id,
// unless dryRun (a dry-run admission decides like a real one but writes nothing).
func (l *ledger) reserve(ctx context.Context, w *Workload, observed split.Counts, observedIDs map[string]bool, id string, dryRun bool, decide func(split.Counts) string) (string, error) {
	key := client.ObjectKey{Namespace: w.Namespace, Name: leasePrefix + string(w.UID)}
	for attempt := range maxAttempts {
		if attempt > 0 {
			backoff := time.Duration(1+rand.IntN(min(attempt, 10)*2)) * time.Millisecond
			select {
			case <-ctx.Done():
				return "", fmt.Errorf("the placement ledger of %s stayed contended: %w", w.Key(), ctx.Err())
			case <-time.After(backoff):
			}
		}
		var lease coordinationv1.Lease
		err := l.api.Get(ctx, key, &lease)
		exists := err == nil
		if err != nil && !apierrors.IsNotFound(err) {
			return "", fmt.Errorf("failed to read the placement ledger of %s: %w", w.Key(), err)
		}
		now := l.now()
		pending := pendingReservations(lease.Annotations[reservationsAnnotation], observedIDs, now)
		current := observed
		for _, r := range pending {
			if r.Capacity == v1alpha1.CapacitySpot {
				current.Spot++
			} else {
				current.OnDemand++
			}
		}
		capacity := decide(current)
		if dryRun {
			return capacity, nil
		}
		pending = append(pending, reservation{ID: id, Capacity: capacity, At: now.UnixMilli()})
		data, err := json.Marshal(pending)
		if err != nil {
			return "", err
		}
		if lease.Annotations == nil {
			lease.Annotations = map[string]string{}
		}
		lease.Annotations[reservationsAnnotation] = string(data)
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
			return capacity, nil
		case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
			continue // another admission of the same workload won; decide again.
		default:
			return "", fmt.Errorf("failed to write the placement ledger of %s: %w", w.Key(), err)
		}
	}
	return "", fmt.Errorf("the placement ledger of %s stayed contended for %d attempts", w.Key(), maxAttempts)
}

// pendingReservations returns the reservations whose pods are not observed yet and
// that have not expired.
func pendingReservations(raw string, observedIDs map[string]bool, now time.Time) []reservation {
	var all []reservation
	if raw == "" || json.Unmarshal([]byte(raw), &all) != nil {
		return nil
	}
	var out []reservation
	for _, r := range all {
		if observedIDs[r.ID] || now.Sub(time.UnixMilli(r.At)) > reservationTTL {
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
