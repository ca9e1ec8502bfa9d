package gogit_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ballast-dev/ballast/test/gitserver"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gogit"
)

func TestResolve(t *testing.T) {
	ctx := context.Background()
	r := gitserver.NewWorkTree(t)
	c1 := r.Commit("first\n\nbody", map[string]string{"a.yaml": "1"})
	r.Git("tag", "-a", "v1", "-m", "release 1")
	c2 := r.Commit("second", map[string]string{"a.yaml": "2"})
	c3 := r.Commit("third", map[string]string{"b.yaml": "3"})
	r.Git("update-ref", "refs/remotes/origin/main", c2)

	sub := filepath.Join(r.Dir, "deep", "er")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	g, err := gogit.Open(sub)
	if err != nil {
		t.Fatal(err)
	}
	if real, _ := filepath.EvalSymlinks(r.Dir); g.Root() != r.Dir && g.Root() != real {
		t.Errorf("Root = %s, want %s", g.Root(), r.Dir)
	}
	for rev, want := range map[string]string{
		"HEAD": c3, "main": c3, "HEAD~1": c2, "HEAD~2": c1, "main^": c2, "v1": c1,
		"origin/main": c2, c1[:8]: c1, c3: c3, "refs/heads/main": c3,
	} {
		got, err := g.Resolve(ctx, rev)
		if err != nil || got.Commit != want || got.Name != rev {
			t.Errorf("Resolve(%s) = %+v, %v; want %s", rev, got, err, want)
		}
	}
	first, _ := g.Resolve(ctx, "v1")
	if first.Subject != "first" || !first.Time.Equal(time.Date(2026, 11, 1, 12, 1, 0, 0, time.UTC)) || first.String() != "v1 ("+c1[:7]+")" {
		t.Errorf("v1 = %+v (%s)", first, first)
	}
	for _, rev := range []string{"nope", "HEAD~5", "v2", strings.Repeat("f", 40)} {
		if _, err := g.Resolve(ctx, rev); !gitsync.IsNotFound(err) {
			t.Errorf("Resolve(%s) = %v, want a NotFoundError", rev, err)
		}
	}
	if _, err := g.Resolve(ctx, ""); err == nil || gitsync.IsNotFound(err) {
		t.Errorf("Resolve(\"\") = %v", err)
	}
	if _, err := gogit.Open(t.TempDir()); !gitsync.IsNotFound(err) {
		t.Errorf("Open(not a repository) = %v, want a NotFoundError", err)
	}
}

func TestFiles(t *testing.T) {
	ctx := context.Background()
	r := gitserver.NewWorkTree(t)
	old := r.Commit("old", map[string]string{"policies/clusters/prod.yaml": "old", "README.md": "x"})
	r.Commit("new", map[string]string{
		"policies/clusters/prod.yaml": "new",
		"policies/rules/a.yaml":       "rule a",
		"policies/rules/b.yml":        "rule b",
		"scripts/run.sh":              "#!/bin/sh\n",
	})
	if err := os.Chmod(filepath.Join(r.Dir, "scripts/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	head := r.Commit("exec", nil)

	g, err := gogit.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := g.Files(ctx, head)
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(fsys, "README.md", "policies/clusters/prod.yaml", "policies/rules/a.yaml", "policies/rules/b.yml", "scripts/run.sh"); err != nil {
		t.Fatal(err)
	}
	if fi, err := fs.Stat(fsys, "scripts/run.sh"); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("run.sh mode = %v, %v", fi, err)
	}
	oldFS, err := g.Files(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := fs.ReadFile(oldFS, "policies/clusters/prod.yaml"); err != nil || string(data) != "old" {
		t.Errorf("old prod.yaml = %q, %v", data, err)
	}
	if _, err := fs.Stat(oldFS, "policies/rules"); !os.IsNotExist(err) {
		t.Errorf("policies/rules at the old commit: %v, want not exist", err)
	}
	sub, err := fs.Sub(fsys, "policies")
	if err != nil {
		t.Fatal(err)
	}
	var walked []string
	if err := fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		walked = append(walked, fmt.Sprintf("%s:%v", p, d.IsDir()))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(walked, " "); got != ".:true clusters:true clusters/prod.yaml:false rules:true rules/a.yaml:false rules/b.yml:false" {
		t.Errorf("walk = %s", got)
	}
	for _, bad := range []string{"x", "f00"} {
		if _, err := g.Files(ctx, bad); err == nil {
			t.Errorf("Files(%q) succeeded", bad)
		}
	}
	if _, err := g.Files(ctx, strings.Repeat("0", 40)); !gitsync.IsNotFound(err) {
		t.Errorf("Files(unknown) = %v, want a NotFoundError", err)
	}
}

func TestFilesSymlinks(t *testing.T) {
	ctx := context.Background()
	r := gitserver.NewWorkTree(t)
	r.Write(map[string]string{"shared/base.yaml": "base", "env/prod/own.yaml": "own"})
	for link, target := range map[string]string{
		"env/prod/base.yaml": "../../shared/base.yaml",
		"env/shared":         "../shared",
		"env/loop":           "loop",
		"env/escape.yaml":    "../../etc/passwd",
		"env/abs.yaml":       "/etc/passwd",
	} {
		if err := os.Symlink(target, filepath.Join(r.Dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	head := r.Commit("links", nil)
	g, err := gogit.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := g.Files(ctx, head)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"env/prod/base.yaml": "base", "env/shared/base.yaml": "base"} {
		if data, err := fs.ReadFile(fsys, name); err != nil || string(data) != want {
			t.Errorf("ReadFile(%s) = %q, %v", name, data, err)
		}
	}
	for _, name := range []string{"env/loop", "env/escape.yaml", "env/abs.yaml"} {
		if _, err := fs.ReadFile(fsys, name); err == nil {
			t.Errorf("ReadFile(%s) succeeded", name)
		}
	}
	entries, err := fs.ReadDir(fsys, "env")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "shared" && e.Type() != fs.ModeSymlink {
			t.Errorf("env/shared listed as %v, want a symbolic link", e.Type())
		}
	}
}

func TestMergeBase(t *testing.T) {
	ctx := context.Background()
	r := gitserver.NewWorkTree(t)
	base := r.Commit("base", map[string]string{"a": "1"})
	r.Git("checkout", "-q", "-b", "feature")
	feature := r.Commit("feature", map[string]string{"a": "2"})
	r.Git("checkout", "-q", "main")
	main := r.Commit("main moves on", map[string]string{"b": "1"})

	g, err := gogit.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range [][3]string{{main, feature, base}, {feature, main, base}, {base, feature, base}, {feature, feature, feature}} {
		got, err := g.MergeBase(ctx, tc[0], tc[1])
		if err != nil || got.Commit != tc[2] {
			t.Errorf("MergeBase(%s, %s) = %s, %v; want %s", tc[0][:7], tc[1][:7], got.Commit, err, tc[2][:7])
		}
	}

	// An orphan branch shares no history.
	r.Git("checkout", "-q", "--orphan", "other")
	orphan := r.Commit("orphan", map[string]string{"c": "1"})
	if _, err := g.MergeBase(ctx, orphan, main); !gitsync.IsNotFound(err) {
		t.Errorf("MergeBase(unrelated) = %v, want a NotFoundError", err)
	}

	// A shallow clone stops before the merge base.
	clone := filepath.Join(t.TempDir(), "clone")
	r.Git("clone", "-q", "--depth", "1", "--no-single-branch", "file://"+r.Dir, clone)
	c, err := gogit.Open(clone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.MergeBase(ctx, main, feature); !gitsync.IsNotFound(err) {
		t.Errorf("MergeBase in a shallow clone = %v, want a NotFoundError", err)
	}
	if _, err := c.Resolve(ctx, "origin/feature~1"); !gitsync.IsNotFound(err) {
		t.Errorf("Resolve(origin/feature~1) in a shallow clone = %v, want a NotFoundError", err)
	}
}
