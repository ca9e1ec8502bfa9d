package podstore

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func pods(names ...string) []corev1.Pod {
	out := make([]corev1.Pod, len(names))
	for i, n := range names {
		out[i] = corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: n, ResourceVersion: "1"}}
	}
	return out
}

func names(ps []*corev1.Pod) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	slices.Sort(out)
	return out
}

// The informer's store hands out its own objects: no copy, the same pointers a
// second read gets.
func TestFromInformerReadsTheStore(t *testing.T) {
	// The informer is not run: its store is filled as its reflector would fill it.
	informer := toolscache.NewSharedIndexInformer(&toolscache.ListWatch{}, &corev1.Pod{}, 0, toolscache.Indexers{})
	items := pods("a", "b", "c")
	for i := range items {
		if err := informer.GetStore().Add(&items[i]); err != nil {
			t.Fatal(err)
		}
	}
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
		stored, exists, err := informer.GetStore().Get(p)
		if err != nil || !exists || stored.(*corev1.Pod) != p {
			t.Errorf("%s is not the store's own object", p.Name)
		}
		if !slices.Contains(second, p) {
			t.Errorf("a second read did not return %s's object", p.Name)
		}
	}
}

func TestFromInformerRefusesWhatHasNoStore(t *testing.T) {
	if _, err := FromInformer(struct{}{}); err == nil {
		t.Fatal("want an error for an informer without a store")
	}
}

func TestOrListsThroughTheClientWithoutAReader(t *testing.T) {
	objs := pods("x", "y")
	c := fake.NewClientBuilder().WithObjects(&objs[0], &objs[1]).Build()
	got, err := Or(nil, c).All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n := names(got); !slices.Equal(n, []string{"x", "y"}) {
		t.Fatalf("pods = %v, want x, y", n)
	}
	own := clientReader{c}
	if r := Or(own, nil); r != own {
		t.Fatal("Or replaced the reader it was given")
	}
}
