package source

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
)

func TestOwns(t *testing.T) {
	pool := ref{Name: "ballast-prod-spot", GVK: schema.GroupVersionKind{Group: "karpenter.sh", Version: "v1", Kind: "NodePool"}}
	me := types.NamespacedName{Namespace: "team-a", Name: "policies"}
	listing := func(ns, name string) v1alpha1.PolicySource {
		return v1alpha1.PolicySource{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Status:     v1alpha1.PolicySourceStatus{Inventory: inventory([]ref{pool})},
		}
	}
	labels := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	const src, ns, cl = v1alpha1.SourceLabel, v1alpha1.SourceNamespaceLabel, v1alpha1.ClusterLabel
	cases := []struct {
		name    string
		labels  map[string]string
		sources []v1alpha1.PolicySource
		want    bool
	}{
		{"mine", labels(src, "policies", ns, "team-a", cl, "prod"), nil, true},
		{"mine, another of my name lists it", labels(src, "policies", ns, "team-a", cl, "prod"), []v1alpha1.PolicySource{listing("team-b", "policies")}, true},
		{"same name, other namespace", labels(src, "policies", ns, "team-b", cl, "prod"), nil, false},
		{"other name", labels(src, "other", ns, "team-a", cl, "prod"), nil, false},
		{"no cluster label", labels(src, "policies", ns, "team-a"), nil, false},
		{"no owner labels", nil, nil, false},
		{"name only, no other lists it", labels(src, "policies", cl, "prod"),
			[]v1alpha1.PolicySource{listing("team-a", "policies"), listing("team-b", "other")}, true},
		{"name only, another of my name lists it", labels(src, "policies", cl, "prod"),
			[]v1alpha1.PolicySource{listing("team-a", "policies"), listing("team-b", "policies")}, false},
		{"name only, another of my name lists something else", labels(src, "policies", cl, "prod"),
			[]v1alpha1.PolicySource{{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "policies"}}}, true},
		{"name only, other name", labels(src, "local", cl, "prod"), nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := owns(c.labels, pool, me, c.sources); got != c.want {
				t.Errorf("owns = %t, want %t", got, c.want)
			}
		})
	}
}

func TestClaimOf(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	source := func(ns, name, cluster string, created time.Duration, applied string) v1alpha1.PolicySource {
		ps := v1alpha1.PolicySource{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(t0.Add(created))},
			Spec:       v1alpha1.PolicySourceSpec{Cluster: cluster},
		}
		if applied != "" {
			ps.Status.Inventory = &v1alpha1.ResourceInventory{Entries: []v1alpha1.ResourceRef{v1alpha1ResourceRef(applied)}}
		}
		return ps
	}
	deleting := func(ps v1alpha1.PolicySource) v1alpha1.PolicySource {
		now := metav1.NewTime(t0.Add(time.Hour))
		ps.DeletionTimestamp = &now
		return ps
	}
	const (
		prodPool  = "_ballast-prod-on-demand_karpenter.sh_NodePool"
		prodSpot  = "_ballast-prod-spot_karpenter.sh_NodePool"
		prodClass = "_ballast-prod_karpenter.k8s.aws_EC2NodeClass"
		kwokClass = "_ballast-prod_karpenter.kwok.sh_KWOKNodeClass"
		// Names that only look like prod's.
		prodOnPool  = "_ballast-prod-on-on-demand_karpenter.sh_NodePool"
		prodPolicy  = "_ballast-prod_ballast.dev_ClusterPolicy"
		stagingPool = "_ballast-staging-on-demand_karpenter.sh_NodePool"
	)
	key := func(ns, name string) types.NamespacedName { return types.NamespacedName{Namespace: ns, Name: name} }
	cases := []struct {
		name    string
		sources []v1alpha1.PolicySource
		holder  types.NamespacedName
		waiting []types.NamespacedName
	}{
		{"none", []v1alpha1.PolicySource{source("a", "x", "staging", 0, "")}, types.NamespacedName{}, nil},
		{"alone", []v1alpha1.PolicySource{source("a", "x", "prod", 0, "")}, key("a", "x"), nil},
		{"the oldest", []v1alpha1.PolicySource{source("b", "x", "prod", time.Second, ""), source("a", "y", "prod", 2*time.Second, "")},
			key("b", "x"), []types.NamespacedName{key("a", "y")}},
		{"same age: by namespace", []v1alpha1.PolicySource{source("b", "x", "prod", 0, ""), source("a", "y", "prod", 0, "")},
			key("a", "y"), []types.NamespacedName{key("b", "x")}},
		{"the one that applied, though younger", []v1alpha1.PolicySource{source("a", "x", "prod", 0, ""), source("b", "x", "prod", time.Minute, prodPool)},
			key("b", "x"), []types.NamespacedName{key("a", "x")}},
		{"applied the spot pool", []v1alpha1.PolicySource{source("a", "x", "prod", 0, ""), source("b", "x", "prod", time.Minute, prodSpot)},
			key("b", "x"), []types.NamespacedName{key("a", "x")}},
		{"applied the node class", []v1alpha1.PolicySource{source("a", "x", "prod", 0, ""), source("b", "x", "prod", time.Minute, prodClass)},
			key("b", "x"), []types.NamespacedName{key("a", "x")}},
		{"applied the kwok node class", []v1alpha1.PolicySource{source("a", "x", "prod", 0, ""), source("b", "x", "prod", time.Minute, kwokClass)},
			key("b", "x"), []types.NamespacedName{key("a", "x")}},
		{"both applied: the oldest", []v1alpha1.PolicySource{source("a", "x", "prod", time.Minute, prodPool), source("b", "x", "prod", 0, prodPool)},
			key("b", "x"), []types.NamespacedName{key("a", "x")}},
		{"objects of another cluster or named alike do not count", []v1alpha1.PolicySource{
			source("a", "x", "prod", 0, ""), source("b", "x", "prod", time.Minute, stagingPool),
			source("c", "x", "prod", time.Minute, prodOnPool), source("d", "x", "prod", time.Minute, prodPolicy),
		}, key("a", "x"), []types.NamespacedName{key("b", "x"), key("c", "x"), key("d", "x")}},
		{"moved to another cluster: no claim here", []v1alpha1.PolicySource{source("a", "x", "staging", 0, prodPool), source("b", "x", "prod", time.Minute, "")},
			key("b", "x"), nil},
		{"being deleted: keeps the claim until gone", []v1alpha1.PolicySource{deleting(source("a", "x", "prod", 0, prodPool)), source("b", "x", "prod", time.Minute, "")},
			key("a", "x"), []types.NamespacedName{key("b", "x")}},
		{"being deleted and waiting: not waiting", []v1alpha1.PolicySource{source("a", "x", "prod", 0, prodPool), deleting(source("b", "x", "prod", time.Minute, ""))},
			key("a", "x"), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := claimOf("prod", c.sources)
			var holder types.NamespacedName
			if got.Holder != nil {
				holder = keyOf(got.Holder)
			}
			if holder != c.holder || !slices.Equal(got.Waiting, c.waiting) {
				t.Errorf("claim = %v waiting %v, want %v waiting %v", holder, got.Waiting, c.holder, c.waiting)
			}
		})
	}
}

// TestRecordInventory: the union of the last inventory and the objects about to be
// applied is written before they are, and only from the PolicySource's latest version:
// a copy the cache has not yet updated is read again (errStale), whatever the union.
func TestRecordInventory(t *testing.T) {
	old := ref{Name: "ballast-prod-spot", GVK: schema.GroupVersionKind{Group: "karpenter.sh", Version: "v1", Kind: "NodePool"}}
	stored := &v1alpha1.PolicySource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "policies"},
		Spec:       v1alpha1.PolicySourceSpec{Cluster: "prod"},
		Status:     v1alpha1.PolicySourceStatus{Inventory: inventory([]ref{old})},
	}
	kube := fake.NewClientBuilder().WithScheme(controlplane.Scheme).WithObjects(stored).WithStatusSubresource(stored).Build()
	r := &Reconciler{Client: kube}
	latest := &v1alpha1.PolicySource{}
	if err := kube.Get(context.Background(), client.ObjectKeyFromObject(stored), latest); err != nil {
		t.Fatal(err)
	}
	pool := &unstructured.Unstructured{}
	pool.SetGroupVersionKind(nodePoolGVK)
	pool.SetName("ballast-prod-on-demand")

	for _, objects := range [][]*unstructured.Unstructured{{pool}, nil} {
		staleCopy := latest.DeepCopy()
		staleCopy.ResourceVersion = "1"
		err := r.recordInventory(context.Background(), &syncState{obj: staleCopy, objects: objects, snapshot: &Snapshot{Revision: "main@sha1:2222"}})
		if !errors.Is(err, errStale) {
			t.Errorf("%d objects from a stale copy: error %v, want errStale", len(objects), err)
		}
	}

	s := &syncState{obj: latest.DeepCopy(), objects: []*unstructured.Unstructured{pool}, snapshot: &Snapshot{Revision: "main@sha1:2222"}}
	if err := r.recordInventory(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if err := kube.Get(context.Background(), client.ObjectKeyFromObject(stored), latest); err != nil {
		t.Fatal(err)
	}
	want := inventory([]ref{old, refOf(pool)})
	if !sameInventory(latest.Status.Inventory, want) || !sameInventory(s.obj.Status.Inventory, want) {
		t.Errorf("inventory stored %+v, in memory %+v, want %+v", latest.Status.Inventory, s.obj.Status.Inventory, want)
	}
}

// TestRefusedNamespacesHoldNoClaim: a PolicySource in a namespace the controller does
// not allow, however old, is not served: it holds no cluster's claim and owns nothing,
// so it cannot keep the allowed source from applying.
func TestRefusedNamespacesHoldNoClaim(t *testing.T) {
	old := metav1.NewTime(time.Now().Add(-time.Hour))
	c := fake.NewClientBuilder().WithScheme(controlplane.Scheme).WithObjects(
		&v1alpha1.PolicySource{ObjectMeta: metav1.ObjectMeta{Namespace: "intruder", Name: "policies", CreationTimestamp: old},
			Spec: v1alpha1.PolicySourceSpec{Cluster: "prod"}},
		&v1alpha1.PolicySource{ObjectMeta: metav1.ObjectMeta{Namespace: "ballast-system", Name: "policies", CreationTimestamp: metav1.Now()},
			Spec: v1alpha1.PolicySourceSpec{Cluster: "prod"}},
	).Build()
	for _, tc := range []struct {
		allowed []string
		holder  string
	}{{[]string{"ballast-system"}, "ballast-system"}, {[]string{AllNamespaces}, "intruder"}} {
		sources, err := servedSources(context.Background(), c, tc.allowed)
		if err != nil {
			t.Fatal(err)
		}
		if h := claimOf("prod", sources).Holder; h == nil || h.Namespace != tc.holder {
			t.Errorf("allowed %v: holder %v, want the source in %s", tc.allowed, h, tc.holder)
		}
	}
}
