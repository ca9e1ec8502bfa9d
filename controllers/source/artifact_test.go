package source

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies/v1alpha1"

	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/render"
)

// tarball is a tar.gz of files (name -> content); a name ending in "@link" becomes a
// symbolic link to the content.
func tarball(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, content := range files {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}
		if target, ok := strings.CutSuffix(name, "@link"); ok {
			hdr = &tar.Header{Name: target, Linkname: content, Typeflag: tar.TypeSymlink, Mode: 0o777}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(content)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestUntarRefusesEscapes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		ok    bool
	}{
		{name: "plain", files: map[string]string{"policies/a.yaml": "x", "./b.yaml": "y"}, ok: true},
		{name: "dot-dot", files: map[string]string{"../evil.yaml": "x"}},
		{name: "nested dot-dot", files: map[string]string{"a/../../evil.yaml": "x"}},
		{name: "absolute", files: map[string]string{"/etc/evil": "x"}},
		{name: "symlink skipped", files: map[string]string{"link@link": "/etc/passwd", "a.yaml": "x"}, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			if err := os.Mkdir(out, 0o700); err != nil {
				t.Fatal(err)
			}
			err := untar(bytes.NewReader(tarball(t, tc.files)), out, 1<<20)
			if tc.ok != (err == nil) {
				t.Fatalf("untar: %v, want ok=%t", err, tc.ok)
			}
			if _, err := os.Lstat(filepath.Join(out, "link")); err == nil {
				t.Error("a symbolic link was extracted")
			}
			if _, err := os.Stat(filepath.Join(dir, "evil.yaml")); err == nil {
				t.Error("a file was written outside the extraction directory")
			}
		})
	}
}

func TestUntarSizeLimit(t *testing.T) {
	archive := tarball(t, map[string]string{"big.yaml": strings.Repeat("x", 2048)})
	if err := untar(bytes.NewReader(archive), t.TempDir(), 1024); err == nil {
		t.Fatal("untar extracted more than the limit")
	}
}

func TestDownloadVerifiesDigest(t *testing.T) {
	body := tarball(t, map[string]string{"a.yaml": "x"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	defer srv.Close()
	f := &ArtifactFetcher{HTTP: srv.Client()}
	dir := t.TempDir()
	art := artifact(srv.URL, "main@sha1:1", digestOf(body))
	name, err := f.download(context.Background(), art, dir)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	_ = os.Remove(name)
	art.Digest = digestOf([]byte("other"))
	if _, err := f.download(context.Background(), art, dir); err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("download with a wrong digest: %v", err)
	}
	art.Digest = "md5:abc"
	if _, err := f.download(context.Background(), art, dir); err == nil {
		t.Fatal("download accepted an unsupported digest algorithm")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("refused downloads left %d files", len(entries))
	}
}

// TestFixtureRenders keeps the envtest fixture honest: valid, and rendering the
// objects the suite expects.
func TestFixtureRenders(t *testing.T) {
	repo, err := policies.Load(policyFiles("fx", "team", 20, true), "policies", "policies")
	if err != nil {
		t.Fatal(err)
	}
	if fs := repo.Validate(); fs.HasErrors() {
		t.Fatalf("fixture has errors: %v", fs)
	}
	p, rules, err := repo.ForCluster("fx")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render.Render(render.Input{Policy: p, Rules: rules, Source: "src", Now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	u, err := toUnstructured(objs)
	if err != nil {
		t.Fatal(err)
	}
	if len(u) != 5 {
		t.Fatalf("rendered %d objects, want 5 (nodeclass, 2 nodepools, policy, rule)", len(u))
	}
	if windowsValidUntil(u).IsZero() {
		t.Error("no windows-valid-until annotation on the NodePools")
	}
}

func artifact(url, rev, digest string) meta.Artifact {
	return meta.Artifact{URL: url, Revision: rev, Digest: digest}
}

// TestArtifactReusedOnlyWhenVerified: the extracted tree of an artifact is reused
// only while its stamp names the artifact's digest and its files are still those
// extracted. A tree left incomplete or changed, a stamp missing (an extraction killed
// half-way) or the layout of an older version are discarded and the artifact
// downloaded again; going back to an artifact extracted before serves its own files.
func TestArtifactReusedOnlyWhenVerified(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bodies := map[string][]byte{
		"/a.tar.gz": tarball(t, mapFiles(policyFiles(f.cluster, f.ns, 20, true))),
		"/b.tar.gz": tarball(t, mapFiles(policyFiles(f.cluster, f.ns, 70, true))),
	}
	var mu gosync.Mutex
	downloads := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		downloads++
		mu.Unlock()
		_, _ = w.Write(bodies[r.URL.Path])
	}))
	defer srv.Close()
	downloaded := func() int {
		mu.Lock()
		defer mu.Unlock()
		return downloads
	}

	repo := &unstructured.Unstructured{}
	repo.SetGroupVersionKind(sourceGVK(&v1alpha1.SourceReference{Kind: "GitRepository"}))
	repo.SetNamespace(f.ns)
	repo.SetName("policies")
	_ = unstructured.SetNestedMap(repo.Object, map[string]any{"url": "https://git.example.com/policies.git", "interval": "5m"}, "spec")
	if err := kube.Create(ctx, repo); err != nil {
		t.Fatal(err)
	}
	use := func(name string) (revision, digest string) {
		t.Helper()
		revision, digest = "main@sha1:"+strings.Repeat(name, 40), digestOf(bodies["/"+name+".tar.gz"])
		if err := kube.Get(ctx, client.ObjectKeyFromObject(repo), repo); err != nil {
			t.Fatal(err)
		}
		_ = unstructured.SetNestedMap(repo.Object, map[string]any{
			"path": "x", "url": srv.URL + "/" + name + ".tar.gz", "revision": revision, "digest": digest,
			"lastUpdateTime": time.Now().UTC().Format(time.RFC3339),
		}, "status", "artifact")
		if err := kube.Status().Update(ctx, repo); err != nil {
			t.Fatal(err)
		}
		return revision, digest
	}
	fetcher := &ArtifactFetcher{Client: kube, HTTP: srv.Client(), Dir: t.TempDir()}
	src := &v1alpha1.PolicySource{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "ps", UID: "uid-1"},
		Spec:       v1alpha1.PolicySourceSpec{Cluster: f.cluster, SourceRef: &v1alpha1.SourceReference{Kind: "GitRepository", Name: "policies"}},
	}
	policy := "policies/clusters/" + f.cluster + ".yaml"
	// fetch fetches and checks the snapshot: its revision, the onDemandPercent its
	// policy says, every file of the artifact and no other, and whether it was
	// downloaded.
	fetch := func(what, revision string, onDemand int, download bool) {
		t.Helper()
		before := downloaded()
		snap, err := fetcher.Fetch(ctx, src)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if snap.Revision != revision || snap.Unchanged == download || (downloaded() > before) != download {
			t.Errorf("%s: revision %s, unchanged %t, %d downloads; want %s, downloaded %t", what, snap.Revision, snap.Unchanged, downloaded()-before, revision, download)
		}
		content, err := fs.ReadFile(snap.Files, policy)
		if err != nil || !strings.Contains(string(content), fmt.Sprintf("onDemandPercent: %d}", onDemand)) {
			t.Errorf("%s: the policy reads %q (%v), want onDemandPercent %d", what, content, err, onDemand)
		}
		var names []string
		_ = fs.WalkDir(snap.Files, ".", func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				names = append(names, p)
			}
			return err
		})
		slices.Sort(names)
		if want := []string{"README.md", policy, "policies/rules/web.yaml"}; !slices.Equal(names, want) {
			t.Errorf("%s: files %v, want %v", what, names, want)
		}
	}
	revA, digestA := use("a")
	fetch("first fetch", revA, 20, true)
	fetch("unchanged artifact", revA, 20, false)
	tree := filepath.Join(fetcher.treeDir(src), treeName(digestA), "files")

	for _, tc := range []struct {
		name   string
		damage func(t *testing.T)
	}{
		{name: "file removed", damage: func(t *testing.T) { removeAll(t, filepath.Join(tree, "policies", "rules", "web.yaml")) }},
		{name: "file changed", damage: func(t *testing.T) {
			writeTestFile(t, filepath.Join(tree, filepath.FromSlash(policy)), mapFiles(policyFiles(f.cluster, f.ns, 70, true))[policy])
		}},
		{name: "file added", damage: func(t *testing.T) { writeTestFile(t, filepath.Join(tree, "policies", "extra.yaml"), "kind: x\n") }},
		{name: "link added", damage: func(t *testing.T) {
			if err := os.Symlink("/etc/passwd", filepath.Join(tree, "policies", "passwd.yaml")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "stamp missing", damage: func(t *testing.T) { removeAll(t, filepath.Join(filepath.Dir(tree), "stamp")) }},
		{name: "layout of an older version", damage: func(t *testing.T) {
			// It kept one tree in current/ and its digest in a file beside: killed
			// between the two, the digest named the artifact before.
			base := fetcher.treeDir(src)
			removeAll(t, base)
			if err := os.MkdirAll(filepath.Join(base, "current"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := untar(bytes.NewReader(bodies["/b.tar.gz"]), filepath.Join(base, "current"), 1<<20); err != nil {
				t.Fatal(err)
			}
			writeTestFile(t, filepath.Join(base, "digest"), digestA)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.damage(t)
			fetch("after the damage", revA, 20, true)
			fetch("again", revA, 20, false)
		})
	}

	revB, _ := use("b")
	fetch("a new artifact", revB, 70, true)
	revA, _ = use("a")
	fetch("back to the first artifact", revA, 20, true)
}
