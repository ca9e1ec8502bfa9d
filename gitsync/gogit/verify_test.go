package gogit_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gogit"
)

// TestCloneReusesOnlyAVerifiedCheckout: Clone skips the fetch only when the directory
// holds a complete checkout of the remote's commit. Anything else (another commit, a
// clone killed half-way, a damaged repository, a work tree that differs from the
// commit) is discarded and cloned again, with the reason reported, and the fresh
// checkout is then reused.
func TestCloneReusesOnlyAVerifiedCheckout(t *testing.T) {
	ctx := context.Background()
	r := newRemotes(t)
	c1 := r.repo.Commit(t, "main", "first", map[string]string{"policies/a.yaml": "1", "policies/b.yaml": "b", "README.md": "r"})
	c2 := r.repo.Commit(t, "main", "second", map[string]string{"policies/a.yaml": "2"})
	opts := gitsync.CloneOptions{URL: r.http.RepoURL("policies"), Auth: r.basic, Shallow: true}
	cl := gogit.NewCloner()

	clone := func(t *testing.T, dir string, o gitsync.CloneOptions) *gitsync.Checkout {
		t.Helper()
		co, err := cl.Clone(ctx, dir, o)
		if err != nil {
			t.Fatal(err)
		}
		return co
	}
	for _, tc := range []struct {
		name string
		// damage changes a checkout of c2 in dir.
		damage func(t *testing.T, dir string)
		// reason is part of what Checkout.Replaced must say; "" for any reason.
		reason string
	}{
		{name: "another commit", reason: "holds commit " + c1[:7], damage: func(t *testing.T, dir string) {
			o := opts
			o.Commit = c1
			clone(t, dir, o)
		}},
		{name: "objects missing", reason: "HEAD does not resolve", damage: func(t *testing.T, dir string) {
			remove(t, filepath.Join(dir, ".git", "objects"))
		}},
		{name: "packfile cut short", damage: func(t *testing.T, dir string) {
			packs, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.pack"))
			if len(packs) == 0 {
				t.Fatal("no packfile")
			}
			for _, p := range packs {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(p, fi.Size()-30); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "HEAD missing", damage: func(t *testing.T, dir string) {
			remove(t, filepath.Join(dir, ".git", "HEAD"))
		}},
		{name: "index.lock left behind", reason: ".git/index.lock is left from an interrupted write", damage: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, ".git", "index.lock"), "")
		}},
		{name: "temporary pack left behind", reason: ".git/objects/pack/tmp_pack_1", damage: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, ".git", "objects", "pack", "tmp_pack_1"), "PACK")
		}},
		{name: "file changed", reason: "policies/a.yaml differs", damage: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "policies", "a.yaml"), "1")
		}},
		{name: "file missing", reason: "lacks policies/b.yaml", damage: func(t *testing.T, dir string) {
			remove(t, filepath.Join(dir, "policies", "b.yaml"))
		}},
		{name: "file added", reason: "policies/extra.yaml", damage: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "policies", "extra.yaml"), "x")
		}},
		{name: "directory added", reason: "policies/more", damage: func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "policies", "more"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "file replaced by a link", reason: "policies/a.yaml is not a regular file", damage: func(t *testing.T, dir string) {
			remove(t, filepath.Join(dir, "policies", "a.yaml"))
			if err := os.Symlink("b.yaml", filepath.Join(dir, "policies", "a.yaml")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: ".git pointing elsewhere", reason: ".git is not a directory", damage: func(t *testing.T, dir string) {
			elsewhere := filepath.Join(t.TempDir(), "git")
			if err := os.Rename(filepath.Join(dir, ".git"), elsewhere); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, ".git"), "gitdir: "+elsewhere+"\n")
		}},
		{name: "work tree without .git", reason: "no .git directory", damage: func(t *testing.T, dir string) {
			remove(t, filepath.Join(dir, ".git"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "checkout")
			if tc.name != "another commit" {
				if co := clone(t, dir, opts); co.Revision.Commit != c2 {
					t.Fatalf("cloned %s, want %s", co.Revision.Commit, c2)
				}
			}
			tc.damage(t, dir)

			co := clone(t, dir, opts)
			t.Logf("replaced: %s", co.Replaced)
			if co.Unchanged || co.Revision.Commit != c2 || co.Replaced == "" || !strings.Contains(co.Replaced, tc.reason) {
				t.Errorf("clone after the damage: unchanged %t, commit %s, replaced %q; want %s cloned again, replaced for %q",
					co.Unchanged, co.Revision.Commit, co.Replaced, c2, tc.reason)
			}
			for name, want := range map[string]string{"policies/a.yaml": "2", "policies/b.yaml": "b", "README.md": "r"} {
				if got := readFile(t, dir, name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if _, err := os.Lstat(filepath.Join(dir, "policies", "extra.yaml")); err == nil {
				t.Error("a file the commit does not have survived")
			}

			// The fresh checkout is sound: reused as it is.
			if co := clone(t, dir, opts); !co.Unchanged || co.Replaced != "" || co.Revision.Commit != c2 {
				t.Errorf("clone of the fresh checkout: %+v, want it reused", co)
			}
		})
	}

	t.Run("nothing to replace", func(t *testing.T) {
		for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), t.TempDir()} {
			if co := clone(t, dir, opts); co.Unchanged || co.Replaced != "" || co.Revision.Commit != c2 {
				t.Errorf("clone into %s: %+v", dir, co)
			}
		}
	})
}

func remove(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); err != nil {
		t.Fatalf("nothing to remove: %v", err)
	}
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
