package podstore

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

// TestSelector: a selector loses only its requirements on the node's topology labels,
// so that it selects from the cache every pod it selects on the API server.
func TestSelector(t *testing.T) {
	for _, c := range []struct{ selector, want string }{
		{"app=web,pod-template-hash=abc", "app=web,pod-template-hash=abc"},
		{"app=web,topology.kubernetes.io/zone=us-east-1a", "app=web"},
		{"app=web,topology.kubernetes.io/zone notin (us-east-1a),topology.kubernetes.io/region", "app=web"},
		{"app=web,topology.k8s.io/rack=r1,team in (a,b)", "app=web,team in (a,b)"},
		{"!topology.kubernetes.io/zone", ""},
	} {
		sel, err := labels.Parse(c.selector)
		if err != nil {
			t.Fatal(err)
		}
		got := Selector(sel)
		if got.String() != c.want {
			t.Errorf("%q: %q, want %q", c.selector, got, c.want)
		}
		// A pod in the cache (its topology labels gone) that the API server's
		// selector selects.
		pod := labels.Set{"app": "web", "pod-template-hash": "abc", "team": "a"}
		onServer := labels.Merge(pod, labels.Set{"topology.kubernetes.io/zone": "us-east-1a", "topology.kubernetes.io/region": "us-east-1",
			"topology.k8s.io/rack": "r1"})
		if sel.Matches(onServer) && !got.Matches(pod) {
			t.Errorf("%q selects the pod on the server, %q not in the cache", c.selector, got)
		}
	}
	if got := Selector(labels.Everything()); !got.Empty() {
		t.Errorf("the empty selector became %q", got)
	}
}

func TestKeepsLabel(t *testing.T) {
	for key, want := range map[string]bool{
		"app": true, "ballast.dev/capacity": true, "topology.kubernetes.io/zone": false, "topology.kubernetes.io/region": false,
		"topology.k8s.io/zone": false, "topology.kubernetes.io/zone-id": true, "kubernetes.io/hostname": true,
	} {
		if got := KeepsLabel(key); got != want {
			t.Errorf("%s: %v, want %v", key, got, want)
		}
	}
}
