package status

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/redact"
)

// Bounds of the messages Ballast writes. The API allows a condition message of 32 KiB
// and an event note of 1 KiB (events.k8s.io/v1); an object holding several conditions
// and a list of findings must still be small enough to write.
const (
	// MaxMessage bounds a condition message.
	MaxMessage = 4 << 10
	// MaxEventMessage bounds the message of an event.
	MaxEventMessage = 1 << 10
	// MaxFindingMessage bounds the message of one finding in a status.
	MaxFindingMessage = 1 << 10
	// MaxFindingField bounds the file and the field of one finding in a status.
	MaxFindingField = 512
)

// Condition returns the condition typ as it should be now: its lastTransitionTime
// stays that of the current condition of the same type and status, so that applying
// an unchanged condition changes nothing.
func Condition(current []metav1.Condition, typ string, status metav1.ConditionStatus, reason, message string, generation int64, now time.Time) metav1.Condition {
	c := metav1.Condition{Type: typ, Status: status, Reason: reason, Message: Message(message, MaxMessage),
		ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(now.Truncate(time.Second))}
	for _, old := range current {
		if old.Type == typ && old.Status == status {
			c.LastTransitionTime = old.LastTransitionTime
		}
	}
	return c
}

// Find returns the condition typ of conditions, or nil.
func Find(conditions []metav1.Condition, typ string) *metav1.Condition {
	for i := range conditions {
		if conditions[i].Type == typ {
			return &conditions[i]
		}
	}
	return nil
}

// Same reports whether want is already in conditions as it would be stored.
func Same(conditions []metav1.Condition, want metav1.Condition) bool {
	c := Find(conditions, want.Type)
	return c != nil && c.Status == want.Status && c.Reason == want.Reason && c.Message == want.Message &&
		c.ObservedGeneration == want.ObservedGeneration && c.LastTransitionTime.Equal(&want.LastTransitionTime)
}

// Message returns msg as Ballast may show it, in a condition, an event, a finding or a
// commit status: redacted (see package redact), valid UTF-8 and at most limit bytes
// (see Truncate). Every message Ballast writes about a sync or a decision passes
// through it.
func Message(msg string, limit int) string {
	return Truncate(redact.String(strings.ToValidUTF8(msg, "\uFFFD")), limit)
}

// Truncate returns s when it has at most limit bytes, else its beginning, cut on a
// character boundary, followed by "… (truncated, N bytes more)", limit bytes at most
// in all. Redact before truncating: a cut URL may no longer show where its user
// information ends.
func Truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	// Size the marker for len(s) bytes cut, its longest; then once more for the bytes
	// actually cut, which may have a digit less.
	cut := runeStart(s, limit-len(marker(len(s))))
	if c := runeStart(s, limit-len(marker(len(s)-cut))); c > cut && c+len(marker(len(s)-c)) <= limit {
		cut = c
	}
	out := s[:cut] + marker(len(s)-cut)
	if len(out) > limit {
		// A limit too small for the marker: the marker's beginning alone.
		return marker(len(s))[:limit]
	}
	return out
}

// runeStart returns the largest i <= n (and >= 0) where a character of s starts.
func runeStart(s string, n int) int {
	n = max(min(n, len(s)), 0)
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}

func marker(n int) string { return fmt.Sprintf("… (truncated, %d bytes more)", n) }

// Apply server-side applies fields (the status fields this manager owns, e.g.
// {"cost": ...}) and conditions (only those it owns) to the status of the object gvk
// named key, as manager. Fields must be JSON-like values (see ToMap).
func Apply(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, key client.ObjectKey, manager string, fields map[string]any, conditions ...metav1.Condition) error {
	status := map[string]any{}
	for k, v := range fields {
		status[k] = v
	}
	if len(conditions) > 0 {
		list := make([]any, 0, len(conditions))
		for i := range conditions {
			m, err := ToMap(&conditions[i])
			if err != nil {
				return err
			}
			list = append(list, m)
		}
		status["conditions"] = list
	}
	meta := map[string]any{"name": key.Name}
	if key.Namespace != "" {
		meta["namespace"] = key.Namespace
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvk.GroupVersion().String(), "kind": gvk.Kind, "metadata": meta, "status": status,
	}}
	if err := c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(manager), client.ForceOwnership); err != nil {
		return fmt.Errorf("failed to apply the status of %s %s: %w", gvk.Kind, key, err)
	}
	return nil
}

// ToMap converts a typed value to the map form Apply takes.
func ToMap(v any) (map[string]any, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(v)
	if err != nil {
		return nil, fmt.Errorf("failed to convert %T: %w", v, err)
	}
	return m, nil
}
