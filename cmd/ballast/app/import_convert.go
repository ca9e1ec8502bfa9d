package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/crdcheck"
	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// The objects ballast import reads.
const (
	nodePoolGroup   = "karpenter.sh"
	nodePoolKind    = "NodePool"
	nodeClassGroup  = "karpenter.k8s.aws"
	nodeClassKind   = "EC2NodeClass"
	karpenterV1     = "v1"
	nodePoolAPI     = nodePoolGroup + "/" + karpenterV1
	nodeClassAPI    = nodeClassGroup + "/" + karpenterV1
	importLiveWhere = "cluster"
)

// importSeverity says how much an import finding matters: an error writes nothing.
type importSeverity string

const (
	importError   importSeverity = "error"
	importWarning importSeverity = "warning"
	importNote    importSeverity = "note"
)

// importFinding is one line of ballast import's report: something it changed, could not
// carry, or chose.
type importFinding struct {
	// where is file:line:column, or "cluster" for an object read from the API server;
	// empty for findings about the whole import.
	where string
	// object is Kind/name, or empty.
	object   string
	severity importSeverity
	message  string
}

func (f importFinding) String() string {
	var b strings.Builder
	for _, part := range []string{f.where, f.object} {
		if part != "" {
			b.WriteString(part + ": ")
		}
	}
	b.WriteString(string(f.severity) + ": " + f.message)
	return b.String()
}

// importObject is one object read for import, as read, with where it came from.
type importObject struct {
	obj map[string]any
	// doc is the document it was read from (nil for an object of the cluster) and
	// prefix its path in the document ("" or "items[3]." for an item of a List).
	doc    *policies.Document
	prefix string
}

func (o *importObject) apiVersion() string { s, _ := o.obj["apiVersion"].(string); return s }
func (o *importObject) kind() string       { s, _ := o.obj["kind"].(string); return s }

func (o *importObject) name() string {
	meta, _ := o.obj["metadata"].(map[string]any)
	s, _ := meta["name"].(string)
	return s
}

// at says where a field of the object is: file:line:column, or "cluster".
func (o *importObject) at(field string) string {
	if o.doc == nil {
		return importLiveWhere
	}
	return o.doc.Locate(o.prefix + field).String()
}

// ref is Kind/name, as kubectl names objects.
func (o *importObject) ref() string {
	if o.kind() == "" {
		return ""
	}
	return o.kind() + "/" + o.name()
}

// importFindings collects the report.
type importFindings []importFinding

func (fs *importFindings) add(o *importObject, field string, sev importSeverity, format string, args ...any) {
	f := importFinding{severity: sev, message: fmt.Sprintf(format, args...)}
	if o != nil {
		f.where, f.object = o.at(field), o.ref()
	}
	*fs = append(*fs, f)
}

func (fs importFindings) errors() int {
	n := 0
	for _, f := range fs {
		if f.severity == importError {
			n++
		}
	}
	return n
}

// imported is a NodePool or EC2NodeClass converted to Karpenter's typed spec, before
// names are given.
type imported struct {
	src   *importObject
	pool  *karpv1.NodePoolSpec
	class *awsv1.EC2NodeClassSpec
	// name is the name in the policy (the object's name, or the one given on import).
	name string
}

// runtimeAnnotations are annotations Karpenter and kubectl keep on the objects as
// state of their own; rendering them again would be wrong.
var runtimeAnnotations = []string{
	"karpenter.sh/nodepool-hash",
	"karpenter.sh/nodepool-hash-version",
	"karpenter.k8s.aws/ec2nodeclass-hash",
	"karpenter.k8s.aws/ec2nodeclass-hash-version",
	"kubectl.kubernetes.io/last-applied-configuration",
}

// serverMetadata are the metadata fields the API server sets.
var serverMetadata = []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"}

// karpenterFinalizers are the finalizers Karpenter puts on its objects.
var karpenterFinalizers = []string{"karpenter.k8s.aws/termination", "karpenter.sh/termination"}

// classify reports whether o is one of the objects import reads; a document of
// another kind is skipped with a note, an older Karpenter API is an error.
func classify(o *importObject, fs *importFindings) bool {
	group, version, _ := strings.Cut(o.apiVersion(), "/")
	kind := o.kind()
	switch {
	case (group == nodePoolGroup && kind == nodePoolKind) || (group == nodeClassGroup && kind == nodeClassKind):
		meta, _ := o.obj["metadata"].(map[string]any)
		labels, _ := meta["labels"].(map[string]any)
		if c, ok := labels[v1alpha1.ClusterLabel].(string); ok {
			// The default supply of a cluster already on Ballast, or an imported pool:
			// Ballast renders it from its policy already.
			fs.add(o, "metadata.labels", importNote, "skipped: Ballast renders it from the policy of cluster %q already (label %s)", c, v1alpha1.ClusterLabel)
			return false
		}
		if version != karpenterV1 {
			fs.add(o, "apiVersion", importError, "apiVersion %s is not supported: ballast import reads Karpenter's v1 API (%s, %s); upgrade Karpenter to v1 first (its upgrade guide converts the objects) and import the v1 objects", o.apiVersion(), nodePoolAPI, nodeClassAPI)
			return false
		}
		return true
	case kind == "":
		fs.add(o, "", importNote, "skipped: this document is not a Kubernetes object")
	default:
		fs.add(o, "kind", importNote, "skipped: %s (%s) is not a NodePool or EC2NodeClass", kind, o.apiVersion())
	}
	return false
}

// convert turns a NodePool or EC2NodeClass into its spec, with Karpenter's CRD
// defaults applied while an absent field can still be told from a zero one, and
// reports what it does not carry or writes differently.
func convert(checker *crdcheck.Checker, o *importObject, fs *importFindings) *imported {
	name := o.name()
	if name == "" {
		fs.add(o, "metadata", importError, "metadata.name is missing")
		return nil
	}
	var runtime []string
	for key := range o.obj {
		switch key {
		case "apiVersion", "kind", "metadata", "spec":
		case "status":
			runtime = append(runtime, "status")
		default:
			fs.add(o, key, importWarning, "%s is not carried: a %s has no such field", key, o.kind())
		}
	}
	runtime = append(runtime, metadataFindings(o, fs)...)
	if len(runtime) > 0 {
		slices.Sort(runtime)
		fs.add(o, "metadata", importNote, "not carried, runtime state that Karpenter and the API server keep: %s", strings.Join(runtime, ", "))
	}
	spec, ok := o.obj["spec"].(map[string]any)
	if !ok {
		fs.add(o, "spec", importError, "spec is missing or not a mapping")
		return nil
	}
	// Only the spec is checked: the metadata that is carried is the name.
	obj := map[string]any{"apiVersion": o.apiVersion(), "kind": o.kind(), "metadata": map[string]any{"name": name}, "spec": deepCopyJSON(spec)}
	violations, err := checker.Check(obj)
	if err != nil {
		fs.add(o, "", importError, "cannot be checked against Karpenter's CRD: %v", err)
		return nil
	}
	rejected := false
	for _, v := range violations {
		if strings.HasPrefix(v.Message, "unknown field") {
			fs.add(o, v.Field, importWarning, "%s is not carried: Karpenter's %s CRD has no such field", v.Field, o.kind())
			continue
		}
		fs.add(o, v.Field, importError, "Karpenter's CRD rejects it: %s", v)
		rejected = true
	}
	if rejected {
		return nil
	}
	// Check pruned and defaulted obj as the API server would store it.
	defaulted := obj["spec"].(map[string]any)
	out := &imported{src: o, name: name}
	var typed any
	if o.kind() == nodePoolKind {
		out.pool = &karpv1.NodePoolSpec{}
		typed = out.pool
	} else {
		out.class = &awsv1.EC2NodeClassSpec{}
		typed = out.class
	}
	if err := strictDecode(defaulted, typed); err != nil {
		fs.add(o, "spec", importError, "the spec cannot be read as Karpenter's %s spec: %v", o.kind(), err)
		return nil
	}
	written, err := toJSONMap(typed)
	if err != nil {
		fs.add(o, "spec", importError, "the spec cannot be written again: %v", err)
		return nil
	}
	var rewritten []string
	for _, d := range jsonDiff("spec", defaulted, written) {
		if d.after == nil && !emptyJSON(d.before) {
			fs.add(o, d.path, importWarning, "%s is not carried: Karpenter's types drop it", d.path)
			continue
		}
		rewritten = append(rewritten, d.String())
	}
	if out.class != nil && out.class.UserData != nil {
		fs.add(o, "spec.userData", importNote, "spec.userData is carried as it is into the policy, and so into Git: make sure it holds no secret (read one at boot from AWS Secrets Manager or SSM instead)")
	}
	if len(rewritten) > 0 {
		fs.add(o, "spec", importNote, "written as Karpenter's types write it (the same values; kubectl diff shows these): %s", strings.Join(rewritten, "; "))
	}
	return out
}

// metadataFindings reports the object's metadata that is not carried and returns
// the runtime state among it.
func metadataFindings(o *importObject, fs *importFindings) []string {
	meta, _ := o.obj["metadata"].(map[string]any)
	var runtime []string
	for _, key := range slices.Sorted(maps.Keys(meta)) {
		switch {
		case key == "name":
		case key == "labels":
			labels, _ := meta[key].(map[string]any)
			if len(labels) > 0 {
				fs.add(o, "metadata.labels", importWarning, "the %s's own labels are not carried (%s): Ballast gives its objects its owner labels; the nodes' labels, spec.template.metadata.labels, are kept", o.kind(), strings.Join(slices.Sorted(maps.Keys(labels)), ", "))
			}
		case key == "annotations":
			annotations, _ := meta[key].(map[string]any)
			var own []string
			for _, k := range slices.Sorted(maps.Keys(annotations)) {
				if slices.Contains(runtimeAnnotations, k) {
					runtime = append(runtime, "annotation "+k)
				} else {
					own = append(own, k)
				}
			}
			if len(own) > 0 {
				fs.add(o, "metadata.annotations", importWarning, "the %s's own annotations are not carried (%s); the nodes' annotations, spec.template.metadata.annotations, are kept", o.kind(), strings.Join(own, ", "))
			}
		case key == "finalizers":
			finalizers, _ := meta[key].([]any)
			var own []string
			for _, f := range finalizers {
				s := fmt.Sprint(f)
				if slices.Contains(karpenterFinalizers, s) {
					runtime = append(runtime, "finalizer "+s)
				} else {
					own = append(own, s)
				}
			}
			if len(own) > 0 {
				fs.add(o, "metadata.finalizers", importWarning, "finalizers are not carried (%s)", strings.Join(own, ", "))
			}
		case key == "namespace":
			fs.add(o, "metadata.namespace", importNote, "metadata.namespace is ignored: a %s is cluster-scoped", o.kind())
		case slices.Contains(serverMetadata, key):
			runtime = append(runtime, "metadata."+key)
		default:
			fs.add(o, "metadata."+key, importWarning, "metadata.%s is not carried", key)
		}
	}
	return runtime
}

// strictDecode decodes a JSON object into a typed value, refusing fields it has not.
func strictDecode(from map[string]any, into any) error {
	data, err := json.Marshal(from)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

// toJSONMap writes a typed value as the JSON object the API server would read (integers
// as int64), without the nulls Go writes for nil fields.
func toJSONMap(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := utiljson.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	render.DropNulls(m)
	return m, nil
}

// deepCopyJSON copies a JSON value.
func deepCopyJSON[T any](v T) T {
	var out any
	switch v := any(v).(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = deepCopyJSON(e)
		}
		out = m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = deepCopyJSON(e)
		}
		out = s
	default:
		out = v
	}
	return out.(T)
}

// jsonChange is one field that differs between two JSON values; before or after is
// nil when the field is absent on that side.
type jsonChange struct {
	path          string
	before, after any
}

func (c jsonChange) String() string {
	show := func(v any) string {
		if v == nil {
			return "absent"
		}
		data, _ := json.Marshal(v)
		return string(data)
	}
	return fmt.Sprintf("%s %s → %s", c.path, show(c.before), show(c.after))
}

// jsonDiff lists the fields of two JSON values that differ, as field paths under path
// (spec.template.spec.taints[0].key), sorted.
func jsonDiff(path string, a, b any) []jsonChange {
	var out []jsonChange
	switch av := a.(type) {
	case map[string]any:
		if bv, ok := b.(map[string]any); ok {
			keys := slices.Sorted(maps.Keys(av))
			for k := range bv {
				if _, ok := av[k]; !ok {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			for _, k := range keys {
				out = append(out, jsonDiff(path+"."+k, av[k], bv[k])...)
			}
			return out
		}
	case []any:
		if bv, ok := b.([]any); ok && len(av) == len(bv) {
			for i := range av {
				out = append(out, jsonDiff(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])...)
			}
			return out
		}
	}
	if !jsonEqual(a, b) {
		out = append(out, jsonChange{path: path, before: a, after: b})
	}
	return out
}

// emptyJSON reports whether v is an empty list, object or string, which Karpenter's
// types leave out as if absent.
func emptyJSON(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	case string:
		return v == ""
	}
	return false
}

// jsonEqual compares JSON values, numbers by value whatever their Go type.
func jsonEqual(a, b any) bool {
	da, errA := json.Marshal(a)
	db, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(da, db)
}
