package plan

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// FormatValue writes a field's value compactly, in YAML's flow style: scalars as they
// are (strings quoted only when they would read as something else), lists as [a, b],
// maps as {k: v} with sorted keys. A missing value (nil) is "(none)".
func FormatValue(v any) string {
	if v == nil {
		return "(none)"
	}
	var b strings.Builder
	writeFlow(&b, v)
	return b.String()
}

func writeFlow(b *strings.Builder, v any) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(flowString(k))
			b.WriteString(": ")
			writeFlow(b, v[k])
		}
		b.WriteString("}")
	case []any:
		b.WriteString("[")
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeFlow(b, e)
		}
		b.WriteString("]")
	case string:
		b.WriteString(flowString(v))
	default:
		b.WriteString(scalar(v))
	}
}

// scalar formats a non-string scalar; strings as they are.
func scalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case nil:
		return "null"
	default:
		return fmt.Sprint(v)
	}
}

var (
	ambiguous = regexp.MustCompile(`^(?i:true|false|yes|no|on|off|null|~|[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9]*)?)([eE][-+]?[0-9]+)?)$`)
	special   = regexp.MustCompile("[,{}\\[\\]\"\n\t]|: |:$| #|^[-?:!&*|>'%@`#]|^\\s|\\s$")
)

// flowString quotes s when, unquoted, it would not read back as the same string.
func flowString(s string) string {
	if s == "" || ambiguous.MatchString(s) || special.MatchString(s) {
		return quote(s)
	}
	return s
}
