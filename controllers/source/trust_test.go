package source

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf8"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/controllers/internal/status"
	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/redact"
	"github.com/ballast-dev/ballast/test/gitserver"
)

// hugeFindings is a revision with as many findings as a hostile or broken repository
// can make: 60 unknown fields whose 100 KiB names each finding quotes twice, and
// 10,000 more.
func hugeFindings(cluster string) fstest.MapFS {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: ballast.dev/v1alpha1\nkind: ClusterPolicy\nmetadata:\n  name: %[1]s\nspec:\n  cluster: {name: %[1]s, region: eu-central-1}\n", cluster)
	for i := range 60 {
		// An explicit key: YAML allows 1,024 characters for an implicit one.
		fmt.Fprintf(&b, "  ? %s%02d\n  : 1\n", strings.Repeat("k", 100<<10), i)
	}
	var many strings.Builder
	fmt.Fprintf(&many, "apiVersion: ballast.dev/v1alpha1\nkind: WorkloadDistributionRule\nmetadata:\n  name: many\n  namespace: x\nspec:\n")
	for i := range 10000 {
		fmt.Fprintf(&many, "  unknown%05d: %q\n", i, "https://user:hunter2@git.example.com/x")
	}
	return fstest.MapFS{
		"policies/cluster.yaml": &fstest.MapFile{Data: []byte(b.String())},
		"policies/many.yaml":    &fstest.MapFile{Data: []byte(many.String())},
	}
}

// TestStatusStaysWritable: a revision with the largest findings a repository can
// make still has its status written (the new revision, the findings and conditions
// bounded and marked as truncated), and the next good revision is applied.
func TestStatusStaysWritable(t *testing.T) {
	f := newFixture(t)
	git.set(f.url, "main@sha1:good1", policyFiles(f.cluster, f.ns, 20, true))
	f.create(nil)
	f.waitApplied("main@sha1:good1")

	git.set(f.url, "main@sha1:huge", hugeFindings(f.cluster))
	f.requestReconcile()
	ps := f.waitCondition(ValidatedCondition, metav1.ConditionFalse, ValidationFailedReason)
	if ps.Status.LastAttemptedRevision != "main@sha1:huge" || ps.Status.LastAppliedRevision != "main@sha1:good1" {
		t.Errorf("revisions: attempted %s, applied %s", ps.Status.LastAttemptedRevision, ps.Status.LastAppliedRevision)
	}
	if n := len(ps.Status.Findings); n != maxFindings {
		t.Errorf("%d findings in status, want %d", n, maxFindings)
	}
	truncated := 0
	for _, fi := range ps.Status.Findings {
		if len(fi.Message) > status.MaxFindingMessage || len(fi.Field) > status.MaxFindingField || !utf8.ValidString(fi.Message) {
			t.Fatalf("finding of %d+%d bytes", len(fi.Message), len(fi.Field))
		}
		if strings.Contains(fi.Message, "hunter2") {
			t.Fatalf("a finding shows a password: %s", fi.Message)
		}
		if strings.Contains(fi.Message, "(truncated, ") {
			truncated++
		}
	}
	if truncated == 0 {
		t.Error("no finding says it was truncated")
	}
	for _, c := range ps.Status.Conditions {
		if len(c.Message) > status.MaxMessage {
			t.Errorf("condition %s has a message of %d bytes", c.Type, len(c.Message))
		}
	}
	if !hasMessage(ps, meta.ReadyCondition, "main@sha1:huge") {
		t.Errorf("Ready does not name the revision: %s", conditions.GetMessage(wrap(ps), meta.ReadyCondition))
	}

	git.set(f.url, "main@sha1:good2", policyFiles(f.cluster, f.ns, 30, true))
	f.requestReconcile()
	if ps := f.waitApplied("main@sha1:good2"); len(ps.Status.Findings) > 10 {
		t.Errorf("%d findings left from the huge revision", len(ps.Status.Findings))
	}
}

// TestServerRepliesAndCredentialsStayOut: a Git server answering with a 1 MiB error
// page that echoes the credentials, and an address whose password net/url cannot
// parse, fail the sync with short messages that show no credential, in conditions and
// events alike, and the status is written.
func TestServerRepliesAndCredentialsStayOut(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const (
		urlToken = "url-t0ken-value"
		password = "s3cret-pa55word"
	)
	body := "<html><body>Internal error for Authorization: Basic " + password + " " + urlToken + "\n" +
		strings.Repeat("<p>stack trace line</p>\n", (1<<20)/24)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// go-git shows the whole body of a 401, 403 or 404 in its error.
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	if err := kube.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "git"},
		Data: map[string][]byte{"username": []byte("ballast"), "password": []byte(password)}}); err != nil {
		t.Fatal(err)
	}
	f.url = strings.Replace(srv.URL, "http://", "http://ballast:"+urlToken+"@", 1) + "/policies.git"
	f.create(func(ps *v1alpha1.PolicySource) { ps.Spec.Git.SecretRef = &v1alpha1.LocalObjectReference{Name: "git"} })
	ps := f.waitCondition(SourceReadyCondition, metav1.ConditionFalse, ArtifactFailedReason)
	msg := conditions.GetMessage(wrap(ps), SourceReadyCondition)
	if !strings.Contains(msg, "repository not found") || len(msg) > 1024 {
		t.Errorf("SourceReady message of %d bytes: %s", len(msg), msg)
	}
	if strings.Count(msg, "stack trace line") > redact.MaxExcerpt/len("stack trace line") {
		t.Errorf("the server's reply is shown beyond an excerpt: %s", msg)
	}
	f.checkNoSecret(ps, urlToken, password)

	// A password with '#' and '/' makes net/url fail; the URL still shows no password.
	f.update(func(ps *v1alpha1.PolicySource) {
		ps.Spec.Git.URL = strings.Replace(srv.URL, "http://", "http://ballast:p#a/"+urlToken+"@", 1) + "/policies.git"
	})
	f.eventually("a failure for the new address", func() (bool, string) {
		ps = f.get()
		return ps.Status.ObservedGeneration == ps.Generation && conditions.IsFalse(wrap(ps), SourceReadyCondition), "waiting"
	})
	f.checkNoSecret(ps, urlToken, "p#a/")
}

// checkNoSecret fails when the PolicySource's conditions or events show a secret.
func (f *fixture) checkNoSecret(ps *v1alpha1.PolicySource, secrets ...string) {
	f.t.Helper()
	shown := []string{}
	for _, c := range ps.Status.Conditions {
		shown = append(shown, c.Message)
	}
	f.eventually("an event of the failure", func() (bool, string) {
		var list eventsv1.EventList
		if err := kube.List(context.Background(), &list, client.InNamespace(f.ns)); err != nil {
			return false, err.Error()
		}
		n := 0
		for _, e := range list.Items {
			if e.Regarding.Name == f.name && e.Type == corev1.EventTypeWarning {
				shown = append(shown, e.Note)
				n++
			}
		}
		return n > 0, fmt.Sprintf("%d events", len(list.Items))
	})
	for _, text := range shown {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				f.t.Errorf("%q is shown: %s", s, text)
			}
		}
	}
}

// TestRevisionWithLinkOutOfTheRepository: a commit holding a link to /etc/passwd is
// refused (stalled until a new commit), and the next commit without it is applied.
func TestRevisionWithLinkOutOfTheRepository(t *testing.T) {
	f := newFixture(t)
	root := gitserver.NewRoot(t)
	srv := gitserver.ServeHTTP(t, root, "ballast", "s3cret", "")
	repo := root.Create(t, "policies")
	repo.Commit(t, "main", "first policy", files(policyFiles(f.cluster, f.ns, 20, true)))
	if err := os.Symlink("/etc/passwd", filepath.Join(repo.Work, "policies", "passwd.yaml")); err != nil {
		t.Fatal(err)
	}
	repo.Commit(t, "main", "a link out", nil)
	if err := kube.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "git"},
		Data: map[string][]byte{"username": []byte("ballast"), "password": []byte("s3cret")}}); err != nil {
		t.Fatal(err)
	}
	f.url = srv.RepoURL("policies")
	f.create(func(ps *v1alpha1.PolicySource) { ps.Spec.Git.SecretRef = &v1alpha1.LocalObjectReference{Name: "git"} })
	ps := f.waitCondition(SourceReadyCondition, metav1.ConditionFalse, UnsafeLinkReason)
	if !conditions.IsTrue(wrap(ps), meta.StalledCondition) || !hasMessage(ps, SourceReadyCondition, "policies/passwd.yaml -> /etc/passwd") {
		t.Errorf("conditions %+v", ps.Status.Conditions)
	}
	if f.spotPool() != nil {
		t.Error("a revision with a link out of the repository was applied")
	}
	good := repo.Commit(t, "main", "no link", map[string]string{"policies/passwd.yaml": ""})
	f.requestReconcile()
	f.waitApplied("main@sha1:" + good)
}

// TestCheckAddressStep: without AllowInsecureHTTP, http:// and file:// are refused
// with a condition that says why (the CRD admits only http://, https:// and ssh://;
// the envtest suite runs with AllowInsecureHTTP for its local git servers).
func TestCheckAddressStep(t *testing.T) {
	for _, tc := range []struct {
		url      string
		insecure bool
		refused  bool
	}{
		{"https://github.com/o/r.git", false, false},
		{"git@github.com:o/r.git", false, false},
		{"http://127.0.0.1:8080/r.git", false, true},
		{"file:///etc", false, true},
		{"git://github.com/o/r.git", true, true},
		{"http://127.0.0.1:8080/r.git", true, false},
	} {
		r := &Reconciler{AllowInsecureHTTP: tc.insecure}
		s := &syncState{obj: &v1alpha1.PolicySource{Spec: v1alpha1.PolicySourceSpec{Git: &v1alpha1.GitSource{URL: tc.url}}}}
		err := r.checkAddress(context.Background(), s)
		if (err != nil) != tc.refused {
			t.Errorf("checkAddress(%s, insecure %v) = %v", tc.url, tc.insecure, err)
		}
		if tc.refused && conditions.GetReason(wrap(s.obj), SourceReadyCondition) != InsecureAddressReason {
			t.Errorf("%s: conditions %+v", tc.url, s.obj.Status.Conditions)
		}
	}
}

// TestConfinedFS: a snapshot never follows a link out of its directory, whoever reads
// it, and the loader reads links inside.
func TestConfinedFS(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for name, content := range map[string]string{"outside.yaml": "secret: 1\n", "tree/policies/a.yaml": "x: 1\n", "tree/shared/b.yaml": "y: 1\n"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"policies/passwd.yaml": "/etc/passwd", "policies/up.yaml": "../../outside.yaml", "policies/b.yaml": "../shared/b.yaml",
	} {
		if err := os.Symlink(target, filepath.Join(tree, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	fsys := confined(tree)
	for _, name := range []string{"policies/passwd.yaml", "policies/up.yaml"} {
		if b, err := fs.ReadFile(fsys, name); err == nil {
			t.Errorf("read %s through a link out of the tree: %q", name, b)
		}
		if _, err := fs.Stat(fsys, name); err == nil {
			t.Errorf("stat %s through a link out of the tree", name)
		}
	}
	if b, err := fs.ReadFile(fsys, "policies/b.yaml"); err != nil || string(b) != "y: 1\n" {
		t.Errorf("link inside: %q, %v", b, err)
	}
	if _, err := fsys.Open("../outside.yaml"); err == nil {
		t.Error("opened a path out of the tree")
	}
	repo, err := policies.Load(fsys, "policies", "policies")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range repo.Findings {
		if strings.Contains(f.Message, "secret") || strings.Contains(f.Message, "root:") {
			t.Errorf("a finding shows a file out of the tree: %s", f)
		}
	}
}

// TestSSHSourceWithoutWritableTemp syncs an ssh:// source (a real SSH git server,
// identity and known_hosts from a Secret) while no temporary directory can be written,
// as under the shipped read-only root file system.
func TestSSHSourceWithoutWritableTemp(t *testing.T) {
	f := newFixture(t)
	root := gitserver.NewRoot(t)
	srv := gitserver.ServeSSH(t, root)
	repo := root.Create(t, "policies")
	head := repo.Commit(t, "main", "first policy", files(policyFiles(f.cluster, f.ns, 20, true)))
	if err := kube.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "ssh"},
		Data: map[string][]byte{"identity": srv.ClientKey, "known_hosts": srv.KnownHosts}}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "read-only"))
	f.url = srv.RepoURL("policies")
	f.create(func(ps *v1alpha1.PolicySource) { ps.Spec.Git.SecretRef = &v1alpha1.LocalObjectReference{Name: "ssh"} })
	f.waitApplied("main@sha1:" + head)
}
