package podstore

import (
	"slices"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func pods(names ...string) []corev1.Pod {
	out := make([]corev1.Pod, len(names))
	for i, n := range names {
		out[i] = corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: n, ResourceVersion: "1",
			Labels: map[string]string{"app": n[:1]}}}
	}
	return out
}

func names(ps []*Pod) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	slices.Sort(out)
	return out
}

// byApp indexes pods by their app label.
func byApp(p *Pod) []string {
	if a := p.Labels["app"]; a != "" {
		return []string{a}
	}
	return nil
}

// An informer's store, filled as its reflector fills it, holding the cache's records
// (trimmed: Pod) or whole pods (untrimmed).
func informerOf(t *testing.T, objs ...any) toolscache.SharedIndexInformer {
	t.Helper()
	informer := toolscache.NewSharedIndexInformer(&toolscache.ListWatch{}, &corev1.Pod{}, 0,
		toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
	for _, o := range objs {
		if err := informer.GetStore().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	return informer
}

// The informer's store hands out its own records: no copy, the same pointers a
// second read gets.
func TestFromInformerReadsTheStore(t *testing.T) {
	items := pods("a", "b", "c")
	records := RecordsOf(items)
	informer := informerOf(t, records[0], records[1], records[2])
	ctx := t.Context()
	r, err := FromInformer(informer)
	if err != nil {
		t.Fatal(err)
	}
	first, err := r.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(first); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("pods = %v, want a, b, c", got)
	}
	second, _ := r.All(ctx)
	for _, p := range first {
		if !slices.Contains(records, p) {
			t.Errorf("%s is not the store's own record", p.Name)
		}
		if !slices.Contains(second, p) {
			t.Errorf("a second read did not return %s's record", p.Name)
		}
	}
}

// Selected, AddIndex and Indexed read the same pods from an informer of records, an
// informer of whole pods (an untrimmed cache) and a client.
func TestReadersSelectAndIndex(t *testing.T) {
	items := append(pods("a1", "a2", "b1"), corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "a3",
		Labels: map[string]string{"app": "a"}}})
	var whole, records []any
	var objs []client.Object
	for i := range items {
		whole = append(whole, &items[i])
		records = append(records, FromPod(&items[i]))
		objs = append(objs, items[i].DeepCopy())
	}
	trimmed, err := FromInformer(informerOf(t, records...))
	if err != nil {
		t.Fatal(err)
	}
	untrimmed, err := FromInformer(informerOf(t, whole...))
	if err != nil {
		t.Fatal(err)
	}
	listing := Or(nil, fake.NewClientBuilder().WithObjects(objs...).Build())
	ctx := t.Context()
	for name, r := range map[string]Reader{"records": trimmed, "whole pods": untrimmed, "client": listing} {
		t.Run(name, func(t *testing.T) {
			if err := r.AddIndex("app", byApp); err != nil {
				t.Fatal(err)
			}
			if err := r.AddIndex("app", byApp); err != nil {
				t.Fatalf("indexing twice under one name: %v", err)
			}
			got, err := r.Selected(ctx, "apps", labels.SelectorFromSet(labels.Set{"app": "a"}))
			if err != nil {
				t.Fatal(err)
			}
			if n := names(got); !slices.Equal(n, []string{"a1", "a2"}) {
				t.Errorf("selected %v, want a1, a2", n)
			}
			got, err = r.Indexed(ctx, "app", "a")
			if err != nil {
				t.Fatal(err)
			}
			if n := names(got); !slices.Equal(n, []string{"a1", "a2", "a3"}) {
				t.Errorf("indexed %v, want a1, a2, a3", n)
			}
			if got, _ := r.Indexed(ctx, "app", "c"); len(got) != 0 {
				t.Errorf("indexed %v under a value no pod has", names(got))
			}
		})
	}
}

func TestFromInformerRefusesWhatHasNoStore(t *testing.T) {
	if _, err := FromInformer(struct{}{}); err == nil {
		t.Fatal("want an error for an informer without a store")
	}
}

func TestOrKeepsItsReader(t *testing.T) {
	own := FromClient(fake.NewClientBuilder().Build())
	if r := Or(own, nil); r != own {
		t.Fatal("Or replaced the reader it was given")
	}
}

// Of reads an event's object: a record, a whole pod, a deleted pod's tombstone.
func TestOf(t *testing.T) {
	p := &pods("a")[0]
	p.Spec.NodeName = "n1"
	p.Status.Phase = corev1.PodRunning
	rec := FromPod(p)
	for name, obj := range map[string]any{
		"record": rec, "whole pod": p,
		"tombstone": toolscache.DeletedFinalStateUnknown{Key: "apps/a", Obj: rec},
	} {
		got, ok := Of(obj)
		if !ok || got.Name != "a" || got.Spec.NodeName != "n1" || got.Status.Phase != corev1.PodRunning {
			t.Errorf("%s: %+v, %v", name, got, ok)
		}
	}
	if _, ok := Of(&corev1.Node{}); ok {
		t.Error("a node read as a pod")
	}
}

// Object is what writes and events take: the pod's identity and metadata, its own
// copy.
func TestObject(t *testing.T) {
	p := &pods("a")[0]
	p.UID = "u1"
	rec := FromPod(p)
	o := rec.Object()
	if o.Name != "a" || o.Namespace != "apps" || o.UID != "u1" || o.ResourceVersion != "1" || o.Kind != "Pod" {
		t.Errorf("object %+v", o.ObjectMeta)
	}
	o.Labels["app"] = "changed"
	if rec.Labels["app"] != "a" {
		t.Error("the object shares the record's labels")
	}
	c := rec.DeepCopy()
	c.Labels["app"] = "changed"
	if rec.Labels["app"] != "a" || c.Spec.PodSpec != rec.Spec.PodSpec {
		t.Error("DeepCopy shares the metadata or copies the shared spec")
	}
}

// The record is what the cache holds for every pod: it must stay a fraction of a
// corev1.Pod (1,240 bytes) and in the allocator's 320-byte class.
func TestRecordSize(t *testing.T) {
	if n := unsafe.Sizeof(Pod{}); n > 320 {
		t.Errorf("a record is %d bytes, more than 320", n)
	}
}
