package distribution

import (
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The drift reconciler moves a replica by evicting it and trusting the webhook to
// place its replacement in the class that is short. When the API server cannot reach
// the webhook (a NetworkPolicy, a CA rollover, timeouts), the replacement arrives
// unplaced, lands On-Demand, and the reconciler would evict again, forever. The guard
// stops that: after an eviction pass, the next pass waits until the replacements have
// arrived, and runs only if at least one of them carries Ballast's placement.
// Otherwise evictions of the workload pause, with an event and a status message, and
// are tried again after a backoff that doubles up to maxPause. The state is in memory:
// a restarted controller allows one more pass before it knows again.
const (
	// replacementWait is how long a pass waits for replacements before it no longer
	// expects any (the workload scaled down meanwhile).
	replacementWait = time.Minute
	firstPause      = 5 * time.Minute
	maxPause        = time.Hour
)

type guard struct {
	mu    sync.Mutex
	state map[string]*guardState
}

type guardState struct {
	lastEviction time.Time
	// before are the UIDs of the workload's pods at the last eviction pass: any other
	// pod is newer, a replacement.
	before      map[types.UID]bool
	pausedUntil time.Time
	pause       time.Duration
}

// evicted records an eviction pass of the workload, which had pods before it.
func (g *guard) evicted(key string, pods []corev1.Pod, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == nil {
		g.state = map[string]*guardState{}
	}
	s := g.state[key]
	if s == nil {
		s = &guardState{}
		g.state[key] = s
	}
	s.lastEviction = now
	s.before = make(map[types.UID]bool, len(pods))
	for i := range pods {
		s.before[pods[i].UID] = true
	}
}

// forget drops the state of a deleted workload.
func (g *guard) forget(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.state, key)
}

// check says whether evictions of the workload must wait; first is set when a pause
// begins (the caller records an event then).
func (g *guard) check(key string, pods []corev1.Pod, now time.Time) (paused bool, message string, first bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.state[key]
	if s == nil {
		return false, "", false
	}
	if now.Before(s.pausedUntil) {
		return true, fmt.Sprintf("evictions paused until %s: the replacements of the last evictions were not placed by Ballast's webhook (is it reachable from the API server?)",
			s.pausedUntil.UTC().Format(time.RFC3339)), false
	}
	if s.lastEviction.IsZero() {
		return false, "", false
	}
	newer, placedNewer := 0, 0
	for i := range pods {
		p := &pods[i]
		if s.before[p.UID] || !movable(p) {
			continue
		}
		newer++
		if placed(p) {
			placedNewer++
		}
	}
	switch {
	case placedNewer > 0:
		// The webhook placed a replacement: it works.
		s.pause, s.pausedUntil, s.lastEviction = 0, time.Time{}, time.Time{}
		return false, "", false
	case newer == 0 && now.Sub(s.lastEviction) < replacementWait:
		return true, "waiting for the replacements of the last evictions", false
	case newer == 0:
		s.lastEviction = time.Time{}
		return false, "", false
	}
	s.pause = min(max(2*s.pause, firstPause), maxPause)
	s.pausedUntil = now.Add(s.pause)
	s.lastEviction = time.Time{}
	return true, fmt.Sprintf("evictions paused for %s: %d replacements of the last evictions arrived without Ballast's placement, so the webhook is not placing pods (is it reachable from the API server?)",
		s.pause, newer), true
}
