package source

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"

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
			archive := filepath.Join(dir, "a.tar.gz")
			if err := os.WriteFile(archive, tarball(t, tc.files), 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out")
			if err := os.Mkdir(out, 0o700); err != nil {
				t.Fatal(err)
			}
			err := untar(archive, out, 1<<20)
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
	dir := t.TempDir()
	archive := filepath.Join(dir, "a.tar.gz")
	if err := os.WriteFile(archive, tarball(t, map[string]string{"big.yaml": strings.Repeat("x", 2048)}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := untar(archive, t.TempDir(), 1024); err == nil {
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
