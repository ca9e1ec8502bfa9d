package trim

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/controllers/internal/podstore"
)

// The pods of one workload carry the same labels, owner, node selector, tolerations
// and container resources; a trimmed pod shares them with the pods already cached
// rather than keeping copies of its own: a resource list alone is about 700 bytes, and
// a pod has two per container. Shared values are never written: the cache's readers
// get deep copies, and the few that read without (client.UnsafeDisableDeepCopy) and
// the event handlers must not change what they read anyway.
//
// Each kind of value has its table, by a key that is the value's content. A table
// that reaches maxShared entries starts afresh (the values already shared stay
// shared), so that a cluster of pods with requests of their own (a vertical pod
// autoscaler's) holds a bounded table, not one entry per pod it ever saw.
const maxShared = 8192

// maxSharedStrings bounds the strings' table (a few MB at most): strings are small,
// and a cluster has more distinct ones (node names, ReplicaSets' template hashes) than
// values of other kinds.
const maxSharedStrings = 1 << 16

type table[T any] struct {
	mu sync.Mutex
	m  map[string]T
	// limit is the entries the table holds before it starts afresh; maxShared when 0.
	limit int
}

// share returns the value in the table under key, after storing v there if none is.
func (t *table[T]) share(key string, v T) T {
	return t.shareMade(key, func() T { return v })
}

// shareMade returns the value in the table under key, after storing newValue's there if
// none is.
func (t *table[T]) shareMade(key string, newValue func() T) T {
	t.mu.Lock()
	defer t.mu.Unlock()
	if got, ok := t.m[key]; ok {
		return got
	}
	limit := t.limit
	if limit == 0 {
		limit = maxShared
	}
	if t.m == nil || len(t.m) >= limit {
		t.m = map[string]T{}
	}
	v := newValue()
	t.m[key] = v
	return v
}

var (
	stringMaps    table[map[string]string]
	resourceLists table[corev1.ResourceList]
	tolerations   table[[]corev1.Toleration]
	owners        table[[]metav1.OwnerReference]
	affinities    table[*corev1.NodeAffinity]
	// containerLists holds whole trimmed container lists (about 400 bytes a container
	// before its maps): the pods of a workload have the same.
	containerLists table[[]corev1.Container]
	// strs holds strings that repeat across objects, each the first object's own (the
	// API machinery's decoders copy every string out of the response, so none pins a
	// larger buffer). unique.Make would not do: it forgets a value once no Handle of
	// it is left, so the objects decoded after the next collection got copies again.
	strs = table[string]{limit: maxSharedStrings}
)

func shareStrings(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	var key strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		key.WriteString(k)
		key.WriteByte(0)
		key.WriteString(m[k])
		key.WriteByte(0)
	}
	// The first map of a kind is kept with its keys and values held once: the keys
	// (app, team, pod-template-hash...) repeat across workloads, and a workload's
	// values across its ReplicaSets' label sets.
	return stringMaps.shareMade(key.String(), func() map[string]string { return internStrings(m) })
}

func shareResources(l corev1.ResourceList) corev1.ResourceList {
	if len(l) == 0 {
		return l
	}
	var key strings.Builder
	for _, name := range slices.Sorted(maps.Keys(l)) {
		q := l[name]
		key.WriteString(string(name))
		key.WriteByte('=')
		key.WriteString(q.String())
		key.WriteByte(0)
	}
	return resourceLists.share(key.String(), l)
}

// shareJSON shares a value by its JSON form.
func shareJSON[T any](t *table[T], v T) T {
	key, err := json.Marshal(v)
	if err != nil {
		return v
	}
	return t.share(string(key), v)
}

// shareString returns the one copy of a string that repeats across pods (namespaces,
// node names).
func shareString(s string) string {
	if s == "" {
		return s
	}
	return strs.share(s, s)
}

// share makes a trimmed pod share what it has in common with other pods, its spec
// (without the node) included.
func share(p *podstore.Pod, spec corev1.PodSpec) *podstore.Pod {
	p.Namespace = shareString(p.Namespace)
	p.Labels = shareStrings(p.Labels)
	if len(p.OwnerReferences) > 0 {
		p.OwnerReferences = shareJSON(&owners, p.OwnerReferences)
	}
	p.Spec.NodeName = shareString(p.Spec.NodeName)
	shareSpec(&spec)
	p.Spec.PodSpec = specs.share(spec)
	p.Status.Phase = corev1.PodPhase(shareString(string(p.Status.Phase)))
	for i := range p.Status.Conditions {
		c := &p.Status.Conditions[i]
		c.Type, c.Status = corev1.PodConditionType(shareString(string(c.Type))), corev1.ConditionStatus(shareString(string(c.Status)))
		c.Reason = shareString(c.Reason)
	}
	return p
}

// specTable holds the pods' trimmed specs (without their node) by the identity of
// their parts, which shareSpec made the one copy of each: the pods of a workload share
// one spec. A spec with parts of its own (pod-level resources, claimed volumes: a
// StatefulSet pod claims its own) is not shared.
type specTable struct {
	mu sync.Mutex
	m  map[specKey]*corev1.PodSpec
}

// specKey is a spec by its shared parts (pointers, which keep them alive while the
// table holds the key).
type specKey struct {
	nodeSelector, tolerations, containers, initContainers, overhead, nodeAffinity unsafe.Pointer
	tolerationsLen, containersLen, initContainersLen                              int
}

var specs specTable

func mapPointer[K comparable, V any](m map[K]V) unsafe.Pointer {
	if m == nil {
		return nil
	}
	return *(*unsafe.Pointer)(unsafe.Pointer(&m))
}

func (t *specTable) share(s corev1.PodSpec) *corev1.PodSpec {
	if s.Resources != nil || len(s.Volumes) > 0 || (s.Affinity != nil && s.Affinity.NodeAffinity == nil) {
		return &s
	}
	key := specKey{
		nodeSelector: mapPointer(s.NodeSelector), overhead: mapPointer(s.Overhead),
		tolerations: unsafe.Pointer(unsafe.SliceData(s.Tolerations)), tolerationsLen: len(s.Tolerations),
		containers: unsafe.Pointer(unsafe.SliceData(s.Containers)), containersLen: len(s.Containers),
		initContainers: unsafe.Pointer(unsafe.SliceData(s.InitContainers)), initContainersLen: len(s.InitContainers),
	}
	if s.Affinity != nil {
		key.nodeAffinity = unsafe.Pointer(s.Affinity.NodeAffinity)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if got, ok := t.m[key]; ok {
		return got
	}
	if t.m == nil || len(t.m) >= maxShared {
		t.m = map[specKey]*corev1.PodSpec{}
	}
	t.m[key] = &s
	return &s
}

// shareSpec makes a trimmed pod spec (a pod's, or a workload's template) share its
// scheduling constraints and containers with the pods and templates that have the
// same: a Deployment's template shares its container list with its pods.
func shareSpec(s *corev1.PodSpec) {
	s.NodeSelector = shareStrings(s.NodeSelector)
	if len(s.Tolerations) > 0 {
		s.Tolerations = shareJSON(&tolerations, s.Tolerations)
	}
	if s.Affinity != nil {
		s.Affinity.NodeAffinity = shareJSON(&affinities, s.Affinity.NodeAffinity)
	}
	s.Overhead = shareResources(s.Overhead)
	s.InitContainers = shareContainers(s.InitContainers)
	s.Containers = shareContainers(s.Containers)
}

// internStrings returns a map holding the one copy of each of m's keys and values
// (shareString): node labels, whose keys and most values (instance type, zone,
// architecture, NodePool) repeat on every node. m itself is left as it is.
func internStrings(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[shareString(k)] = shareString(v)
	}
	return out
}

// shareContainers shares a trimmed container list whole when another pod has the same,
// and its names and resource lists otherwise.
func shareContainers(cs []corev1.Container) []corev1.Container {
	if len(cs) == 0 {
		return cs
	}
	for i := range cs {
		cs[i].Name = shareString(cs[i].Name)
		cs[i].Resources.Requests = shareResources(cs[i].Resources.Requests)
		cs[i].Resources.Limits = shareResources(cs[i].Resources.Limits)
	}
	return shareJSON(&containerLists, cs)
}
