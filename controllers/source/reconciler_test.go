package source

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

func TestFirstSyncThenNewRevision(t *testing.T) {
	f := newFixture(t)
	git.set(f.url, "main@sha1:1111", policyFiles(f.cluster, f.ns, 20, true))
	f.create(nil)
	ps := f.waitApplied("main@sha1:1111")

	for what, u := range map[string]*unstructured.Unstructured{
		"EC2NodeClass":             f.object(nodeClassGVK, "", "ballast-"+f.cluster),
		"on-demand NodePool":       f.onDemandPool(),
		"spot NodePool":            f.spotPool(),
		"ClusterPolicy":            f.policy(),
		"WorkloadDistributionRule": f.rule(),
	} {
		if u == nil {
			t.Fatalf("no %s", what)
		}
		if l := u.GetLabels(); l[v1alpha1.SourceLabel] != f.name || l[v1alpha1.ClusterLabel] != f.cluster {
			t.Errorf("%s labels = %v", what, l)
		}
		managers := map[string]bool{}
		for _, m := range u.GetManagedFields() {
			managers[m.Manager] = true
		}
		if !managers[FieldManager] {
			t.Errorf("%s field managers = %v, want %s", what, managers, FieldManager)
		}
	}
	if n := len(ps.Status.Inventory.Entries); n != 5 {
		t.Errorf("inventory has %d entries, want 5: %+v", n, ps.Status.Inventory.Entries)
	}
	wantID := "_ballast-" + f.cluster + "-spot_karpenter.sh_NodePool"
	found := false
	for _, e := range ps.Status.Inventory.Entries {
		found = found || (e.ID == wantID && e.Version == "v1")
	}
	if !found {
		t.Errorf("inventory %+v lacks %s", ps.Status.Inventory.Entries, wantID)
	}
	if !controllerutilHas(ps.Finalizers, Finalizer) {
		t.Errorf("finalizers = %v", ps.Finalizers)
	}
	if a := f.onDemandPool().GetAnnotations()[v1alpha1.WindowsValidUntilAnnotation]; a == "" {
		t.Error("the NodePool has no windows-valid-until annotation")
	}

	// A new revision, picked up on request: requestedAt is echoed.
	git.set(f.url, "main@sha1:2222", policyFiles(f.cluster, f.ns, 40, true))
	token := f.requestReconcile()
	ps = f.waitApplied("main@sha1:2222")
	if ps.Status.LastHandledReconcileAt != token {
		t.Errorf("lastHandledReconcileAt = %q, want %q", ps.Status.LastHandledReconcileAt, token)
	}
	if got := onDemandPercent(t, f.policy()); got != 40 {
		t.Errorf("onDemandPercent = %d, want 40", got)
	}
}

func TestBadRevisionKeepsLastGood(t *testing.T) {
	f := newFixture(t)
	git.set(f.url, "main@sha1:1111", policyFiles(f.cluster, f.ns, 20, true))
	f.create(nil)
	f.waitApplied("main@sha1:1111")

	bad := policyFiles(f.cluster, f.ns, 60, true)
	file := "policies/clusters/" + f.cluster + ".yaml"
	bad[file].Data = []byte(strings.Replace(string(bad[file].Data), "  spot:\n", "  bogus: 1\n  spot:\n", 1))
	git.set(f.url, "main@sha1:bad0", bad)
	f.requestReconcile()
	ps := f.waitCondition(ValidatedCondition, metav1.ConditionFalse, ValidationFailedReason)

	if !hasMessage(ps, ValidatedCondition, file+":") {
		t.Errorf("Validated conditions %+v do not name %s:<line>", ps.Status.Conditions, file)
	}
	if ps.Status.LastAppliedRevision != "main@sha1:1111" || ps.Status.LastAttemptedRevision != "main@sha1:bad0" {
		t.Errorf("revisions: applied %q, attempted %q", ps.Status.LastAppliedRevision, ps.Status.LastAttemptedRevision)
	}
	foundLine := false
	for _, fd := range ps.Status.Findings {
		foundLine = foundLine || (fd.File == file && fd.Line > 0 && fd.Severity == "error")
	}
	if !foundLine {
		t.Errorf("findings %+v have no error at %s:<line>", ps.Status.Findings, file)
	}
	if c := meta.StalledCondition; !hasCondition(ps, c, metav1.ConditionTrue) || !hasCondition(ps, meta.ReadyCondition, metav1.ConditionFalse) {
		t.Errorf("conditions = %+v, want Stalled and not Ready", ps.Status.Conditions)
	}
	if got := onDemandPercent(t, f.policy()); got != 20 {
		t.Errorf("onDemandPercent = %d: the bad revision changed the ClusterPolicy", got)
	}
}

func TestEmptyRenderRefusedUnlessAllowed(t *testing.T) {
	f := newFixture(t)
	git.set(f.url, "main@sha1:1111", policyFiles(f.cluster, f.ns, 20, true))
	f.create(func(ps *v1alpha1.PolicySource) { ps.Spec.Prune = true })
	f.waitApplied("main@sha1:1111")

	// The path now holds the policy of another cluster only.
	git.set(f.url, "main@sha1:2222", policyFiles("other-"+f.cluster, f.ns, 20, true))
	f.requestReconcile()
	ps := f.waitCondition(AppliedCondition, metav1.ConditionFalse, EmptyRenderRefusedReason)
	if !hasCondition(ps, meta.StalledCondition, metav1.ConditionTrue) {
		t.Errorf("conditions = %+v, want Stalled", ps.Status.Conditions)
	}
	if f.onDemandPool() == nil || f.spotPool() == nil {
		t.Fatal("the refused render removed NodePools")
	}

	f.update(func(ps *v1alpha1.PolicySource) { ps.Spec.AllowEmpty = true })
	f.waitApplied("main@sha1:2222")
	f.gone("on-demand NodePool", f.onDemandPool)
	f.gone("spot NodePool", f.spotPool)
}

func TestSuspend(t *testing.T) {
	f := newFixture(t)
	git.set(f.url, "main@sha1:1111", policyFiles(f.cluster, f.ns, 20, true))
	f.create(nil)
	f.waitApplied("main@sha1:1111")

	f.update(func(ps *v1alpha1.PolicySource) { ps.Spec.Suspend = true })
	git.set(f.url, "main@sha1:2222", policyFiles(f.cluster, f.ns, 40, true))
	token := f.requestReconcile()
	f.stays("stay suspended", func() (bool, string) {
		ps := f.get()
		return ps.Status.LastAppliedRevision == "main@sha1:1111" && ps.Status.LastHandledReconcileAt != token,
			fmt.Sprintf("status %+v", ps.Status)
	})
	if got := onDemandPercent(t, f.policy()); got != 20 {
		t.Errorf("a suspended source applied: onDemandPercent = %d", got)
	}

	f.update(func(ps *v1alpha1.PolicySource) { ps.Spec.Suspend = false })
	f.waitApplied("main@sha1:2222")
}

func TestPruneOnlyOwned(t *testing.T) {
	f := newFixture(t)
	git.set(f.url, "main@sha1:1111", policyFiles(f.cluster, f.ns, 20, true))
	f.create(func(ps *v1alpha1.PolicySource) { ps.Spec.Prune = true })
	f.waitApplied("main@sha1:1111")

	// Someone takes the rule over: it loses Ballast's owner labels.
	rule := f.rule()
	base := rule.DeepCopy()
	labels := rule.GetLabels()
	delete(labels, v1alpha1.SourceLabel)
	delete(labels, v1alpha1.ClusterLabel)
	rule.SetLabels(labels)
	if err := kube.Patch(context.Background(), rule, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}

	// Spot disabled and the rule removed from Git.
	files := policyFiles(f.cluster, f.ns, 20, false)
	delete(files, "policies/rules/web.yaml")
	git.set(f.url, "main@sha1:2222", files)
	f.requestReconcile()
	ps := f.waitApplied("main@sha1:2222")
	f.gone("spot NodePool", f.spotPool)
	if f.onDemandPool() == nil {
		t.Error("the on-demand NodePool was pruned")
	}
	f.stays("keep the rule without owner labels", func() (bool, string) {
		return f.rule() != nil, "the rule was pruned"
	})
	if n := len(ps.Status.Inventory.Entries); n != 3 {
		t.Errorf("inventory has %d entries, want 3: %+v", n, ps.Status.Inventory.Entries)
	}
}

func TestDeletion(t *testing.T) {
	for _, prune := range []bool{true, false} {
		t.Run(fmt.Sprintf("prune=%t", prune), func(t *testing.T) {
			f := newFixture(t)
			git.set(f.url, "main@sha1:1111", policyFiles(f.cluster, f.ns, 20, true))
			f.create(func(ps *v1alpha1.PolicySource) { ps.Spec.Prune = prune })
			f.waitApplied("main@sha1:1111")

			if err := kube.Delete(context.Background(), f.get()); err != nil {
				t.Fatal(err)
			}
			f.eventually("delete the PolicySource", func() (bool, string) {
				err := kube.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: f.name}, &v1alpha1.PolicySource{})
				return err != nil, "still there"
			})
			if prune {
				f.gone("on-demand NodePool", f.onDemandPool)
				f.gone("ClusterPolicy", f.policy)
				f.gone("rule", f.rule)
				return
			}
			for what, u := range map[string]*unstructured.Unstructured{"NodePool": f.onDemandPool(), "ClusterPolicy": f.policy(), "rule": f.rule()} {
				if u == nil || u.GetDeletionTimestamp() != nil {
					t.Errorf("the %s was deleted without prune", what)
					continue
				}
				if u.GetLabels()[v1alpha1.SourceLabel] != f.name {
					t.Errorf("the orphaned %s lost its labels: %v", what, u.GetLabels())
				}
			}
		})
	}
}

func TestFetchFailureKeepsLastGood(t *testing.T) {
	f := newFixture(t)
	git.set(f.url, "main@sha1:1111", policyFiles(f.cluster, f.ns, 20, true))
	f.create(nil)
	f.waitApplied("main@sha1:1111")

	git.fail(f.url, &gitsync.AuthError{URL: f.url, Err: errors.New("HTTP 401")})
	f.requestReconcile()
	ps := f.waitCondition(SourceReadyCondition, metav1.ConditionFalse, AuthenticationFailedReason)
	if !hasCondition(ps, meta.ReconcilingCondition, metav1.ConditionTrue) || ps.Status.LastAppliedRevision != "main@sha1:1111" {
		t.Errorf("status = %+v", ps.Status)
	}
	if f.spotPool() == nil {
		t.Error("a failed fetch removed objects")
	}
}

// TestFluxArtifact syncs a Flux GitRepository's artifact served over HTTP, then refuses
// an artifact whose digest does not match.
func TestFluxArtifact(t *testing.T) {
	f := newFixture(t)
	good := tarball(t, mapFiles(policyFiles(f.cluster, f.ns, 20, true)))
	var mu gosync.Mutex
	body := good
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = w.Write(body)
	}))
	defer srv.Close()

	repo := &unstructured.Unstructured{}
	repo.SetGroupVersionKind(sourceGVK(&v1alpha1.SourceReference{Kind: "GitRepository"}))
	repo.SetNamespace(f.ns)
	repo.SetName("policies")
	_ = unstructured.SetNestedMap(repo.Object, map[string]any{"url": "https://git.example.com/policies.git", "interval": "5m"}, "spec")
	if err := kube.Create(context.Background(), repo); err != nil {
		t.Fatal(err)
	}
	setArtifact := func(rev string, digest string) {
		t.Helper()
		f.eventually("set the artifact", func() (bool, string) {
			if err := kube.Get(context.Background(), client.ObjectKeyFromObject(repo), repo); err != nil {
				return false, err.Error()
			}
			_ = unstructured.SetNestedMap(repo.Object, map[string]any{
				"path": "gitrepository/policies.tar.gz", "url": srv.URL + "/policies.tar.gz", "revision": rev,
				"digest": digest, "lastUpdateTime": time.Now().UTC().Format(time.RFC3339),
			}, "status", "artifact")
			if err := kube.Status().Update(context.Background(), repo); err != nil {
				return false, err.Error()
			}
			return true, ""
		})
	}
	setArtifact("main@sha1:aaaa", digestOf(good))
	f.create(func(ps *v1alpha1.PolicySource) {
		ps.Spec.Git = nil
		ps.Spec.SourceRef = &v1alpha1.SourceReference{Kind: "GitRepository", Name: "policies"}
	})
	f.waitApplied("main@sha1:aaaa")
	if f.spotPool() == nil {
		t.Fatal("no spot NodePool from the artifact")
	}

	// A new artifact whose bytes do not match its digest: refused, nothing changes.
	next := tarball(t, mapFiles(policyFiles(f.cluster, f.ns, 70, true)))
	mu.Lock()
	body = next
	mu.Unlock()
	setArtifact("main@sha1:bbbb", digestOf([]byte("what the source controller stored")))
	ps := f.waitCondition(SourceReadyCondition, metav1.ConditionFalse, ArtifactFailedReason)
	if !hasMessage(ps, SourceReadyCondition, "digest mismatch") || ps.Status.LastAppliedRevision != "main@sha1:aaaa" {
		t.Errorf("status = %+v", ps.Status)
	}
	if got := onDemandPercent(t, f.policy()); got != 20 {
		t.Errorf("onDemandPercent = %d after a refused artifact", got)
	}

	// The right digest: the watch on the GitRepository syncs it without a request.
	setArtifact("main@sha1:cccc", digestOf(next))
	f.waitApplied("main@sha1:cccc")
	if got := onDemandPercent(t, f.policy()); got != 70 {
		t.Errorf("onDemandPercent = %d, want 70", got)
	}
}

func mapFiles(m fstest.MapFS) map[string]string {
	out := map[string]string{}
	for name, f := range m {
		out[name] = string(f.Data)
	}
	return out
}

func hasCondition(ps *v1alpha1.PolicySource, typ string, status metav1.ConditionStatus) bool {
	for _, c := range ps.Status.Conditions {
		if c.Type == typ {
			return c.Status == status
		}
	}
	return false
}

func controllerutilHas(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
