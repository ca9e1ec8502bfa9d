package policies

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxDepth bounds how deep a document may nest, and maxNodes how many nodes (counting
// expanded aliases) one document may have, so no input can exhaust the loader.
const (
	maxDepth = 64
	maxNodes = 200_000
)

var (
	quantityType = reflect.TypeFor[resource.Quantity]()
	durationType = reflect.TypeFor[metav1.Duration]()
	timeType     = reflect.TypeFor[metav1.Time]()
	// unmarshalerType: a type that decodes itself from JSON.
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// checker walks a YAML node tree against a Go API type the way the strict JSON decoder
// of the API server would read it, and reports each problem with its position: unknown
// fields, duplicate keys, wrong types, missing required fields, invalid quantities.
type checker struct {
	file     string
	findings Findings
	nodes    int
}

func (c *checker) report(n *yaml.Node, field, rule, format string, args ...any) {
	c.findings = append(c.findings, Finding{
		Position: Position{File: c.file, Line: n.Line, Column: n.Column},
		Field:    field, Rule: rule, Severity: SeverityError,
		Message: fmt.Sprintf(format, args...),
	})
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxDepth; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// check walks n as a value of type t at the field path.
func (c *checker) check(n *yaml.Node, t reflect.Type, path string, depth int) {
	n = c.enter(n, path, depth, "the document nests too deeply or is too large to be a policy")
	if n == nil {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isNull(n) {
		return // null is the zero value, as in the API server.
	}
	switch t {
	case quantityType:
		c.checkQuantity(n, path)
		return
	case durationType:
		if c.expectScalar(n, path, "a duration such as 30s or 5m") {
			if _, err := time.ParseDuration(n.Value); err != nil {
				c.report(n, path, RuleInvalidDuration, "%q is not a duration: write a number and a unit, e.g. 30s, 5m, 1h30m", n.Value)
			}
		}
		return
	case timeType:
		if c.expectScalar(n, path, "a timestamp") {
			if _, err := time.Parse(time.RFC3339, n.Value); err != nil {
				c.report(n, path, RuleWrongType, "%q is not an RFC 3339 timestamp", n.Value)
			}
		}
		return
	}
	if t.Kind() == reflect.Struct && reflect.PointerTo(t).Implements(unmarshalerType) {
		// A type that reads itself (Karpenter's NillableDuration, say): checked by its
		// own decoder, at this node.
		c.checkUnmarshaler(n, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		c.checkStruct(n, t, path, depth)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.report(n, path, RuleWrongType, "expected a mapping of keys to values, got %s", describe(n))
			return
		}
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := resolve(n.Content[i]), n.Content[i+1]
			if !c.checkKey(k, path, seen) {
				continue
			}
			c.check(v, t.Elem(), join(path, k.Value), depth+1)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.report(n, path, RuleWrongType, "expected a list, got %s", describe(n))
			return
		}
		for i, item := range n.Content {
			c.check(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	case reflect.String:
		if c.expectScalar(n, path, "a string") && n.Tag != "!!str" && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 && n.Tag != "!!timestamp" {
			c.report(n, path, RuleWrongType, "expected a string, got %s: put it in quotes, e.g. \"%s\"", describe(n), n.Value)
		}
	case reflect.Bool:
		if c.expectScalar(n, path, "true or false") && n.Tag != "!!bool" {
			c.report(n, path, RuleWrongType, "expected true or false, got %s", describe(n))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		c.checkInt(n, t, path)
	case reflect.Float32, reflect.Float64:
		if c.expectScalar(n, path, "a number") && n.Tag != "!!int" && n.Tag != "!!float" {
			c.report(n, path, RuleWrongType, "expected a number, got %s", describe(n))
		}
	case reflect.Interface:
		// Any value is allowed.
	}
}

// checkUnmarshaler decodes the node with the type's own JSON decoder and reports its
// error.
func (c *checker) checkUnmarshaler(n *yaml.Node, t reflect.Type, path string) {
	data, err := toJSON(n)
	if err != nil {
		c.report(n, path, RuleWrongType, "%v", err)
		return
	}
	if err := json.Unmarshal(data, reflect.New(t).Interface()); err != nil {
		c.report(n, path, RuleWrongType, "%s is not a valid value: %v", describe(n), err)
	}
}

// enter resolves the node and counts it; nil when there is none, or when the document
// nests deeper than maxDepth or has more than maxNodes nodes (reported once, with
// message).
func (c *checker) enter(n *yaml.Node, path string, depth int, message string) *yaml.Node {
	n = resolve(n)
	if n == nil {
		return nil
	}
	c.nodes++
	if depth > maxDepth || c.nodes > maxNodes {
		if c.nodes == maxNodes+1 || depth == maxDepth+1 {
			c.report(n, path, RuleTooComplex, "%s", message)
		}
		return nil
	}
	return n
}

// checkKey reports non-string and duplicate keys; it returns false when the key is unusable.
func (c *checker) checkKey(k *yaml.Node, path string, seen map[string]*yaml.Node) bool {
	if k.Kind != yaml.ScalarNode {
		c.report(k, path, RuleWrongType, "a key must be a plain string, got %s", describe(k))
		return false
	}
	if k.Tag == "!!merge" {
		c.report(k, path, RuleWrongType, "YAML merge keys (<<) are not supported in policies: write the fields out")
		return false
	}
	if first, dup := seen[k.Value]; dup {
		c.report(k, join(path, k.Value), RuleDuplicateKey, "%q is set twice in this mapping (first at line %d): remove one", k.Value, first.Line)
		return false
	}
	seen[k.Value] = k
	return true
}

func (c *checker) checkStruct(n *yaml.Node, t reflect.Type, path string, depth int) {
	if n.Kind != yaml.MappingNode {
		c.report(n, path, RuleWrongType, "expected a mapping of fields, got %s", describe(n))
		return
	}
	fields := jsonFields(t)
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if !c.checkKey(k, path, seen) {
			continue
		}
		f, ok := fields[k.Value]
		if !ok {
			msg := fmt.Sprintf("unknown field %q", k.Value)
			if s := suggest(k.Value, fields); s != "" {
				msg += fmt.Sprintf(": did you mean %q?", s)
			} else if path != "" {
				msg += fmt.Sprintf(": %s has the fields %s", path, strings.Join(sortedKeys(fields), ", "))
			}
			c.report(k, join(path, k.Value), RuleUnknownField, "%s", msg)
			continue
		}
		c.check(v, f.typ, join(path, k.Value), depth+1)
	}
	for name, f := range fields {
		if f.required {
			if _, ok := seen[name]; !ok {
				c.report(n, join(path, name), RuleMissingField, "%s is required", join(path, name))
			}
		}
	}
}

func (c *checker) expectScalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode {
		c.report(n, path, RuleWrongType, "expected %s, got %s", want, describe(n))
		return false
	}
	return true
}

func (c *checker) checkInt(n *yaml.Node, t reflect.Type, path string) {
	if !c.expectScalar(n, path, "a whole number") {
		return
	}
	if n.Tag != "!!int" {
		c.report(n, path, RuleWrongType, "expected a whole number, got %s", describe(n))
		return
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil {
		c.report(n, path, RuleOutOfRange, "%s does not fit in a 64-bit number", n.Value)
		return
	}
	bits := t.Bits()
	var lo, hi int64 = math.MinInt64, math.MaxInt64
	if bits < 64 {
		lo, hi = -(1 << (bits - 1)), 1<<(bits-1)-1
	}
	if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64 {
		lo = 0
	}
	if v < lo || v > hi {
		c.report(n, path, RuleOutOfRange, "%d is out of range: it must be between %d and %d", v, lo, hi)
	}
}

func (c *checker) checkQuantity(n *yaml.Node, path string) {
	if !c.expectScalar(n, path, "a quantity such as 4 or 16Gi") {
		return
	}
	if _, err := resource.ParseQuantity(n.Value); err != nil {
		c.report(n, path, RuleInvalidQuantity, "%q is not a quantity: write a number with an optional suffix, e.g. 500m, 4, 16Gi", n.Value)
	}
}

// describe names what a node holds, for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "null"
		case "!!str":
			return strconv.Quote(n.Value)
		}
		return n.Value
	}
	return "an unsupported YAML node"
}

type fieldInfo struct {
	typ      reflect.Type
	required bool
}

var fieldCache sync.Map // reflect.Type -> map[string]fieldInfo

// jsonFields lists the JSON fields of a struct type, following inline embedding, and
// whether each is required (no omitempty).
func jsonFields(t reflect.Type) map[string]fieldInfo {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]fieldInfo)
	}
	out := map[string]fieldInfo{}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" || (!sf.IsExported() && !sf.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if sf.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			for k, v := range jsonFields(et) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = sf.Name
		}
		// Karpenter's types mark optional fields without omitempty as well: which of
		// their fields are required is Karpenter's CRDs' to say (crdcheck).
		required := !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && sf.Type.Kind() != reflect.Pointer &&
			!karpenterType(t)
		out[name] = fieldInfo{typ: sf.Type, required: required}
	}
	fieldCache.Store(t, out)
	return out
}

// karpenterType reports whether a type is one of Karpenter's API types (core or AWS
// provider), embedded as written in spec.nodePools and spec.nodeClasses.
func karpenterType(t reflect.Type) bool {
	pkg := t.PkgPath()
	return strings.HasPrefix(pkg, "sigs.k8s.io/karpenter/") || strings.HasPrefix(pkg, "github.com/aws/karpenter-provider-aws/")
}

// toJSON converts a checked node tree into JSON for the typed decode: the JSON of
// toValue's value, written straight from the nodes (keys in document order; the
// checker has refused duplicate keys).
func toJSON(n *yaml.Node) ([]byte, error) {
	return appendJSON(make([]byte, 0, 512), n, 0)
}

func appendJSON(buf []byte, n *yaml.Node, depth int) ([]byte, error) {
	n = resolve(n)
	if n == nil || depth > maxDepth {
		return nil, fmt.Errorf("document too deep")
	}
	var err error
	switch n.Kind {
	case yaml.MappingNode:
		buf = append(buf, '{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, resolve(n.Content[i]).Value)
			buf = append(buf, ':')
			if buf, err = appendJSON(buf, n.Content[i+1], depth+1); err != nil {
				return nil, err
			}
		}
		return append(buf, '}'), nil
	case yaml.SequenceNode:
		buf = append(buf, '[')
		for i, item := range n.Content {
			if i > 0 {
				buf = append(buf, ',')
			}
			if buf, err = appendJSON(buf, item, depth+1); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str", "!!timestamp", "!!binary":
			return appendJSONString(buf, n.Value), nil
		case "!!null":
			return append(buf, "null"...), nil
		}
	}
	v, err := toValue(n, depth)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(buf, data...), nil
}

// appendJSONString appends s as a JSON string, as json.Marshal writes it.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			data, _ := json.Marshal(s) // escapes and invalid UTF-8 as json.Marshal does
			return append(buf, data...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

func toValue(n *yaml.Node, depth int) (any, error) {
	n = resolve(n)
	if n == nil || depth > maxDepth {
		return nil, fmt.Errorf("document too deep")
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := toValue(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			m[resolve(n.Content[i]).Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := toValue(item, depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str", "!!timestamp", "!!binary":
			return n.Value, nil
		case "!!null":
			return nil, nil
		case "!!int": // plain decimals, without a decoder each
			if plainDecimal(n.Value) {
				if i, err := strconv.Atoi(n.Value); err == nil {
					return i, nil
				}
			}
		case "!!bool":
			switch n.Value {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
			return n.Value, nil
		}
		return v, nil
	}
	return nil, fmt.Errorf("unsupported YAML node at line %d", n.Line)
}

// plainDecimal reports whether s is a decimal integer without sign or leading zero,
// which YAML and strconv.Atoi read alike (YAML reads 010 as octal).
func plainDecimal(s string) bool {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
