package source

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/ballast-dev/ballast/test/gitserver"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gogit"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
)

// recordingCloner records the options of each clone and delegates.
type recordingCloner struct {
	next  gitsync.Cloner
	calls []gitsync.CloneOptions
}

func (c *recordingCloner) Clone(ctx context.Context, dir string, opts gitsync.CloneOptions) (*gitsync.Checkout, error) {
	c.calls = append(c.calls, opts)
	return c.next.Clone(ctx, dir, opts)
}

func TestGitFetcherRealRepository(t *testing.T) {
	repo := gitserver.NewWorkTree(t)
	first := repo.Commit("update", mapFiles(policyFiles("gf", "team", 20, true)))
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "creds"}, Data: map[string][]byte{"username": []byte("u"), "password": []byte("s3cr3t")}}
	cloner := &recordingCloner{next: gogit.NewCloner()}
	f := &GitFetcher{
		Cloner:  cloner,
		Secrets: fake.NewClientBuilder().WithScheme(controlplane.Scheme).WithObjects(secret).Build(),
		Dir:     t.TempDir(),
	}
	src := &v1alpha1.PolicySource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "ps", UID: "uid-1"},
		Spec: v1alpha1.PolicySourceSpec{Cluster: "gf", Git: &v1alpha1.GitSource{
			URL: "file://" + repo.Dir, SecretRef: &v1alpha1.LocalObjectReference{Name: "creds"},
		}},
	}
	ctx := context.Background()

	snap, err := f.Fetch(ctx, src)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if want := "main@sha1:" + first; snap.Revision != want || snap.Unchanged {
		t.Fatalf("snapshot = %+v, want revision %s", snap, want)
	}
	if _, err := fs.Stat(snap.Files, "policies/clusters/gf.yaml"); err != nil {
		t.Fatalf("the checkout lacks the policy: %v", err)
	}
	if got := cloner.calls[0]; got.Auth.Password != "s3cr3t" || got.Auth.Username != "u" || !got.Shallow {
		t.Errorf("first clone options = %+v", got)
	}

	// Nothing moved: no fetch, same files.
	snap, err = f.Fetch(ctx, src)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if !snap.Unchanged || snap.Revision != "main@sha1:"+first {
		t.Errorf("snapshot = %+v, want unchanged at %s", snap, first)
	}
	if _, err := fs.Stat(snap.Files, "policies/clusters/gf.yaml"); err != nil {
		t.Fatalf("the unchanged checkout lost its files: %v", err)
	}

	second := repo.Commit("update", map[string]string{"policies/clusters/extra.yaml": "# empty\n"})
	snap, err = f.Fetch(ctx, src)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if snap.Unchanged || snap.Revision != "main@sha1:"+second {
		t.Errorf("snapshot = %+v, want %s", snap, second)
	}

	// A missing Secret says which, and never what a Secret holds.
	src.Spec.Git.SecretRef.Name = "missing"
	_, err = f.Fetch(ctx, src)
	if err == nil || !strings.Contains(err.Error(), "ns/missing") {
		t.Errorf("Fetch with a missing Secret: %v", err)
	}
	if err := f.Forget(src); err != nil {
		t.Fatal(err)
	}
}
