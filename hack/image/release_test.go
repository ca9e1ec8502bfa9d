package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// maxBinarySize guards the release binary's size: it was 190 MB before the build was
// made static and stripped and the EC2 client and the clientset left out, 89 MB while
// a reflective method lookup was reachable, and 56 MiB since (see CONTRIBUTING.md,
// "Binary size"); a change that brings one of them back fails here.
const maxBinarySize = 70 << 20

// TestReleaseImage runs `make image` twice from this commit into two directories: the
// binaries, the image layout, the tarballs and the SBOMs must be the same bytes. Then it
// takes /ballast out of the linux/amd64 image and runs `ballast version`, which must
// name the version, commit and date in the image's labels. The second build of each
// binary is a build-cache hit (only the link runs again), so with a warm cache this
// costs a minute or two; a cold cache compiles every package for each platform first.
func TestReleaseImage(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	first, second := t.TempDir(), t.TempDir()
	ref := makeImage(t, root, first)
	if again := makeImage(t, root, second); again != ref {
		t.Fatalf("the same commit built two images:\n%s\n%s", ref, again)
	}
	t.Logf("image %s, twice", ref)
	a, b := readTree(t, first), readTree(t, second)
	if len(a) != len(b) {
		t.Fatalf("the two builds wrote %d and %d files", len(a), len(b))
	}
	for name, data := range a {
		if !bytes.Equal(data, b[name]) {
			t.Errorf("%s differs between the two builds", name)
		}
		if strings.HasPrefix(name, "bin"+string(filepath.Separator)) {
			t.Logf("%s: %d bytes", name, len(data))
			if len(data) > maxBinarySize {
				t.Errorf("%s has %d MB, more than %d MB", name, len(data)>>20, maxBinarySize>>20)
			}
		}
	}

	// The linux/amd64 tarball's /ballast is the binary built, and it knows its build.
	var tarballPath string
	for name := range a {
		if strings.HasSuffix(name, "-linux-amd64.tar") {
			tarballPath = filepath.Join(first, name)
		}
	}
	tag, err := name.NewTag(strings.Split(ref, "@")[0])
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(tarballPath, &tag)
	if err != nil {
		t.Fatalf("failed to read the linux/amd64 tarball %q: %v", tarballPath, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	bin := extract(t, layers[len(layers)-1], "ballast")
	if !bytes.Equal(bin, a[filepath.Join("bin", "ballast-linux-amd64")]) {
		t.Fatal("the linux/amd64 image's /ballast is not bin/ballast-linux-amd64")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("cannot run a linux/amd64 binary on %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	path := filepath.Join(t.TempDir(), "ballast")
	if err := os.WriteFile(path, bin, 0o755); err != nil { //nolint:gosec // an executable
		t.Fatal(err)
	}
	out, err := exec.Command(path, "version").CombinedOutput() //nolint:gosec // the binary just built
	if err != nil {
		t.Fatalf("ballast version: %v\n%s", err, out)
	}
	labels := cf.Config.Labels
	want := "ballast " + labels["org.opencontainers.image.version"] +
		" (commit " + labels["org.opencontainers.image.revision"] +
		", date " + labels["org.opencontainers.image.created"] + ", "
	if !strings.HasPrefix(string(out), want) || !strings.HasSuffix(string(out), " linux/amd64)\n") {
		t.Errorf("ballast version printed %q, want %q... linux/amd64)", out, want)
	}
	if head := git(t, root, "rev-parse", "HEAD"); labels["org.opencontainers.image.revision"] != head {
		t.Errorf("revision label %q, want HEAD %s", labels["org.opencontainers.image.revision"], head)
	}
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		epoch = git(t, root, "log", "-1", "--format=%ct")
	}
	if sec, err := strconv.ParseInt(epoch, 10, 64); err != nil ||
		labels["org.opencontainers.image.created"] != time.Unix(sec, 0).UTC().Format(time.RFC3339) {
		t.Errorf("created label %q, want the commit time %s (%v)", labels["org.opencontainers.image.created"], epoch, err)
	}
}

// makeImage runs `make image` with DIST=dist and returns the reference@digest it printed.
func makeImage(t *testing.T, root, dist string) string {
	t.Helper()
	started := time.Now()
	cmd := exec.Command("make", "--no-print-directory", "-C", root, "image", "DIST="+dist)
	// A make running this test must not hand its job server or level to this one.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("make image: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	ref := lines[len(lines)-1]
	if !strings.Contains(ref, "@sha256:") {
		t.Fatalf("make image printed no digest:\n%s", stdout.String())
	}
	digest, err := os.ReadFile(filepath.Join(dist, "image", "digest")) //nolint:gosec // the test's own output
	if err != nil || !strings.HasSuffix(ref, "@"+strings.TrimSpace(string(digest))) {
		t.Errorf("image/digest = %q (%v), make image printed %s", digest, err, ref)
	}
	t.Logf("make image took %s", time.Since(started).Round(time.Second))
	return ref
}

func extract(t *testing.T, l v1.Layer, file string) []byte {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("no %s in the layer", file)
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == file {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}
