package status

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// MaxMessage bounds a condition message (the API allows 32 KiB; a status that holds a
// few of them must still fit in one object).
const MaxMessage = 1024

// Condition returns the condition typ as it should be now: its lastTransitionTime
// stays that of the current condition of the same type and status, so that applying
// an unchanged condition changes nothing.
func Condition(current []metav1.Condition, typ string, status metav1.ConditionStatus, reason, message string, generation int64, now time.Time) metav1.Condition {
	c := metav1.Condition{Type: typ, Status: status, Reason: reason, Message: truncate(message),
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

func truncate(s string) string {
	if len(s) <= MaxMessage {
		return s
	}
	cut := MaxMessage - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

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
