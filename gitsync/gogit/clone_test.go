package gogit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gogit"
	"github.com/ballast-dev/ballast/test/gitserver"
)

const (
	testUser     = "ballast"
	testPassword = "s3cret-password"
	testToken    = "t0ken-value"
)

// remotes are one repository served over HTTP (basic auth and bearer token) and SSH.
type remotes struct {
	repo  *gitserver.Repo
	http  *gitserver.HTTPServer
	ssh   *gitserver.SSHServer
	basic gitsync.Auth
	token gitsync.Auth
	key   gitsync.Auth
}

func newRemotes(t *testing.T) *remotes {
	t.Helper()
	root := gitserver.NewRoot(t)
	r := &remotes{repo: root.Create(t, "policies")}
	r.http = gitserver.ServeHTTP(t, root, testUser, testPassword, testToken)
	r.ssh = gitserver.ServeSSH(t, root)
	r.basic = gitsync.Auth{Username: testUser, Password: testPassword}
	r.token = gitsync.Auth{BearerToken: testToken}
	r.key = gitsync.Auth{SSHPrivateKey: r.ssh.ClientKey, KnownHosts: r.ssh.KnownHosts}
	return r
}

// each runs f once per transport and kind of credentials.
func (r *remotes) each(t *testing.T, f func(t *testing.T, url string, auth gitsync.Auth)) {
	t.Run("http-basic", func(t *testing.T) { f(t, r.http.RepoURL("policies"), r.basic) })
	t.Run("http-token", func(t *testing.T) { f(t, r.http.RepoURL("policies"), r.token) })
	t.Run("ssh", func(t *testing.T) { f(t, r.ssh.RepoURL("policies"), r.key) })
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCloneBranchTagCommit(t *testing.T) {
	ctx := context.Background()
	r := newRemotes(t)
	c1 := r.repo.Commit(t, "main", "first", map[string]string{"a.yaml": "1"})
	r.repo.Tag(t, "v1", c1)
	c2 := r.repo.Commit(t, "main", "second\n\nbody", map[string]string{"a.yaml": "2"})
	c3 := r.repo.Commit(t, "feature", "feature", map[string]string{"b.yaml": "b"})

	r.each(t, func(t *testing.T, url string, auth gitsync.Auth) {
		cl := gogit.NewCloner()
		for _, tc := range []struct {
			name               string
			opts               gitsync.CloneOptions
			wantName, wantHash string
			wantA              string
		}{
			{name: "default branch", opts: gitsync.CloneOptions{}, wantName: "main@sha1:" + c2, wantHash: c2, wantA: "2"},
			{name: "shallow branch", opts: gitsync.CloneOptions{Branch: "main", Shallow: true}, wantName: "main@sha1:" + c2, wantHash: c2, wantA: "2"},
			{name: "other branch", opts: gitsync.CloneOptions{Branch: "feature"}, wantName: "feature@sha1:" + c3, wantHash: c3, wantA: "2"},
			{name: "annotated tag", opts: gitsync.CloneOptions{Tag: "v1", Shallow: true}, wantName: "v1@sha1:" + c1, wantHash: c1, wantA: "1"},
			{name: "commit", opts: gitsync.CloneOptions{Commit: c1}, wantName: "HEAD@sha1:" + c1, wantHash: c1, wantA: "1"},
			{name: "shallow commit", opts: gitsync.CloneOptions{Commit: c1, Shallow: true}, wantName: "HEAD@sha1:" + c1, wantHash: c1, wantA: "1"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.opts.URL, tc.opts.Auth = url, auth
				dir := filepath.Join(t.TempDir(), "checkout")
				co, err := cl.Clone(ctx, dir, tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				if co.Unchanged || co.Revision.Name != tc.wantName || co.Revision.Commit != tc.wantHash || co.Dir != dir {
					t.Errorf("checkout = %+v, want %s", co, tc.wantName)
				}
				if co.Revision.Time.IsZero() || co.Revision.Subject == "" {
					t.Errorf("revision without time or subject: %+v", co.Revision)
				}
				if got := readFile(t, dir, "a.yaml"); got != tc.wantA {
					t.Errorf("a.yaml = %q, want %q", got, tc.wantA)
				}
			})
		}
		t.Run("missing branch", func(t *testing.T) {
			_, err := cl.Clone(ctx, t.TempDir(), gitsync.CloneOptions{URL: url, Auth: auth, Branch: "nope"})
			if !gitsync.IsNotFound(err) {
				t.Errorf("err = %v, want not found", err)
			}
		})
		t.Run("missing commit", func(t *testing.T) {
			_, err := cl.Clone(ctx, t.TempDir(), gitsync.CloneOptions{URL: url, Auth: auth, Commit: strings.Repeat("ab", 20), Shallow: true})
			if !gitsync.IsNotFound(err) {
				t.Errorf("err = %v, want not found", err)
			}
		})
	})
}

func TestCloneSkipsUnchangedAndFollowsForcePush(t *testing.T) {
	ctx := context.Background()
	r := newRemotes(t)
	r.repo.Commit(t, "main", "first", map[string]string{"a.yaml": "1"})
	old := r.repo.Commit(t, "main", "second", map[string]string{"a.yaml": "2"})

	r.each(t, func(t *testing.T, url string, auth gitsync.Auth) {
		cl := gogit.NewCloner()
		dir := t.TempDir()
		co, err := cl.Clone(ctx, dir, gitsync.CloneOptions{URL: url, Auth: auth, Shallow: true})
		if err != nil {
			t.Fatal(err)
		}
		before, sessions := r.http.Requests(), r.ssh.Sessions.Load()
		co2, err := cl.Clone(ctx, dir, gitsync.CloneOptions{URL: url, Auth: auth, Shallow: true})
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(url, "http") {
			// One ls-remote (GET info/refs), no upload-pack.
			if n := r.http.Requests() - before; n != 1 {
				t.Errorf("%d requests for an unchanged remote, want 1: %v", n, r.http.Paths()[before:])
			}
		} else if n := r.ssh.Sessions.Load() - sessions; n != 1 {
			t.Errorf("%d SSH sessions for an unchanged remote, want 1", n)
		}
		if !co2.Unchanged || co2.Revision.Commit != co.Revision.Commit || co2.Revision.Name != co.Revision.Name || co2.Replaced != "" {
			t.Errorf("second clone = %+v, want unchanged", co2)
		}
		if co2.Revision.Subject != "second" || co2.Revision.Time.IsZero() {
			t.Errorf("the reused revision lacks its subject or time: %+v", co2.Revision)
		}
		if got := readFile(t, dir, "a.yaml"); got != "2" {
			t.Errorf("a.yaml after the skip = %q", got)
		}
		if co.Revision.Commit != old && co.Revision.Commit != r.repo.Head(t, "main") {
			t.Errorf("cloned %s", co.Revision.Commit)
		}
	})

	// Rewrite main: the commit the checkouts hold is gone from the server.
	head := r.repo.ForcePush(t, "main", "rewritten", map[string]string{"a.yaml": "3"})
	r.each(t, func(t *testing.T, url string, auth gitsync.Auth) {
		cl := gogit.NewCloner()
		dir := t.TempDir()
		if _, err := cl.Clone(ctx, dir, gitsync.CloneOptions{URL: url, Auth: auth, Commit: old}); !gitsync.IsNotFound(err) {
			t.Errorf("clone of the dropped commit: %v, want not found", err)
		}
		// The failed clone left an initialised repository without HEAD: not reused.
		co, err := cl.Clone(ctx, dir, gitsync.CloneOptions{URL: url, Auth: auth, Shallow: true})
		if err != nil {
			t.Fatal(err)
		}
		if co.Unchanged || co.Revision.Commit != head || readFile(t, dir, "a.yaml") != "3" {
			t.Errorf("after the force-push: %+v, a.yaml = %q", co, readFile(t, dir, "a.yaml"))
		}
		if !strings.Contains(co.Replaced, "HEAD") {
			t.Errorf("replaced %q, want the reason to name HEAD", co.Replaced)
		}
	})
}

func TestCloneAuthFailures(t *testing.T) {
	ctx := context.Background()
	r := newRemotes(t)
	r.repo.Commit(t, "main", "first", map[string]string{"a.yaml": "1"})
	cl := gogit.NewCloner()
	otherServer := gitserver.ServeSSH(t, gitserver.NewRoot(t))

	for _, tc := range []struct {
		name    string
		url     string
		auth    gitsync.Auth
		secrets []string
	}{
		{name: "wrong password", url: r.http.RepoURL("policies"), auth: gitsync.Auth{Username: testUser, Password: "wrong-pa55word"}, secrets: []string{"wrong-pa55word"}},
		{name: "password in the URL", url: strings.Replace(r.http.RepoURL("policies"), "http://", "http://ballast:url-pa55word@", 1), secrets: []string{"url-pa55word"}},
		{name: "wrong token", url: r.http.RepoURL("policies"), auth: gitsync.Auth{BearerToken: "wrong-t0ken"}, secrets: []string{"wrong-t0ken"}},
		{name: "no credentials", url: r.http.RepoURL("policies")},
		{name: "unknown SSH key", url: r.ssh.RepoURL("policies"), auth: gitsync.Auth{SSHPrivateKey: otherServer.ClientKey, KnownHosts: r.ssh.KnownHosts}},
		{name: "wrong host key", url: r.ssh.RepoURL("policies"), auth: gitsync.Auth{SSHPrivateKey: r.ssh.ClientKey, KnownHosts: otherServer.KnownHosts}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cl.Clone(ctx, t.TempDir(), gitsync.CloneOptions{URL: tc.url, Auth: tc.auth})
			if err == nil {
				t.Fatal("clone succeeded")
			}
			if !gitsync.IsAuth(err) {
				t.Errorf("err = %v, want an AuthError", err)
			}
			for _, s := range tc.secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error shows a credential: %v", err)
				}
			}
			t.Log(err)
		})
	}

	t.Run("ssh without known_hosts", func(t *testing.T) {
		_, err := cl.Clone(ctx, t.TempDir(), gitsync.CloneOptions{URL: r.ssh.RepoURL("policies"), Auth: gitsync.Auth{SSHPrivateKey: r.ssh.ClientKey}})
		if err == nil || !strings.Contains(err.Error(), "known_hosts") {
			t.Errorf("err = %v, want a refusal for lack of known_hosts", err)
		}
		if r.ssh.Sessions.Load() != 0 {
			t.Errorf("the server ran %d commands", r.ssh.Sessions.Load())
		}
	})
}

// TestCloneRefusesLinksOutOfTheTree: a revision holding a symbolic link to a file of
// the machine or out of the repository is refused over every transport, and nothing
// of it stays on the disk; links inside the repository are kept.
func TestCloneRefusesLinksOutOfTheTree(t *testing.T) {
	ctx := context.Background()
	r := newRemotes(t)
	r.repo.Commit(t, "main", "first", map[string]string{"policies/a.yaml": "1", "shared/b.yaml": "2"})
	if err := os.Symlink("../shared/b.yaml", filepath.Join(r.repo.Work, "policies", "b.yaml")); err != nil {
		t.Fatal(err)
	}
	inside := r.repo.Commit(t, "main", "a link inside", nil)
	r.each(t, func(t *testing.T, url string, auth gitsync.Auth) {
		dir := t.TempDir()
		co, err := gogit.NewCloner().Clone(ctx, dir, gitsync.CloneOptions{URL: url, Auth: auth})
		if err != nil {
			t.Fatal(err)
		}
		if co.Revision.Commit != inside || readFile(t, dir, "policies/b.yaml") != "2" {
			t.Errorf("checkout %+v, b.yaml %q", co.Revision, readFile(t, dir, "policies/b.yaml"))
		}
	})

	for _, tc := range []struct{ link, target, why string }{
		{"policies/passwd.yaml", "/etc/passwd", "is absolute"},
		{"policies/deep/x.yaml", "../../x", ""}, // inside: policies/deep/../../x is x
		{"policies/out.yaml", "../../x", "leads out of the repository"},
	} {
		t.Run(tc.link, func(t *testing.T) {
			link := filepath.Join(r.repo.Work, filepath.FromSlash(tc.link))
			if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(tc.target, link); err != nil {
				t.Fatal(err)
			}
			commit := r.repo.Commit(t, "main", "link "+tc.link, nil)
			r.each(t, func(t *testing.T, url string, auth gitsync.Auth) {
				dir := t.TempDir()
				co, err := gogit.NewCloner().Clone(ctx, dir, gitsync.CloneOptions{URL: url, Auth: auth, Shallow: true})
				if tc.why == "" {
					if err != nil || co.Revision.Commit != commit {
						t.Fatalf("clone = %+v, %v; want %s", co, err, commit)
					}
					return
				}
				var le *gitsync.LinkError
				if !errors.As(err, &le) || le.Path != tc.link || le.Target != tc.target || le.Why != tc.why {
					t.Fatalf("err = %v, want a LinkError for %s that %s", err, tc.link, tc.why)
				}
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Errorf("the refused checkout left %d entries in its directory", len(entries))
				}
			})
			// The next case starts from a clean tree.
			if err := os.Remove(link); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSSHWritesNoFile clones over SSH with no writable temporary directory, as the
// controller runs (read-only root file system): known_hosts is read in memory.
func TestSSHWritesNoFile(t *testing.T) {
	r := newRemotes(t)
	head := r.repo.Commit(t, "main", "first", map[string]string{"a.yaml": "1"})
	dir := t.TempDir()
	t.Setenv("TMPDIR", filepath.Join(dir, "does-not-exist"))
	co, err := gogit.NewCloner().Clone(context.Background(), filepath.Join(dir, "checkout"),
		gitsync.CloneOptions{URL: r.ssh.RepoURL("policies"), Auth: r.key})
	if err != nil {
		t.Fatal(err)
	}
	if co.Revision.Commit != head {
		t.Errorf("cloned %s, want %s", co.Revision.Commit, head)
	}
}
