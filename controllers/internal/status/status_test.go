package status

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	if len(c.Message) > MaxMessage || !utf8.ValidString(c.Message) || !strings.HasSuffix(c.Message, "…") {
		t.Fatalf("message of %d bytes, valid UTF-8 %v", len(c.Message), utf8.ValidString(c.Message))
	}
	if short := Condition(nil, "Ready", metav1.ConditionTrue, "Ok", "fine", 1, time.Now()); short.Message != "fine" {
		t.Fatalf("short message changed: %q", short.Message)
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
