package source

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/gitserver"
)

func files(m fstest.MapFS) map[string]string {
	out := map[string]string{}
	for name, f := range m {
		out[name] = string(f.Data)
	}
	return out
}

// TestRealGitServer: a commit pushed to a real git server (git http-backend with basic
// auth) becomes NodePools in a real API server within one reconcile; the status file
// appears on the status branch without moving the synced branch (so it never
// triggers a sync of itself); a force-pushed branch is followed.
func TestRealGitServer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	root := gitserver.NewRoot(t)
	srv := gitserver.ServeHTTP(t, root, "ballast", "s3cret", "")
	repo := root.Create(t, "policies")
	first := repo.Commit(t, "main", "first policy", files(policyFiles(f.cluster, f.ns, 20, true)))
	creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "git"},
		Data:       map[string][]byte{"username": []byte("ballast"), "password": []byte("s3cret")},
	}
	if err := kube.Create(ctx, creds); err != nil {
		t.Fatal(err)
	}
	f.url = srv.RepoURL("policies")
	f.create(func(ps *v1alpha1.PolicySource) {
		ps.Spec.Git.SecretRef = &v1alpha1.LocalObjectReference{Name: "git"}
		ps.Spec.Prune = true
		ps.Spec.StatusWriteBack = &v1alpha1.StatusWriteBack{StatusFile: &v1alpha1.StatusFileSpec{}}
	})
	f.waitApplied("main@sha1:" + first)
	if f.spotPool() == nil || f.onDemandPool() == nil {
		t.Fatal("the first commit did not become NodePools")
	}
	status := "status/" + f.cluster + ".yaml"
	f.eventually("the status file on the status branch", func() (bool, string) {
		content := repo.Show(t, "ballast-status", status)
		return strings.Contains(content, "appliedRevision: main@sha1:"+first), content
	})
	if head := repo.Head(t, "main"); head != first {
		t.Fatalf("writing the status moved main from %s to %s", first, head)
	}

	// A new commit (Spot disabled) is applied at the next reconcile, and pruning removes
	// the Spot NodePool.
	second := repo.Commit(t, "main", "no spot", files(policyFiles(f.cluster, f.ns, 20, false)))
	f.requestReconcile()
	f.waitApplied("main@sha1:" + second)
	if f.spotPool() != nil {
		t.Error("the Spot NodePool survived a commit that disabled Spot")
	}

	// A force-push replaces history; the controller follows the branch.
	forced := repo.ForcePush(t, "main", "rewritten", files(policyFiles(f.cluster, f.ns, 35, true)))
	f.requestReconcile()
	f.waitApplied("main@sha1:" + forced)
	if got := onDemandPercent(t, f.policy()); got != 35 {
		t.Errorf("onDemandPercent = %d after the force-push, want 35", got)
	}
}
