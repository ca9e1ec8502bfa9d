package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"sync"

	yamlv2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Marshal writes objects as one YAML stream, each document starting with "---", in the
// order given. Map keys are sorted, so the same objects always give the same bytes.
// Fields that only Go's zero values put there — null values, metadata.creationTimestamp
// and an empty status — are left out, so that the stream reads as if written by hand and
// applies cleanly with kubectl, server-side apply and Argo CD.
func Marshal(objs []client.Object) ([]byte, error) {
	// Objects marshal independently: spread them over the CPUs, in chunks so that
	// each worker writes to its own slots.
	docs := make([][]byte, len(objs))
	errs := make([]error, len(objs))
	workers := min(runtime.GOMAXPROCS(0), (len(objs)+63)/64)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(objs); i += workers {
				docs[i], errs[i] = marshalObject(objs[i])
			}
		})
	}
	wg.Wait()
	var buf bytes.Buffer
	for i, obj := range objs {
		if errs[i] != nil {
			return nil, fmt.Errorf("failed to marshal object %d (%s %q): %w", i, obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), errs[i])
		}
		buf.WriteString("---\n")
		buf.Write(docs[i])
	}
	return buf.Bytes(), nil
}

func marshalObject(obj client.Object) ([]byte, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if meta, ok := m["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	if status, ok := m["status"]; ok && isEmpty(status) {
		delete(m, "status")
	}
	DropNulls(m)
	return yamlv2.Marshal(yamlValues(m))
}

// yamlValues replaces the JSON numbers in v with the values the YAML parser gives
// their text (an int, else a uint64, else a float64), so that marshalling v gives the
// bytes sigs.k8s.io/yaml.Marshal gives (JSON, parsed as YAML, marshalled) without
// the detour.
func yamlValues(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = yamlValues(e)
		}
	case []any:
		for i, e := range v {
			v[i] = yamlValues(e)
		}
	case json.Number:
		s := string(v)
		if i, err := strconv.ParseInt(s, 0, 64); err == nil {
			return int(i)
		}
		if u, err := strconv.ParseUint(s, 0, 64); err == nil {
			return u
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
		return s
	}
	return v
}

// DropNulls removes null values from the maps of a decoded JSON value, recursively.
func DropNulls(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e == nil {
				delete(v, k)
				continue
			}
			DropNulls(e)
		}
	case []any:
		for _, e := range v {
			DropNulls(e)
		}
	}
}

// isEmpty reports whether v is null or a map whose values are all empty.
func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case map[string]any:
		for _, e := range v {
			if !isEmpty(e) {
				return false
			}
		}
		return true
	}
	return false
}
