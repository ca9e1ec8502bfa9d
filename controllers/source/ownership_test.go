package source

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/apis/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// sourceNamespaceLabel is v1alpha1.SourceNamespaceLabel, spelled out so that these
// tests also build against a Ballast without it.
const sourceNamespaceLabel = "ballast.dev/source-namespace"

// TestSameNameInTwoNamespaces: two PolicySources of one name in two namespaces apply
// two clusters from one shared repository and each owns only its own objects. One of
// them pointed at the other's cluster by mistake takes nothing over, and deleting it
// deletes what it applied and leaves the other's NodePools.
func TestSameNameInTwoNamespaces(t *testing.T) {
	a, b := newFixture(t), newFixture(t)
	b.name = a.name
	// The repository describes both clusters; each source applies its own.
	shared := policyFiles(a.cluster, a.ns, 20, true)
	for name, file := range policyFiles(b.cluster, b.ns, 30, true) {
		if name == "policies/rules/web.yaml" {
			name = "policies/rules/web-b.yaml"
		}
		shared[name] = file
	}
	git.set(a.url, "main@sha1:1111", shared)
	git.set(b.url, "main@sha1:1111", shared)
	a.create(func(ps *v1alpha1.PolicySource) { ps.Spec.Prune = true })
	b.create(func(ps *v1alpha1.PolicySource) { ps.Spec.Prune = true })
	a.waitApplied("main@sha1:1111")
	b.waitApplied("main@sha1:1111")
	for _, f := range []*fixture{a, b} {
		for what, u := range map[string]*unstructured.Unstructured{"on-demand NodePool": f.onDemandPool(), "rule": f.rule()} {
			if l := u.GetLabels(); l[v1alpha1.SourceLabel] != f.name || l[sourceNamespaceLabel] != f.ns {
				t.Errorf("%s of %s/%s: labels %v", what, f.ns, f.name, l)
			}
		}
	}

	// a is pointed at b's cluster: b applies it, a waits and says so, b names a.
	a.update(func(ps *v1alpha1.PolicySource) { ps.Spec.Cluster = b.cluster })
	ps := a.waitCondition(ClusterClaimCondition, metav1.ConditionFalse, ClusterClaimedByOtherSourceReason)
	if !hasMessage(ps, meta.ReadyCondition, b.ns+"/"+b.name) || !hasCondition(ps, meta.ReadyCondition, metav1.ConditionFalse) {
		t.Errorf("a's conditions %+v do not name %s/%s in Ready=False", ps.Status.Conditions, b.ns, b.name)
	}
	ps = b.waitCondition(ClusterClaimCondition, metav1.ConditionTrue, OtherSourcesWaitingReason)
	if !hasMessage(ps, ClusterClaimCondition, a.ns+"/"+a.name) || !hasCondition(ps, meta.ReadyCondition, metav1.ConditionTrue) {
		t.Errorf("b's conditions %+v do not name %s/%s", ps.Status.Conditions, a.ns, a.name)
	}
	if got := onDemandPercent(t, b.policy()); got != 30 {
		t.Errorf("b's ClusterPolicy has onDemandPercent %d, want 30: a applied it", got)
	}
	if l := b.onDemandPool().GetLabels(); l[sourceNamespaceLabel] != b.ns {
		t.Errorf("b's NodePool changed hands: labels %v", l)
	}

	// a is deleted: the objects a applied go, b's stay.
	if err := kube.Delete(context.Background(), a.get()); err != nil {
		t.Fatal(err)
	}
	a.gone("a's on-demand NodePool", a.onDemandPool)
	a.gone("a's rule", a.rule)
	b.waitCondition(ClusterClaimCondition, metav1.ConditionTrue, SucceededReason)
	b.stays("keep b's objects", func() (bool, string) {
		for what, u := range map[string]*unstructured.Unstructured{
			"on-demand NodePool": b.onDemandPool(), "spot NodePool": b.spotPool(), "ClusterPolicy": b.policy(), "rule": b.rule(),
		} {
			if u == nil || u.GetDeletionTimestamp() != nil {
				return false, fmt.Sprintf("b's %s was deleted with a", what)
			}
		}
		return true, ""
	})
}

// TestTwoSourcesForOneCluster: a second PolicySource for a cluster another one applies
// applies nothing, and both say so; when the first is deleted, the second takes over.
func TestTwoSourcesForOneCluster(t *testing.T) {
	first, second := newFixture(t), newFixture(t)
	second.cluster = first.cluster
	git.set(first.url, "main@sha1:1111", policyFiles(first.cluster, first.ns, 20, true))
	first.create(func(ps *v1alpha1.PolicySource) { ps.Spec.Prune = true })
	first.waitApplied("main@sha1:1111")

	git.set(second.url, "main@sha1:2222", policyFiles(first.cluster, second.ns, 70, true))
	second.create(func(ps *v1alpha1.PolicySource) { ps.Spec.Prune = true })
	ps := second.waitCondition(ClusterClaimCondition, metav1.ConditionFalse, ClusterClaimedByOtherSourceReason)
	want := first.ns + "/" + first.name
	if !hasMessage(ps, ClusterClaimCondition, want) || !hasMessage(ps, meta.ReadyCondition, want) ||
		!hasCondition(ps, meta.ReadyCondition, metav1.ConditionFalse) || conditionOf(ps, meta.ReadyCondition).Reason != ClusterClaimedByOtherSourceReason {
		t.Errorf("the second source's conditions %+v: want Ready=False, %s, naming %s", ps.Status.Conditions, ClusterClaimedByOtherSourceReason, want)
	}
	if ps.Status.LastAppliedRevision != "" || ps.Status.Inventory != nil && len(ps.Status.Inventory.Entries) > 0 {
		t.Errorf("the second source applied: %+v", ps.Status)
	}
	ps = first.waitCondition(ClusterClaimCondition, metav1.ConditionTrue, OtherSourcesWaitingReason)
	if !hasMessage(ps, ClusterClaimCondition, second.ns+"/"+second.name) || !hasCondition(ps, meta.ReadyCondition, metav1.ConditionTrue) {
		t.Errorf("the first source's conditions %+v do not name %s/%s", ps.Status.Conditions, second.ns, second.name)
	}
	first.stays("keep the first source's objects", func() (bool, string) {
		if got := onDemandPercent(t, first.policy()); got != 20 {
			return false, fmt.Sprintf("onDemandPercent %d: the second source applied", got)
		}
		if second.rule() != nil {
			return false, "the second source's rule was applied"
		}
		if l := first.spotPool().GetLabels(); l[sourceNamespaceLabel] != first.ns {
			return false, fmt.Sprintf("spot NodePool labels %v", l)
		}
		return true, ""
	})

	// The first goes (and prunes what it applied): the second applies the cluster.
	if err := kube.Delete(context.Background(), first.get()); err != nil {
		t.Fatal(err)
	}
	first.gone("the first source's rule", first.rule)
	ps = second.waitApplied("main@sha1:2222")
	if c := conditionOf(ps, ClusterClaimCondition); c == nil || c.Status != metav1.ConditionTrue || c.Reason != SucceededReason {
		t.Errorf("ClusterClaim = %+v after taking over", c)
	}
	if got := onDemandPercent(t, second.policy()); got != 70 {
		t.Errorf("onDemandPercent = %d, want the second source's 70", got)
	}
	for what, u := range map[string]*unstructured.Unstructured{"on-demand NodePool": second.onDemandPool(), "spot NodePool": second.spotPool(), "rule": second.rule()} {
		if u == nil {
			t.Errorf("no %s after the second source took over", what)
			continue
		}
		if l := u.GetLabels(); l[v1alpha1.SourceLabel] != second.name || l[sourceNamespaceLabel] != second.ns {
			t.Errorf("%s labels %v after the second source took over", what, l)
		}
	}
}

// TestInventoryRecordedBeforeApply: a sync that dies after applying and before its
// final status write (here every write to the PolicySource fails from the apply on,
// as after a crash) leaves what it created in the inventory, so that the next sync,
// of a revision without it, prunes it.
func TestInventoryRecordedBeforeApply(t *testing.T) {
	f := newFixture(t)
	git.set(f.url, "main@sha1:1111", policyFiles(f.cluster, f.ns, 20, false))
	f.create(func(ps *v1alpha1.PolicySource) { ps.Spec.Prune = true })
	f.waitApplied("main@sha1:1111")
	if f.spotPool() != nil {
		t.Fatal("a spot NodePool without Spot")
	}

	// Revision 2 adds the spot NodePool, and the controller dies once it is applied.
	faults.dieAfterApply(f.cluster, f.ns)
	git.set(f.url, "main@sha1:2222", policyFiles(f.cluster, f.ns, 20, true))
	f.requestReconcile()
	f.eventually("apply revision 2 and die", func() (bool, string) {
		return faults.isDown(f.ns) && f.spotPool() != nil, "not applied yet"
	})
	if rev := f.get().Status.LastAppliedRevision; rev != "main@sha1:1111" {
		t.Fatalf("the dead sync recorded revision %s", rev)
	}

	// Revision 3 drops Spot again, and the controller comes back.
	git.set(f.url, "main@sha1:3333", policyFiles(f.cluster, f.ns, 20, false))
	faults.revive(f.ns)
	f.requestReconcile()
	ps := f.waitApplied("main@sha1:3333")
	f.gone("the spot NodePool the dead sync created", f.spotPool)
	for _, e := range ps.Status.Inventory.Entries {
		if strings.Contains(e.ID, "-spot_") {
			t.Errorf("the inventory still lists %s", e.ID)
		}
	}
}

// TestNameOnlyObjectsFromAnOlderBallast: objects an older Ballast applied name their
// source by name only. The source that lists them alone adopts them (the next apply
// adds its namespace) and prunes them; one another source of the same name lists too
// is never pruned, whoever applied it.
func TestNameOnlyObjectsFromAnOlderBallast(t *testing.T) {
	a, b := newFixture(t), newFixture(t)
	b.name = a.name
	git.set(a.url, "main@sha1:1111", policyFiles(a.cluster, a.ns, 20, true))
	a.create(func(ps *v1alpha1.PolicySource) { ps.Spec.Prune = true })
	a.waitApplied("main@sha1:1111")
	// What the older Ballast left: no namespace in the owner labels ...
	for _, u := range []*unstructured.Unstructured{a.onDemandPool(), a.spotPool(), a.rule()} {
		base := u.DeepCopy()
		labels := u.GetLabels()
		delete(labels, sourceNamespaceLabel)
		u.SetLabels(labels)
		if err := kube.Patch(context.Background(), u, client.MergeFrom(base)); err != nil {
			t.Fatal(err)
		}
	}
	// ... and a suspended source of the same name elsewhere, serving another cluster,
	// whose inventory lists the spot NodePool: it may be the one that applied it.
	b.create(func(ps *v1alpha1.PolicySource) { ps.Spec.Suspend = true })
	b.eventually("list the spot NodePool in the other source's inventory", func() (bool, string) {
		ps := b.get()
		ps.Status.Inventory = &v1alpha1.ResourceInventory{Entries: []v1alpha1.ResourceRef{
			v1alpha1ResourceRef("_ballast-" + a.cluster + "-spot_karpenter.sh_NodePool"),
		}}
		if err := kube.Status().Update(context.Background(), ps); err != nil {
			return false, err.Error()
		}
		return true, ""
	})

	// The next revision drops Spot and the rule.
	files := policyFiles(a.cluster, a.ns, 20, false)
	delete(files, "policies/rules/web.yaml")
	git.set(a.url, "main@sha1:2222", files)
	a.requestReconcile()
	a.waitApplied("main@sha1:2222")
	a.gone("the rule only a listed", a.rule)
	if l := a.onDemandPool().GetLabels(); l[sourceNamespaceLabel] != a.ns {
		t.Errorf("the on-demand NodePool was not adopted: labels %v", l)
	}
	a.stays("keep the spot NodePool both list", func() (bool, string) {
		if u := a.spotPool(); u == nil || u.GetDeletionTimestamp() != nil {
			return false, "it was pruned"
		}
		return true, ""
	})
}

func conditionOf(ps *v1alpha1.PolicySource, typ string) *metav1.Condition {
	for i := range ps.Status.Conditions {
		if ps.Status.Conditions[i].Type == typ {
			return &ps.Status.Conditions[i]
		}
	}
	return nil
}
