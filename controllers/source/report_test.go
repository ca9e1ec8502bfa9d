package source

import (
	"context"
	"strings"
	gosync "sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// recordingForge records the commit statuses and status files the reconciler reports.
type recordingForge struct {
	mu       gosync.Mutex
	tokens   []string
	statuses []gitsync.CommitStatus
	files    []gitsync.FileWriteOptions
}

var forge = &recordingForge{}

func (f *recordingForge) factory(_ v1alpha1.CommitStatusSpec, token string) (gitsync.StatusSetter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = append(f.tokens, token)
	return f, nil
}

func (f *recordingForge) SetStatus(_ context.Context, s gitsync.CommitStatus) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses = append(f.statuses, s)
	return nil
}

func (f *recordingForge) WriteFile(_ context.Context, o gitsync.FileWriteOptions) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files = append(f.files, o)
	return "feed", true, nil
}

// statusFor returns the last status reported on a commit.
func (f *recordingForge) statusFor(commit string) (gitsync.CommitStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.statuses) - 1; i >= 0; i-- {
		if f.statuses[i].Commit == commit {
			return f.statuses[i], true
		}
	}
	return gitsync.CommitStatus{}, false
}

func (f *recordingForge) fileFor(revision string) (gitsync.FileWriteOptions, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.files {
		if strings.Contains(string(o.Content), revision) {
			return o, true
		}
	}
	return gitsync.FileWriteOptions{}, false
}

// TestStatusWriteBack: a sync sets a success status on the applied commit and writes
// status/<cluster>.yaml on the status branch; a bad commit gets a failure status with
// the reason, and no status file.
func TestStatusWriteBack(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "forge"}, Data: map[string][]byte{"token": []byte("s3cret-token")}}
	if err := kube.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	git.set(f.url, "main@sha1:aaaa", policyFiles(f.cluster, f.ns, 20, true))
	f.create(func(ps *v1alpha1.PolicySource) {
		ps.Spec.StatusWriteBack = &v1alpha1.StatusWriteBack{
			CommitStatus: &v1alpha1.CommitStatusSpec{Provider: "gitea", Repository: "platform/policies", SecretRef: v1alpha1.LocalObjectReference{Name: "forge"}},
			StatusFile:   &v1alpha1.StatusFileSpec{},
		}
	})
	f.waitApplied("main@sha1:aaaa")
	st := waitFor(t, func() (gitsync.CommitStatus, bool) { return forge.statusFor("aaaa") })
	if st.State != gitsync.CommitStateSuccess || st.Context != "ballast/"+f.cluster {
		t.Errorf("status on the applied commit = %+v", st)
	}
	file := waitFor(t, func() (gitsync.FileWriteOptions, bool) { return forge.fileFor("main@sha1:aaaa") })
	if file.Branch != "ballast-status" || file.Path != "status/"+f.cluster+".yaml" || file.URL != f.url {
		t.Errorf("status file written to %s %s:%s", file.URL, file.Branch, file.Path)
	}
	for _, want := range []string{"cluster: " + f.cluster, "appliedRevision: main@sha1:aaaa", "objects: 5"} {
		if !strings.Contains(string(file.Content), want) {
			t.Errorf("status file lacks %q:\n%s", want, file.Content)
		}
	}

	bad := policyFiles(f.cluster, f.ns, 60, true)
	path := "policies/clusters/" + f.cluster + ".yaml"
	bad[path].Data = []byte(strings.Replace(string(bad[path].Data), "  spot:\n", "  bogus: 1\n  spot:\n", 1))
	git.set(f.url, "main@sha1:bbbb", bad)
	f.requestReconcile()
	st = waitFor(t, func() (gitsync.CommitStatus, bool) { return forge.statusFor("bbbb") })
	if st.State != gitsync.CommitStateFailure || !strings.Contains(st.Description, ValidationFailedReason) {
		t.Errorf("status on the bad commit = %+v", st)
	}
	if _, ok := forge.fileFor("main@sha1:bbbb"); ok {
		t.Error("a status file was written for a revision that was not applied")
	}
	forge.mu.Lock()
	defer forge.mu.Unlock()
	for _, tok := range forge.tokens {
		if tok != "s3cret-token" {
			t.Errorf("the forge client got token %q", tok)
		}
	}
}

func waitFor[T any](t *testing.T, get func() (T, bool)) T {
	t.Helper()
	var out T
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		v, ok := get()
		out = v
		return ok, nil
	})
	if err != nil {
		t.Fatal("timed out waiting for the report")
	}
	return out
}
