package status

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
)

func TestConditionKeepsTransitionTimeWhileStatusHolds(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	current := []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Serving", LastTransitionTime: metav1.NewTime(t0)}}
	later := t0.Add(time.Hour)
	for _, tc := range []struct {
		name   string
		status metav1.ConditionStatus
		want   time.Time
	}{
		{"same status keeps the time", metav1.ConditionTrue, t0},
		{"new status takes now", metav1.ConditionFalse, later},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Condition(current, "Ready", tc.status, "Serving", "msg", 3, later)
			if !c.LastTransitionTime.Time.Equal(tc.want) {
				t.Fatalf("lastTransitionTime = %v, want %v", c.LastTransitionTime, tc.want)
			}
			if c.ObservedGeneration != 3 {
				t.Fatalf("observedGeneration = %d, want 3", c.ObservedGeneration)
			}
		})
	}
}

func TestConditionMessageIsBoundedAndValidUTF8(t *testing.T) {
	long := strings.Repeat("é", MaxMessage)
	c := Condition(nil, "Ready", metav1.ConditionFalse, "Failed", long, 1, time.Now())
	if len(c.Message) > MaxMessage || !utf8.ValidString(c.Message) || !strings.HasSuffix(c.Message, fmt.Sprintf("… (truncated, %d bytes more)", len(long)-strings.Index(c.Message, "…"))) {
		t.Fatalf("message of %d bytes, valid UTF-8 %v", len(c.Message), utf8.ValidString(c.Message))
	}
	if short := Condition(nil, "Ready", metav1.ConditionTrue, "Ok", "fine", 1, time.Now()); short.Message != "fine" {
		t.Fatalf("short message changed: %q", short.Message)
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{strings.Repeat("a", 100), 40, strings.Repeat("a", 10) + "… (truncated, 90 bytes more)"},
		// The cut never splits é (2 bytes).
		{strings.Repeat("é", 50), 40, strings.Repeat("é", 5) + "… (truncated, 90 bytes more)"},
		{strings.Repeat("a", 100), 5, "… ("},
	} {
		got := Truncate(tc.in, tc.limit)
		if got != tc.want || len(got) > tc.limit || !utf8.ValidString(got) {
			t.Errorf("Truncate(%d bytes, %d) = %q (%d bytes), want %q", len(tc.in), tc.limit, got, len(got), tc.want)
		}
	}
}

func TestMessageRedactsBeforeTruncating(t *testing.T) {
	msg := "failed to fetch https://user:p@ss#w/rd@git.example.com/r.git: " + strings.Repeat("x", 10000) + "\xff"
	got := Message(msg, 80)
	if strings.Contains(got, "p@ss") || strings.Contains(got, "w/rd") || len(got) > 80 || !utf8.ValidString(got) {
		t.Errorf("Message = %q", got)
	}
	// A URL the cut would split is redacted first.
	got = Message("x https://token-value-1234@host/p", 20)
	if strings.Contains(got, "token") {
		t.Errorf("Message = %q", got)
	}
}

func TestRecorderBoundsNotes(t *testing.T) {
	fake := events.NewFakeRecorder(2)
	rec := Events(fake)
	if Events(rec) != rec || Events(nil) != nil {
		t.Error("Events wrapped twice, or wrapped nil")
	}
	rec.Eventf(&corev1.Pod{}, nil, corev1.EventTypeWarning, "Failed", "Sync", "clone https://u:pw@h/r: %s", strings.Repeat("é", 2000))
	rec.Eventf(&corev1.Pod{}, nil, corev1.EventTypeNormal, "Done", "Sync", "100% done")
	got := <-fake.Events
	note := strings.TrimPrefix(got, "Warning Failed ")
	if strings.Contains(note, "pw") || len(note) > MaxEventMessage || !strings.Contains(note, "truncated") {
		t.Errorf("event = %q (%d bytes)", got, len(note))
	}
	if got := <-fake.Events; got != "Normal Done 100% done" {
		t.Errorf("event = %q", got)
	}
}

func TestSame(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := Condition(nil, "CostReported", metav1.ConditionTrue, "Priced", "3 nodes", 2, now)
	list := []metav1.Condition{c}
	if !Same(list, c) {
		t.Fatal("a condition is not the same as itself")
	}
	changed := c
	changed.Message = "4 nodes"
	if Same(list, changed) {
		t.Fatal("a changed message counts as the same")
	}
	if Same(nil, c) {
		t.Fatal("a missing condition counts as the same")
	}
}
