package source

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/gitserver"
)

// fluxRepository creates a Flux GitRepository with spec and gives it an artifact of
// files at revision, served over HTTP.
func fluxRepository(t *testing.T, f *fixture, namespace, name string, spec map[string]any, revision string, files map[string]string) {
	t.Helper()
	body := tarball(t, files)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	t.Cleanup(srv.Close)
	repo := &unstructured.Unstructured{}
	repo.SetGroupVersionKind(sourceGVK(&v1alpha1.SourceReference{Kind: "GitRepository"}))
	repo.SetNamespace(namespace)
	repo.SetName(name)
	spec["interval"] = "5m"
	_ = unstructured.SetNestedMap(repo.Object, spec, "spec")
	if err := kube.Create(context.Background(), repo); err != nil {
		t.Fatal(err)
	}
	f.eventually("set the artifact", func() (bool, string) {
		if err := kube.Get(context.Background(), client.ObjectKeyFromObject(repo), repo); err != nil {
			return false, err.Error()
		}
		_ = unstructured.SetNestedMap(repo.Object, map[string]any{
			"path": "gitrepository/" + name + ".tar.gz", "url": srv.URL + "/" + name + ".tar.gz", "revision": revision,
			"digest": digestOf(body), "lastUpdateTime": time.Now().UTC().Format(time.RFC3339),
		}, "status", "artifact")
		if err := kube.Status().Update(context.Background(), repo); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// TestFluxGitRepositoryStatusFile: a PolicySource consuming a Flux GitRepository pushes
// its status file to the GitRepository's URL (a real git server) with the credentials
// of its secretRef, on the status branch, without moving the synced branch; the
// commit status goes on the artifact's commit.
func TestFluxGitRepositoryStatusFile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	root := gitserver.NewRoot(t)
	srv := gitserver.ServeHTTP(t, root, "flux", "fl0x-pa55", "")
	repo := root.Create(t, "policies")
	files := mapFiles(policyFiles(f.cluster, f.ns, 20, true))
	commit := repo.Commit(t, "main", "policies", files)
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "flux-git"}, Data: map[string][]byte{"username": []byte("flux"), "password": []byte("fl0x-pa55")}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "forge"}, Data: map[string][]byte{"token": []byte("t0ken")}},
	} {
		if err := kube.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	fluxRepository(t, f, f.ns, "policies", map[string]any{"url": srv.RepoURL("policies"), "secretRef": map[string]any{"name": "flux-git"},
		"ref": map[string]any{"branch": "main"}}, "main@sha1:"+commit, files)
	f.create(func(ps *v1alpha1.PolicySource) {
		ps.Spec.Git = nil
		ps.Spec.SourceRef = &v1alpha1.SourceReference{Kind: "GitRepository", Name: "policies"}
		ps.Spec.StatusWriteBack = &v1alpha1.StatusWriteBack{
			StatusFile:   &v1alpha1.StatusFileSpec{},
			CommitStatus: &v1alpha1.CommitStatusSpec{Provider: "gitea", Repository: "platform/policies", SecretRef: v1alpha1.LocalObjectReference{Name: "forge"}},
		}
	})
	f.waitApplied("main@sha1:" + commit)
	status := "status/" + f.cluster + ".yaml"
	f.eventually("the status file on the GitRepository's status branch", func() (bool, string) {
		content := repo.Show(t, "ballast-status", status)
		return strings.Contains(content, "appliedRevision: main@sha1:"+commit), content
	})
	if head := repo.Head(t, "main"); head != commit {
		t.Errorf("writing the status moved main from %s to %s", commit, head)
	}
	st := waitFor(t, func() (gitsync.CommitStatus, bool) { return forge.statusFor(commit) })
	if st.State != gitsync.CommitStateSuccess {
		t.Errorf("commit status = %+v", st)
	}
	f.waitCondition(StatusWriteBackCondition, metav1.ConditionTrue, SucceededReason)
}

// TestStatusFileRefusedAtRuntime: what CEL cannot see, the controller refuses with a
// StatusWriteBack condition and a warning event, and writes nothing, while the
// policies still apply: a status branch that is the branch the Flux GitRepository
// syncs (master when its ref is empty), and a GitRepository in another namespace,
// whose credentials are not this namespace's to use.
func TestStatusFileRefusedAtRuntime(t *testing.T) {
	f := newFixture(t)
	files := mapFiles(policyFiles(f.cluster, f.ns, 20, true))
	url := "https://git.example.com/" + f.ns + "/flux.git"
	fluxRepository(t, f, f.ns, "policies", map[string]any{"url": url}, "master@sha1:aaaa", files)
	f.create(func(ps *v1alpha1.PolicySource) {
		ps.Spec.Git = nil
		ps.Spec.SourceRef = &v1alpha1.SourceReference{Kind: "GitRepository", Name: "policies"}
		ps.Spec.StatusWriteBack = &v1alpha1.StatusWriteBack{StatusFile: &v1alpha1.StatusFileSpec{Branch: "master", Path: "ballast/status.yaml"}}
	})
	f.waitApplied("master@sha1:aaaa")
	ps := f.waitCondition(StatusWriteBackCondition, metav1.ConditionFalse, SyncedBranchReason)
	if !hasMessage(ps, StatusWriteBackCondition, `"master" is the branch this source syncs`) {
		t.Errorf("StatusWriteBack = %+v", ps.Status.Conditions)
	}
	f.waitEvent(SyncedBranchReason)
	f.stays("nothing written to the synced branch", func() (bool, string) {
		return len(forge.filesTo(url)) == 0, fmt.Sprintf("%d files written", len(forge.filesTo(url)))
	})

	// Another branch: written.
	f.update(func(ps *v1alpha1.PolicySource) { ps.Spec.StatusWriteBack.StatusFile.Branch = "ballast-status" })
	f.waitCondition(StatusWriteBackCondition, metav1.ConditionTrue, SucceededReason)
	f.eventually("the status file on ballast-status", func() (bool, string) {
		files := forge.filesTo(url)
		return len(files) == 1 && files[0].Branch == "ballast-status" && files[0].Path == "ballast/status.yaml", fmt.Sprintf("%+v", files)
	})

	// A GitRepository in another namespace.
	other, g := newFixture(t), newFixture(t)
	otherURL := "https://git.example.com/" + other.ns + "/flux.git"
	fluxRepository(t, other, other.ns, "policies", map[string]any{"url": otherURL}, "master@sha1:bbbb", mapFiles(policyFiles(g.cluster, g.ns, 20, true)))
	g.create(func(ps *v1alpha1.PolicySource) {
		ps.Spec.Git = nil
		ps.Spec.SourceRef = &v1alpha1.SourceReference{Kind: "GitRepository", Namespace: other.ns, Name: "policies"}
		ps.Spec.StatusWriteBack = &v1alpha1.StatusWriteBack{StatusFile: &v1alpha1.StatusFileSpec{}}
	})
	g.waitApplied("master@sha1:bbbb")
	ps = g.waitCondition(StatusWriteBackCondition, metav1.ConditionFalse, CrossNamespaceSourceReason)
	if !hasMessage(ps, StatusWriteBackCondition, "create this PolicySource in "+other.ns) {
		t.Errorf("StatusWriteBack = %+v", ps.Status.Conditions)
	}
	g.stays("nothing written with another namespace's credentials", func() (bool, string) {
		return len(forge.filesTo(otherURL)) == 0, fmt.Sprintf("%d files written", len(forge.filesTo(otherURL)))
	})
}

// TestStatusFileFollowsRuntime: runtime figures reach the status file without a sync
// (the source syncs hourly and is never asked to): the status-file controller watches
// the ClusterPolicy's status.
func TestStatusFileFollowsRuntime(t *testing.T) {
	f := newFixture(t)
	git.set(f.url, "main@sha1:aaaa", policyFiles(f.cluster, f.ns, 20, true))
	f.create(func(ps *v1alpha1.PolicySource) {
		ps.Spec.StatusWriteBack = &v1alpha1.StatusWriteBack{StatusFile: &v1alpha1.StatusFileSpec{MinInterval: &metav1.Duration{Duration: time.Second}}}
	})
	f.waitApplied("main@sha1:aaaa")
	waitFor(t, func() (gitsync.FileWriteOptions, bool) { return forge.fileFor("main@sha1:aaaa") })
	fetches := git.fetched(f.url)
	f.eventually("set the ClusterPolicy's cost", func() (bool, string) {
		p := &v1alpha1.ClusterPolicy{}
		if err := kube.Get(context.Background(), client.ObjectKey{Name: f.cluster}, p); err != nil {
			return false, err.Error()
		}
		p.Status.Cost = &v1alpha1.CostStatus{ObservedTime: metav1.Now(), Prices: "catalogue", Nodes: 3, SpotNodes: 2, SpotPercent: 66,
			MonthlyPotential: "900.00", MonthlyActual: "500.00", MonthlySavings: "400.00", SpotSavings: "350.00", CommitmentSavings: "50.00",
			MonthlyUnusedCommitment: "25.00"}
		if err := kube.Status().Update(context.Background(), p); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	f.eventually("the savings in the status file", func() (bool, string) {
		sf := parseStatusFile(t, lastFile(t, f.url).Content)
		rt := sf.Runtime
		return rt != nil && rt.Savings != nil && rt.Savings.MonthlySavings == "400.00" && rt.Savings.Prices == "catalogue" &&
			rt.Commitments != nil && rt.Commitments.MonthlyUnused == "25.00" && sf.AppliedRevision == "main@sha1:aaaa", fmt.Sprintf("%+v", rt)
	})
	if n := git.fetched(f.url); n != fetches {
		t.Errorf("the source was fetched %d times more; the runtime figures must not need a sync", n-fetches)
	}
}

// waitEvent waits for an event with reason on the fixture's PolicySource.
func (f *fixture) waitEvent(reason string) {
	f.t.Helper()
	f.eventually("an event "+reason, func() (bool, string) {
		var list eventsv1.EventList
		if err := kube.List(context.Background(), &list, client.InNamespace(f.ns)); err != nil {
			return false, err.Error()
		}
		for _, e := range list.Items {
			if e.Reason == reason && e.Regarding.Name == f.name && e.Type == corev1.EventTypeWarning {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(list.Items))
	})
}
