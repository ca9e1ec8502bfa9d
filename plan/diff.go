package plan

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// Action is what happens to an object.
type Action string

// The actions of a Change.
const (
	Added   Action = "added"
	Changed Action = "changed"
	Removed Action = "removed"
)

// Symbol is the one-character mark of the action: +, ~ or -.
func (a Action) Symbol() string {
	switch a {
	case Added:
		return "+"
	case Removed:
		return "-"
	default:
		return "~"
	}
}

// Change is one object that differs between the base and the head.
type Change struct {
	Key
	Action Action `json:"action"`
	// Fields are the changed fields of a Changed object, in document order (map keys
	// sorted); empty for Added and Removed objects.
	Fields []FieldChange `json:"fields,omitempty"`
}

// FieldChange is one field that differs.
type FieldChange struct {
	// Path locates the field: map keys joined by dots (["a.b/c"] when a key is not a
	// plain word), list items by index ([2]) or, in lists whose items have a name or
	// key, by that ([key=karpenter.sh/capacity-type]).
	Path string `json:"path"`
	// Old is the value at the base; nil when the field is new.
	Old any `json:"old,omitempty"`
	// New is the value at the head; nil when the field was removed.
	New any `json:"new,omitempty"`
}

// Diff compares the objects rendered at the base with those rendered at the head and
// returns the objects that differ, sorted by cluster, kind (in the order render emits
// them), namespace and name.
func Diff(base, head []Object) []Change {
	old := map[Key]Object{}
	for _, o := range base {
		old[o.Key] = o
	}
	var changes []Change
	seen := map[Key]bool{}
	for _, o := range head {
		seen[o.Key] = true
		b, ok := old[o.Key]
		if !ok {
			changes = append(changes, Change{Key: o.Key, Action: Added})
			continue
		}
		if fields := diffValues("", b.Content, o.Content, nil); len(fields) > 0 {
			changes = append(changes, Change{Key: o.Key, Action: Changed, Fields: fields})
		}
	}
	for _, o := range base {
		if !seen[o.Key] {
			changes = append(changes, Change{Key: o.Key, Action: Removed})
		}
	}
	slices.SortFunc(changes, func(a, b Change) int { return compareKeys(a.Key, b.Key) })
	return changes
}

func diffValues(path string, a, b any, out []FieldChange) []FieldChange {
	switch av := a.(type) {
	case map[string]any:
		if bv, ok := b.(map[string]any); ok {
			return diffMaps(path, av, bv, out)
		}
	case []any:
		if bv, ok := b.([]any); ok && isListOfMaps(av) && isListOfMaps(bv) {
			return diffLists(path, av, bv, out)
		}
	}
	if !reflect.DeepEqual(a, b) {
		out = append(out, FieldChange{Path: path, Old: a, New: b})
	}
	return out
}

func diffMaps(path string, a, b map[string]any, out []FieldChange) []FieldChange {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = diffValues(joinKey(path, k), a[k], b[k], out)
	}
	return out
}

// identities are the fields that name items of a list, tried in order; the first whose
// values are present and unique in both lists matches items by value instead of by
// position, so that inserting one item shows as one added item.
var identities = [][]string{{"name"}, {"key"}, {"key", "operator"}, {"deviceName"}}

func diffLists(path string, a, b []any, out []FieldChange) []FieldChange {
	for _, fields := range identities {
		ida, oka := itemIDs(a, fields)
		idb, okb := itemIDs(b, fields)
		if !oka || !okb {
			continue
		}
		byID := map[string]any{}
		for i, item := range a {
			byID[ida[i]] = item
		}
		inB := map[string]bool{}
		for i, item := range b {
			inB[idb[i]] = true
			out = diffValues(path+"["+idb[i]+"]", byID[idb[i]], item, out)
		}
		for i, item := range a {
			if !inB[ida[i]] {
				out = append(out, FieldChange{Path: path + "[" + ida[i] + "]", Old: item})
			}
		}
		return out
	}
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y any
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x == nil || y == nil {
			out = append(out, FieldChange{Path: fmt.Sprintf("%s[%d]", path, i), Old: x, New: y})
			continue
		}
		out = diffValues(fmt.Sprintf("%s[%d]", path, i), x, y, out)
	}
	return out
}

// itemIDs returns "f1=v1,f2=v2" for every item, and whether all items have scalar values
// for all fields and no two items share them.
func itemIDs(items []any, fields []string) ([]string, bool) {
	ids := make([]string, len(items))
	seen := map[string]bool{}
	for i, item := range items {
		m := item.(map[string]any)
		var parts []string
		for _, f := range fields {
			v, ok := m[f]
			if !ok || isComposite(v) {
				return nil, false
			}
			parts = append(parts, f+"="+scalar(v))
		}
		id := strings.Join(parts, ",")
		if seen[id] {
			return nil, false
		}
		seen[id] = true
		ids[i] = id
	}
	return ids, true
}

func isListOfMaps(items []any) bool {
	for _, item := range items {
		if _, ok := item.(map[string]any); !ok {
			return false
		}
	}
	return true
}

func isComposite(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

func joinKey(path, key string) string {
	if !plainKey.MatchString(key) {
		return path + "[" + quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func quote(s string) string {
	data, _ := json.Marshal(s)
	return string(data)
}
