package source

import (
	"context"
	"errors"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
)

// countingFetcher counts fetches and fails each, so that a sync that gets past the
// namespace check stops right after it.
type countingFetcher struct {
	mu      gosync.Mutex
	fetches int
}

func (f *countingFetcher) Fetch(context.Context, *v1alpha1.PolicySource) (*Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetches++
	return nil, errors.New("no repository in this test")
}

func (f *countingFetcher) Forget(*v1alpha1.PolicySource) error { return nil }

func (f *countingFetcher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetches
}

// TestNamespaceNotAllowed: a PolicySource in a namespace the controller does not accept
// PolicySources from is not fetched; it gets Ready=False and SourceReady=False with
// reason NamespaceNotAllowed, Stalled, and a warning event naming the flag that allows
// it. Allowing its namespace lets the same source sync.
func TestNamespaceNotAllowed(t *testing.T) {
	ctx := context.Background()
	ps := &v1alpha1.PolicySource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "policies", Generation: 1},
		Spec: v1alpha1.PolicySourceSpec{Cluster: "prod", Interval: metav1.Duration{Duration: time.Minute},
			Git: &v1alpha1.GitSource{URL: "https://git.example.com/team-a.git"}},
	}
	kube := fake.NewClientBuilder().WithScheme(controlplane.Scheme).WithObjects(ps).WithStatusSubresource(ps).Build()
	fetcher := &countingFetcher{}
	rec := events.NewFakeRecorder(10)
	r := &Reconciler{Client: kube, Fetcher: fetcher, Recorder: rec, Namespaces: []string{"ballast-system"}}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "team-a", Name: "policies"}}

	res, err := r.Reconcile(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.RequeueAfter != 0 {
		t.Errorf("requeue after %s: only a restart with another allow-list helps", res.RequeueAfter)
	}
	if n := fetcher.count(); n != 0 {
		t.Errorf("fetched %d times", n)
	}
	got := &v1alpha1.PolicySource{}
	if err := kube.Get(ctx, req.NamespacedName, got); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{meta.ReadyCondition, SourceReadyCondition} {
		c := conditions.Get(wrap(got), typ)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != NamespaceNotAllowedReason {
			t.Fatalf("%s = %+v, want False with reason %s", typ, c, NamespaceNotAllowedReason)
		}
		if !strings.Contains(c.Message, "team-a") || !strings.Contains(c.Message, NamespacesFlag) {
			t.Errorf("%s message %q names neither the namespace nor %s", typ, c.Message, NamespacesFlag)
		}
	}
	if !conditions.IsTrue(wrap(got), meta.StalledCondition) || got.Status.ObservedGeneration != 1 {
		t.Errorf("Stalled %v, observedGeneration %d", conditions.Get(wrap(got), meta.StalledCondition), got.Status.ObservedGeneration)
	}
	if len(got.Finalizers) != 0 || got.Status.LastAttemptedRevision != "" || got.Status.Inventory != nil {
		t.Errorf("a refused source was touched: finalizers %v, revision %q, inventory %v", got.Finalizers, got.Status.LastAttemptedRevision, got.Status.Inventory)
	}
	select {
	case e := <-rec.Events:
		if !strings.Contains(e, "Warning "+NamespaceNotAllowedReason) || !strings.Contains(e, NamespacesFlag) {
			t.Errorf("event %q", e)
		}
	default:
		t.Error("no event")
	}

	// The same source in an allowed namespace is fetched.
	r.Namespaces = []string{"ballast-system", "team-a"}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := fetcher.count(); n != 1 {
		t.Errorf("fetched %d times once team-a is allowed, want 1", n)
	}
	r.Namespaces = []string{AllNamespaces}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := fetcher.count(); n != 2 {
		t.Errorf("fetched %d times with every namespace allowed, want 2", n)
	}
}

// TestRefusedSourceDeletionPrunesNothing: a PolicySource that applied objects while
// its namespace was allowed, deleted once it is not, is let go (its finalizer removed)
// without deleting what it applied, even with spec.prune: whoever may delete it there
// cannot make the controller delete anything.
func TestRefusedSourceDeletionPrunesNothing(t *testing.T) {
	ctx := context.Background()
	pool := &unstructured.Unstructured{}
	pool.SetGroupVersionKind(nodePoolGVK)
	pool.SetName("ballast-prod-spot")
	pool.SetLabels(map[string]string{v1alpha1.SourceLabel: "policies", v1alpha1.ClusterLabel: "prod"})
	now := metav1.Now()
	ps := &v1alpha1.PolicySource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "policies", Finalizers: []string{Finalizer}, DeletionTimestamp: &now},
		Spec: v1alpha1.PolicySourceSpec{Cluster: "prod", Prune: true, Interval: metav1.Duration{Duration: time.Minute},
			Git: &v1alpha1.GitSource{URL: "https://git.example.com/team-a.git"}},
		Status: v1alpha1.PolicySourceStatus{Inventory: inventory([]ref{refOf(pool)})},
	}
	kube := fake.NewClientBuilder().WithScheme(controlplane.Scheme).WithObjects(ps, pool).WithStatusSubresource(ps).Build()
	rec := events.NewFakeRecorder(10)
	r := &Reconciler{Client: kube, Fetcher: &countingFetcher{}, Recorder: rec, Namespaces: []string{"ballast-system"}}
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(ps)}); err != nil {
		t.Fatal(err)
	}
	if err := kube.Get(ctx, client.ObjectKeyFromObject(ps), &v1alpha1.PolicySource{}); !apierrors.IsNotFound(err) {
		t.Errorf("the PolicySource is still there (%v): its finalizer stayed", err)
	}
	if err := kube.Get(ctx, client.ObjectKeyFromObject(pool), pool.DeepCopy()); err != nil {
		t.Errorf("the NodePool it applied is gone: %v", err)
	}
	select {
	case e := <-rec.Events:
		if !strings.Contains(e, "orphaned") {
			t.Errorf("event %q", e)
		}
	default:
		t.Error("no event says what was orphaned")
	}
}

// TestServiceAccountApplies: a PolicySource naming spec.serviceAccountName applies and
// prunes as that ServiceAccount, against a real API server with RBAC. With an account
// that may manage rules in its namespace, the ClusterPolicy and the EC2NodeClass but
// not NodePools, the revision's NodePools are forbidden: Applied and Ready are False
// with reason Forbidden, naming the account and the NodePools, and nothing of the
// revision is applied, not even what the account may create. Once the account may
// apply NodePools the revision is applied; a revision that drops the Spot NodePool
// cannot prune it while the account may not delete NodePools.
func TestServiceAccountApplies(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	tenant := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: f.ns, Name: "tenant"}}
	grant := func(name string, rules ...rbacv1.PolicyRule) {
		t.Helper()
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
		binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}, Subjects: tenant}
		for _, obj := range []client.Object{role, binding} {
			if err := kube.Create(ctx, obj); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = kube.Delete(context.Background(), obj) })
		}
	}
	for _, obj := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "tenant"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "rules"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"workloaddistributionrules"}, Verbs: all}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "tenant-rules"},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "rules"}, Subjects: tenant},
	} {
		if err := kube.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	grant("tenant-classes-"+f.cluster,
		rbacv1.PolicyRule{APIGroups: []string{"karpenter.k8s.aws"}, Resources: []string{"ec2nodeclasses"}, Verbs: all},
		rbacv1.PolicyRule{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"clusterpolicies"}, Verbs: all})

	git.set(f.url, "main@sha1:aaaa", policyFiles(f.cluster, f.ns, 20, true))
	f.create(func(ps *v1alpha1.PolicySource) {
		ps.Spec.ServiceAccountName = "tenant"
		ps.Spec.Prune = true
		// RBAC changes take effect without a new generation: retry soon.
		ps.Spec.RetryInterval = &metav1.Duration{Duration: time.Second}
	})
	ps := f.waitCondition(AppliedCondition, metav1.ConditionFalse, ForbiddenReason)
	if c := conditions.Get(wrap(ps), meta.ReadyCondition); c == nil || c.Status != metav1.ConditionFalse || c.Reason != ForbiddenReason ||
		!strings.Contains(c.Message, "ServiceAccount "+f.ns+"/tenant") || !strings.Contains(c.Message, `"nodepools"`) {
		t.Errorf("Ready = %+v, want False, Forbidden, naming the account and the NodePools", c)
	}
	// The inventory may list what the revision was about to apply (it is recorded
	// before applying, so that a crash orphans nothing); the revision is not applied.
	if ps.Status.LastAppliedRevision != "" {
		t.Errorf("a forbidden revision is recorded as applied: %q", ps.Status.LastAppliedRevision)
	}
	f.stays("nothing of a forbidden revision applied", func() (bool, string) {
		for what, u := range map[string]*unstructured.Unstructured{
			"spot NodePool": f.spotPool(), "on-demand NodePool": f.onDemandPool(), "EC2NodeClass": f.object(nodeClassGVK, "", "ballast-"+f.cluster),
			"ClusterPolicy": f.policy(), "WorkloadDistributionRule": f.rule(),
		} {
			if u != nil {
				return false, what + " was applied"
			}
		}
		return true, ""
	})

	// The account may now apply NodePools, but not delete them.
	grant("tenant-pools-"+f.cluster,
		rbacv1.PolicyRule{APIGroups: []string{"karpenter.sh"}, Resources: []string{"nodepools"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"}})
	f.waitApplied("main@sha1:aaaa")
	if f.spotPool() == nil || f.rule() == nil || f.policy() == nil {
		t.Fatal("the revision was not applied once the account may apply it")
	}

	// Pruning is the account's too: it may not delete the Spot NodePool.
	git.set(f.url, "main@sha1:bbbb", policyFiles(f.cluster, f.ns, 20, false))
	f.requestReconcile()
	ps = f.waitCondition(AppliedCondition, metav1.ConditionFalse, ForbiddenReason)
	if !hasMessage(ps, AppliedCondition, "failed to prune") || !hasMessage(ps, AppliedCondition, `cannot delete resource "nodepools"`) {
		t.Errorf("Applied: %q", conditions.GetMessage(wrap(ps), AppliedCondition))
	}
	if f.spotPool() == nil {
		t.Error("the Spot NodePool was deleted by an account that may not delete it")
	}
}

// TestImpersonatorDoesNotNest: credentials that impersonate someone already (a
// kubeconfig with "as") give no client, rather than one acting with the credentials
// underneath.
func TestImpersonatorDoesNotNest(t *testing.T) {
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:ballast-system:ballast-controller"}
	if _, err := Impersonator(cfg, client.Options{Scheme: controlplane.Scheme})("team-a", "policies"); err == nil || !strings.Contains(err.Error(), "does not nest") {
		t.Errorf("err = %v, want a refusal", err)
	}
	c, err := Impersonator(env.Config, client.Options{Scheme: controlplane.Scheme})("team-a", "policies")
	if err != nil {
		t.Fatal(err)
	}
	// The API server sees the ServiceAccount: it may not even list namespaces.
	if err := c.List(context.Background(), &corev1.NamespaceList{}); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), `"system:serviceaccount:team-a:policies"`) {
		t.Errorf("listing namespaces as the account: %v, want forbidden to system:serviceaccount:team-a:policies", err)
	}
}
