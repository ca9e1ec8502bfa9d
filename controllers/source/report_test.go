package source

import (
	"context"
	"fmt"
	"strings"
	gosync "sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

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

// ReadFile returns the content last written to the file.
func (f *recordingForge) ReadFile(_ context.Context, o gitsync.FileReadOptions) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.files) - 1; i >= 0; i-- {
		if w := f.files[i]; w.URL == o.URL && w.Branch == o.Branch && w.Path == o.Path {
			return w.Content, nil
		}
	}
	return nil, &gitsync.NotFoundError{What: o.Path}
}

// filesTo returns the status files written to url.
func (f *recordingForge) filesTo(url string) []gitsync.FileWriteOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []gitsync.FileWriteOptions
	for _, o := range f.files {
		if o.URL == url {
			out = append(out, o)
		}
	}
	return out
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
// status/<cluster>.yaml on the status branch at once; a bad commit gets a failure
// status with the reason at once, while the status file shows the failure only after
// statusFile.minInterval (the last good revision staying the applied one); the fix is
// written at once.
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
	if sf := parseStatusFile(t, file.Content); sf.Cluster != f.cluster || sf.AppliedRevision != "main@sha1:aaaa" || sf.Objects != 5 ||
		sf.Source != f.ns+"/"+f.name || sf.AppliedAt == "" || sf.UpdatedAt == "" || sf.Failure != nil {
		t.Errorf("status file:\n%s", file.Content)
	}
	if ps := f.waitCondition(StatusWriteBackCondition, metav1.ConditionTrue, SucceededReason); !hasMessage(ps, StatusWriteBackCondition, "ballast-status") {
		t.Errorf("StatusWriteBack = %+v", ps.Status.Conditions)
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
	f.stays("the failure waits for the minimum interval (5m) after the last status commit", func() (bool, string) {
		sf := parseStatusFile(t, lastFile(t, f.url).Content)
		return sf.Failure == nil && sf.AppliedRevision == "main@sha1:aaaa", fmt.Sprintf("%+v", sf)
	})
	f.update(func(ps *v1alpha1.PolicySource) {
		ps.Spec.StatusWriteBack.StatusFile.MinInterval = &metav1.Duration{Duration: time.Second}
	})
	f.eventually("the failure in the status file", func() (bool, string) {
		sf := parseStatusFile(t, lastFile(t, f.url).Content)
		return sf.Failure != nil && sf.Failure.Revision == "main@sha1:bbbb" && sf.Failure.Reason == ValidationFailedReason &&
			len(sf.Failure.Findings) > 0 && sf.AppliedRevision == "main@sha1:aaaa", fmt.Sprintf("%+v", sf)
	})

	git.set(f.url, "main@sha1:cccc", policyFiles(f.cluster, f.ns, 30, true))
	f.requestReconcile()
	f.waitApplied("main@sha1:cccc")
	f.eventually("the fix in the status file", func() (bool, string) {
		sf := parseStatusFile(t, lastFile(t, f.url).Content)
		return sf.Failure == nil && sf.AppliedRevision == "main@sha1:cccc", fmt.Sprintf("%+v", sf)
	})
	forge.mu.Lock()
	defer forge.mu.Unlock()
	for _, tok := range forge.tokens {
		if tok != "s3cret-token" {
			t.Errorf("the forge client got token %q", tok)
		}
	}
}

// lastFile is the status file last written to url.
func lastFile(t *testing.T, url string) gitsync.FileWriteOptions {
	t.Helper()
	files := forge.filesTo(url)
	if len(files) == 0 {
		t.Fatalf("no status file written to %s", url)
	}
	return files[len(files)-1]
}

func parseStatusFile(t *testing.T, content []byte) *StatusFile {
	t.Helper()
	sf := &StatusFile{}
	if err := yaml.Unmarshal(content, sf); err != nil {
		t.Fatalf("status file: %v\n%s", err, content)
	}
	return sf
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
