package localcluster

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStartSQS starts the real fauxqs (installing it on a machine that never ran it)
// and checks what the tests built on it rely on: queues, sending, counting, the
// environment for an SDK client, and that Stop ends the process.
func TestStartSQS(t *testing.T) {
	ctx := context.Background()
	s, err := StartSQS(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	u, err := url.Parse(s.Endpoint)
	if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Port() == "" {
		t.Fatalf("endpoint %q, want http://127.0.0.1:PORT", s.Endpoint)
	}
	queue, err := s.CreateQueue(ctx, "q", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{`{"a":1}`, `{"b":2}`} {
		if id, err := s.Send(ctx, queue, []byte(body)); err != nil || id == "" {
			t.Fatalf("send: %q, %v", id, err)
		}
	}
	if visible, hidden, err := s.Count(ctx, queue); err != nil || visible != 2 || hidden != 0 {
		t.Fatalf("count: %d visible, %d hidden, %v; want 2 and 0", visible, hidden, err)
	}
	if env := strings.Join(s.Env(), " "); !strings.Contains(env, "AWS_ENDPOINT_URL_SQS="+s.Endpoint) ||
		!strings.Contains(env, "AWS_REGION="+SQSRegion) {
		t.Errorf("Env() = %s", env)
	}

	s.Stop()
	// The port is free again: neither fauxqs nor a child of it holds it.
	l, err := net.Listen("tcp", u.Host)
	if err != nil {
		t.Fatalf("the port is still taken after Stop: %v", err)
	}
	_ = l.Close()
}

// fakeNPM puts an npm on the PATH that logs each call in dir/npm.log and, for npm ci,
// installs a stand-in fauxqs (or fails, when dir/fail exists).
func fakeNPM(t *testing.T) (bin string, calls func() int) {
	t.Helper()
	bin = t.TempDir()
	script := `#!/bin/sh
echo "$*" >>"` + bin + `/npm.log"
[ -f "` + bin + `/fail" ] && { echo "npm error: network unreachable" >&2; exit 1; }
[ "$1" = ci ] && [ -f package-lock.json ] && [ -f package.json ] || { echo "not npm ci in a project" >&2; exit 2; }
mkdir -p node_modules/fauxqs/dist && echo "// stand-in" >node_modules/fauxqs/dist/cli.js
`
	if err := os.WriteFile(filepath.Join(bin, "npm"), []byte(script), 0o755); err != nil { //nolint:gosec // an executable
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("BALLAST_CACHE_DIR", t.TempDir())
	return bin, func() int {
		data, err := os.ReadFile(filepath.Join(bin, "npm.log")) //nolint:gosec // the test's file
		if os.IsNotExist(err) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if !strings.HasPrefix(line, "ci --ignore-scripts ") {
				t.Errorf("npm %s: want npm ci --ignore-scripts", line)
			}
		}
		return strings.Count(string(data), "\n")
	}
}

// TestInstallFauxqsCache checks the cache on an npm stand-in: one install however
// many ask at once, none when the installation matches the lock file, a new one when
// it does not, and nothing cached from a failed install.
func TestInstallFauxqsCache(t *testing.T) {
	ctx := context.Background()
	npmDir, calls := fakeNPM(t)
	cache := os.Getenv("BALLAST_CACHE_DIR")
	want := filepath.Join(cache, "fauxqs-"+FauxqsVersion)

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			dir, err := installFauxqs(ctx)
			if err == nil && dir != want {
				t.Errorf("installed into %s, want %s", dir, want)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := calls(); n != 1 {
		t.Fatalf("npm ran %d times for four concurrent installs, want once", n)
	}
	for _, f := range []string{"package.json", "package-lock.json", fauxqsMarker, "node_modules/fauxqs/dist/cli.js"} {
		if _, err := os.Stat(filepath.Join(want, f)); err != nil {
			t.Errorf("the installation has no %s: %v", f, err)
		}
	}

	if _, err := installFauxqs(ctx); err != nil || calls() != 1 {
		t.Fatalf("a second install ran npm (%d calls, %v); want the cache used", calls(), err)
	}

	// An installation from another lock file (an older Ballast's) is replaced.
	if err := os.WriteFile(filepath.Join(want, fauxqsMarker), []byte("0123\n"), 0o644); err != nil { //nolint:gosec // a test file
		t.Fatal(err)
	}
	if _, err := installFauxqs(ctx); err != nil || calls() != 2 {
		t.Fatalf("an outdated installation was kept (%d calls, %v)", calls(), err)
	}

	// A failed install says why and leaves nothing that passes for an installation.
	if err := os.RemoveAll(want); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(npmDir, "fail"), nil, 0o644); err != nil { //nolint:gosec // a test file
		t.Fatal(err)
	}
	_, err := installFauxqs(ctx)
	if err == nil || !strings.Contains(err.Error(), "network unreachable") {
		t.Fatalf("want npm's error, got %v", err)
	}
	if _, err := os.Stat(want); !os.IsNotExist(err) {
		t.Errorf("a failed install left %s (%v)", want, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(cache, "fauxqs-install-*")); len(leftovers) != 0 {
		t.Errorf("a failed install left %v", leftovers)
	}
	if err := os.Remove(filepath.Join(npmDir, "fail")); err != nil {
		t.Fatal(err)
	}
	if _, err := installFauxqs(ctx); err != nil || calls() != 4 {
		t.Fatalf("the install after a failure: %d calls, %v", calls(), err)
	}
}
