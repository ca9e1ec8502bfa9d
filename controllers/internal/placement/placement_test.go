package placement

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ballast-dev/ballast/controllers/internal/podstore"
)

const placedAnnotation = "placed"

func newWatch() *Watch {
	return &Watch{
		Candidate: func(*podstore.Pod) bool { return true },
		Placed:    func(p *podstore.Pod) bool { return p.Annotations[placedAnnotation] != "" },
	}
}

var podSeq int

func pod(created time.Time, placed bool) *podstore.Pod {
	podSeq++
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("p%d", podSeq),
		UID: types.UID(fmt.Sprint(podSeq)), CreationTimestamp: metav1.NewTime(created)}}
	if placed {
		p.Annotations = map[string]string{placedAnnotation: "split"}
	}
	return podstore.FromPod(&p)
}

// TestOneWorkloadsUnplacedReplacementsPauseEveryEviction: the replacements of one
// workload's pass arrive unplaced; every workload and Placing pause, the change is
// reported once; after the pause one workload alone makes a trial pass; its placed
// replacement resumes everything.
func TestOneWorkloadsUnplacedReplacementsPauseEveryEviction(t *testing.T) {
	w, now := newWatch(), time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a := []*podstore.Pod{pod(now, true), pod(now, true)}
	w.Evicted("a", a, now)
	now = now.Add(10 * time.Second)
	if v := w.Check("a", a[:1], now); !v.Paused || v.Changed {
		t.Fatalf("before the replacement arrived: %+v, want a wait", v)
	}
	a = append(a[:1], pod(now, false))
	v := w.Check("a", a, now)
	if !v.Paused || !v.Changed || v.Placing || !strings.Contains(v.Message, "without Ballast's placement") {
		t.Fatalf("unplaced replacement: %+v, want a reported pause", v)
	}
	for _, key := range []string{"a", "b"} {
		if v := w.Check(key, nil, now.Add(time.Minute)); !v.Paused || v.Changed {
			t.Fatalf("workload %s during the pause: %+v", key, v)
		}
	}
	if ok, msg := w.Placing(now.Add(time.Minute)); ok || !strings.Contains(msg, "paused until") {
		t.Fatalf("Placing during the pause: %v %q", ok, msg)
	}
	// The pause ends: b makes the trial pass, a waits for its verdict.
	now = now.Add(FirstPause)
	if v := w.Check("b", nil, now); v.Paused {
		t.Fatalf("no trial pass after the pause: %+v", v)
	}
	b := []*podstore.Pod{pod(now, false)}
	w.Evicted("b", b, now)
	if v := w.Check("a", a, now.Add(time.Second)); !v.Paused || !strings.Contains(v.Message, "trial") {
		t.Fatalf("a second workload evicts during the trial: %+v", v)
	}
	if ok, _ := w.Placing(now.Add(time.Second)); ok {
		t.Fatal("Placing during the trial")
	}
	now = now.Add(5 * time.Second)
	b = []*podstore.Pod{pod(now, true)}
	if v := w.Check("b", b, now); v.Paused || !v.Changed || !v.Placing {
		t.Fatalf("placed replacement of the trial: %+v, want a reported resume", v)
	}
	if v := w.Check("a", a, now); v.Paused {
		t.Fatalf("a still paused after the resume: %+v", v)
	}
	if ok, _ := w.Placing(now); !ok {
		t.Fatal("Placing false after the resume")
	}
}

// TestBackoffDoublesUpToAnHour: trials whose replacements stay unplaced double the pause.
func TestBackoffDoublesUpToAnHour(t *testing.T) {
	w, now := newWatch(), time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var pauses []time.Duration
	for range 7 {
		if v := w.Check("a", nil, now); v.Paused {
			t.Fatalf("no pass at %s: %+v", now, v)
		}
		w.Evicted("a", nil, now)
		now = now.Add(time.Second)
		v := w.Check("a", []*podstore.Pod{pod(now, false)}, now)
		if !v.Paused {
			t.Fatalf("unplaced replacement did not pause: %+v", v)
		}
		pauses = append(pauses, w.pausedUntil.Sub(now))
		now = w.pausedUntil
	}
	want := []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, time.Hour, time.Hour, time.Hour}
	if fmt.Sprint(pauses) != fmt.Sprint(want) {
		t.Fatalf("pauses %v, want %v", pauses, want)
	}
}

// TestAPlacedPodCreatedDuringThePauseEndsIt: Observe ends a pause on a placed pod created
// after it began, not on older placed pods nor on new unplaced ones.
func TestAPlacedPodCreatedDuringThePauseEndsIt(t *testing.T) {
	w, now := newWatch(), time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	old := pod(now.Add(-time.Hour), true)
	w.Evicted("a", nil, now)
	if v := w.Check("a", []*podstore.Pod{pod(now.Add(time.Second), false)}, now.Add(time.Second)); !v.Changed {
		t.Fatalf("no pause: %+v", v)
	}
	if v := w.Observe([]*podstore.Pod{old, pod(now.Add(time.Minute), false)}); v.Changed {
		t.Fatalf("resumed on an old placed pod or a new unplaced one: %+v", v)
	}
	if v := w.Observe([]*podstore.Pod{pod(now.Add(2*time.Minute), true)}); !v.Changed || !v.Placing {
		t.Fatalf("a new placed pod did not end the pause: %+v", v)
	}
	if ok, _ := w.Placing(now.Add(2 * time.Minute)); !ok {
		t.Fatal("still paused")
	}
}

// TestRestoreKeepsAReportedPause: a watch restored from a False condition is paused
// for FirstPause from now and treats the time paused so far as its backoff; True or no
// condition restores nothing.
func TestRestoreKeepsAReportedPause(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	w := newWatch()
	w.Restore(false, now.Add(-30*time.Minute), now)
	if ok, _ := w.Placing(now.Add(FirstPause - time.Second)); ok {
		t.Fatal("restored watch not paused")
	}
	if v := w.Check("a", nil, now.Add(FirstPause)); v.Paused {
		t.Fatalf("no trial after the restored pause: %+v", v)
	}
	w.Evicted("a", nil, now.Add(FirstPause))
	at := now.Add(FirstPause + time.Second)
	w.Check("a", []*podstore.Pod{pod(at, false)}, at)
	if got := w.pausedUntil.Sub(at); got != time.Hour {
		t.Fatalf("pause after a restored 30-minute pause: %s, want an hour", got)
	}
	w = newWatch()
	w.Restore(true, time.Time{}, now)
	if ok, _ := w.Placing(now); !ok {
		t.Fatal("restored from True: paused")
	}
}
