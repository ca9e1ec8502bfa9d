package trim

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"unique"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

type table[T any] struct {
	mu sync.Mutex
	m  map[string]T
}

// share returns the value in the table under key, after storing v there if none is.
func (t *table[T]) share(key string, v T) T {
	t.mu.Lock()
	defer t.mu.Unlock()
	if got, ok := t.m[key]; ok {
		return got
	}
	if t.m == nil || len(t.m) >= maxShared {
		t.m = make(map[string]T)
	}
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
	return stringMaps.share(key.String(), m)
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
	return unique.Make(s).Value()
}

// share makes a trimmed pod share what it has in common with other pods.
func share(p *corev1.Pod) *corev1.Pod {
	p.Namespace = shareString(p.Namespace)
	p.Labels = shareStrings(p.Labels)
	if len(p.OwnerReferences) > 0 {
		p.OwnerReferences = shareJSON(&owners, p.OwnerReferences)
	}
	p.Spec.NodeName = shareString(p.Spec.NodeName)
	p.Spec.NodeSelector = shareStrings(p.Spec.NodeSelector)
	if len(p.Spec.Tolerations) > 0 {
		p.Spec.Tolerations = shareJSON(&tolerations, p.Spec.Tolerations)
	}
	if p.Spec.Affinity != nil {
		p.Spec.Affinity.NodeAffinity = shareJSON(&affinities, p.Spec.Affinity.NodeAffinity)
	}
	p.Spec.Overhead = shareResources(p.Spec.Overhead)
	p.Status.Phase = corev1.PodPhase(shareString(string(p.Status.Phase)))
	for i := range p.Status.Conditions {
		c := &p.Status.Conditions[i]
		c.Type, c.Status = corev1.PodConditionType(shareString(string(c.Type))), corev1.ConditionStatus(shareString(string(c.Status)))
		c.Reason = shareString(c.Reason)
	}
	p.Spec.InitContainers = shareContainers(p.Spec.InitContainers)
	p.Spec.Containers = shareContainers(p.Spec.Containers)
	return p
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
