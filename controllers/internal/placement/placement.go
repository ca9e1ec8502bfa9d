// Package placement judges whether Ballast's webhook is placing pods, for the whole
// cluster, so that no controller evicts in a loop while it is not.
//
// Evicting a replica to move it (drift correction, reverse fallback) relies on the
// webhook placing its replacement. When the API server cannot reach the webhook (a
// NetworkPolicy, a CA rollover, a policy engine that forbids the ledger's writes,
// timeouts under load) the webhook fails open: the replacement arrives unplaced, lands
// where it can, and an evicting controller would evict it again, forever.
//
// The Watch is the evidence: after a workload's eviction pass, the next pass of that
// workload waits until the replacements have arrived and goes on only if at least one
// of them carries Ballast's placement. Replacements that all arrive unplaced pause
// every webhook-dependent eviction in the cluster (every workload's drift correction,
// reverse fallback, bin-packing), with a backoff that doubles from 5 minutes up to an
// hour. When the pause ends, one workload makes a trial pass and its replacements
// decide. Any pod created since the pause began that carries Ballast's placement ends
// the pause at once: the webhook works again.
//
// The verdict is in memory and reported through a callback (a condition and an event);
// Restore starts a controller from the reported condition, so that a restart does not
// allow a pass the condition says is unsafe.
package placement

import (
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ballast-dev/ballast/controllers/internal/podstore"
)

const (
	// ReplacementWait is how long a pass waits for replacements before it no longer
	// expects any (the workload scaled down meanwhile).
	ReplacementWait = time.Minute
	// FirstPause and MaxPause bound the backoff.
	FirstPause = 5 * time.Minute
	MaxPause   = time.Hour
)

// Watch is the cluster-wide judgement. The zero value is not usable: set Candidate
// and Placed. It is safe for concurrent use.
type Watch struct {
	// Candidate says whether a pod is one Ballast places (and so one whose placement
	// is evidence).
	Candidate func(*podstore.Pod) bool
	// Placed says whether Ballast's webhook placed the pod.
	Placed func(*podstore.Pod) bool

	mu        sync.Mutex
	workloads map[string]*pass
	// since is when the pause began; zero while pods are placed.
	since       time.Time
	pausedUntil time.Time
	pause       time.Duration
	// trial is the workload making the trial pass after a pause, and when it began.
	trial      string
	trialStart time.Time
	restored   bool
}

// pass is a workload's last eviction pass.
type pass struct {
	at time.Time
	// before are the UIDs of the workload's pods at the pass: any other pod is newer,
	// a replacement.
	before map[types.UID]bool
}

// Verdict is the outcome of a check.
type Verdict struct {
	// Paused: the caller must not evict now; Message says why.
	Paused  bool
	Message string
	// Changed: the cluster-wide judgement changed with this check (a pause began or
	// ended): the caller reports it (Placing says which).
	Changed bool
	Placing bool
}

// Evicted records an eviction pass of the workload key, whose pods were pods.
func (w *Watch) Evicted(key string, pods []*podstore.Pod, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.workloads == nil {
		w.workloads = map[string]*pass{}
	}
	p := &pass{at: now, before: make(map[types.UID]bool, len(pods))}
	for i := range pods {
		p.before[pods[i].UID] = true
	}
	w.workloads[key] = p
}

// Forget drops the state of a deleted workload.
func (w *Watch) Forget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.workloads, key)
	if w.trial == key {
		w.trial = ""
	}
}

// Restore starts the watch paused when the reported judgement (the condition a
// previous run wrote) says the webhook was not placing pods since since. The backoff
// stage is not known after a restart: the pause is taken as long as the time paused so
// far (as a doubling backoff would be), and the next trial comes FirstPause from now.
// A placed pod created after since ends it, as always.
func (w *Watch) Restore(placing bool, since, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.restored {
		return
	}
	w.restored = true
	if placing || !w.since.IsZero() {
		return
	}
	w.since = since
	w.pause = min(max(now.Sub(since), FirstPause), MaxPause)
	w.pausedUntil = now.Add(FirstPause)
}

// Restored reports whether Restore was called.
func (w *Watch) Restored() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.restored
}

// Observe looks at pods of a workload for evidence that the webhook places pods again:
// one created since the pause began and placed by Ballast ends the pause.
func (w *Watch) Observe(pods []*podstore.Pod) Verdict {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.since.IsZero() {
		return Verdict{Placing: true}
	}
	for i := range pods {
		p := pods[i]
		if p.CreationTimestamp.After(w.since) && w.Placed(p) {
			w.resume()
			return Verdict{Changed: true, Placing: true, Message: fmt.Sprintf("pod %s/%s, created since evictions paused, was placed by Ballast's webhook: evictions resume", p.Namespace, p.Name)}
		}
	}
	return Verdict{}
}

// Placing is the cluster-wide judgement for controllers that evict without a pass of
// their own (reverse fallback, bin-packing): whether they may evict now. They wait for
// evidence, not for the clock: from the first unplaced replacements until a placed pod
// (a trial pass's replacement, or any new pod) shows the webhook works again.
func (w *Watch) Placing(now time.Time) (bool, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.since.IsZero() {
		return true, ""
	}
	return false, w.pausedMessage(now)
}

func (w *Watch) pausedMessage(now time.Time) string {
	const why = "Ballast's webhook did not place the replacements of earlier evictions (is it reachable from the API server?)"
	switch {
	case w.trial != "":
		return "evictions paused: " + why + "; a trial pass is under way"
	case now.Before(w.pausedUntil):
		return fmt.Sprintf("evictions paused until %s: %s", w.pausedUntil.UTC().Format(time.RFC3339), why)
	}
	return fmt.Sprintf("evictions paused since %s: %s; waiting for a pod placed by the webhook", w.since.UTC().Format(time.RFC3339), why)
}

// Check says whether the workload key may evict now, judging the replacements of its
// last pass (pods are its pods now).
func (w *Watch) Check(key string, pods []*podstore.Pod, now time.Time) Verdict {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.since.IsZero() {
		if now.Before(w.pausedUntil) {
			return Verdict{Paused: true, Message: w.pausedMessage(now)}
		}
		// A trial whose workload went away or never evicted frees the turn.
		if w.trial != "" && now.Sub(w.trialStart) > 2*ReplacementWait {
			w.trial = ""
		}
		switch w.trial {
		case "":
			// This workload makes the trial pass.
			w.trial, w.trialStart = key, now
			delete(w.workloads, key)
			return Verdict{}
		case key:
			// Judged below from this workload's replacements.
		default:
			return Verdict{Paused: true, Message: w.pausedMessage(now)}
		}
	}
	p := w.workloads[key]
	if p == nil {
		return Verdict{}
	}
	newer, placedNewer := 0, 0
	for i := range pods {
		pod := pods[i]
		if p.before[pod.UID] || !w.Candidate(pod) {
			continue
		}
		newer++
		if w.Placed(pod) {
			placedNewer++
		}
	}
	switch {
	case placedNewer > 0:
		// The webhook placed a replacement: it works.
		delete(w.workloads, key)
		if !w.since.IsZero() {
			w.resume()
			return Verdict{Changed: true, Placing: true, Message: "the replacements of a trial eviction pass were placed by Ballast's webhook: evictions resume"}
		}
		return Verdict{}
	case newer == 0 && now.Sub(p.at) < ReplacementWait:
		return Verdict{Paused: true, Message: "waiting for the replacements of the last evictions"}
	case newer == 0:
		// No replacement (the workload scaled down): no evidence either way.
		delete(w.workloads, key)
		if w.trial == key {
			w.trial = ""
		}
		return Verdict{}
	}
	delete(w.workloads, key)
	first := w.since.IsZero()
	if first {
		w.since = now
	}
	w.pause = min(max(2*w.pause, FirstPause), MaxPause)
	w.pausedUntil = now.Add(w.pause)
	w.trial = ""
	return Verdict{Paused: true, Changed: first, Message: fmt.Sprintf(
		"evictions paused for %s: %d replacements of the last evictions arrived without Ballast's placement, so the webhook is not placing pods (is it reachable from the API server?)",
		w.pause, newer)}
}

func (w *Watch) resume() {
	w.since, w.pausedUntil, w.pause, w.trial = time.Time{}, time.Time{}, 0, ""
}

// The ClusterPolicy condition that reports the verdict, and its reasons (also the
// reasons of the events).
const (
	Condition        = "WebhookPlacing"
	PlacingReason    = "WebhookPlacing"
	NotPlacingReason = "WebhookNotPlacing"
)
