package gogit_test

import (
	"context"
	"io/fs"
	"os"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/ballast-dev/ballast/test/gitserver"

	"github.com/ballast-dev/ballast/gitsync/gogit"
	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/policies/policytest"
)

// TestFilesReadLink checks the fs.ReadLinkFS side of a commit's tree: links described,
// not followed, and consistent with Open and ReadDir (fstest.TestFS).
func TestFilesReadLink(t *testing.T) {
	r := gitserver.NewWorkTree(t)
	r.Write(map[string]string{"shared/base.yaml": "base"})
	for link, target := range map[string]string{"env/base.yaml": "../shared/base.yaml", "env/shared": "../shared"} {
		if err := os.MkdirAll(r.Dir+"/env", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, r.Dir+"/"+link); err != nil {
			t.Fatal(err)
		}
	}
	head := r.Commit("links", nil)
	g, err := gogit.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := g.Files(context.Background(), head)
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(fsys, "shared/base.yaml", "env/base.yaml"); err != nil {
		t.Fatal(err)
	}
	if target, err := fs.ReadLink(fsys, "env/base.yaml"); err != nil || target != "../shared/base.yaml" {
		t.Errorf("ReadLink(env/base.yaml) = %q, %v", target, err)
	}
	if fi, err := fs.Lstat(fsys, "env/shared"); err != nil || fi.Mode().Type() != fs.ModeSymlink || fi.Size() != int64(len("../shared")) {
		t.Errorf("Lstat(env/shared) = %v, %v; want a link", fi, err)
	}
	if fi, err := fs.Lstat(fsys, "env/shared/base.yaml"); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("Lstat(env/shared/base.yaml) = %v, %v; want the file (links before the last element are followed)", fi, err)
	}
	if _, err := fs.ReadLink(fsys, "shared/base.yaml"); err == nil {
		t.Error("ReadLink of a file succeeded")
	}
	if _, err := fs.Lstat(fsys, "env/missing"); !os.IsNotExist(err) {
		t.Errorf("Lstat(env/missing) = %v, want not exist", err)
	}
}

// TestFilesUnsafeTree checks that a policy tree read from a commit yields the same
// findings as the same tree read from the disk: one per link that dangles, loops, leads
// to a directory or out of the tree (even when the target is in the repository), and
// per name that is not UTF-8, and the rest validated.
func TestFilesUnsafeTree(t *testing.T) {
	r := gitserver.NewWorkTree(t)
	ut, err := policytest.WriteUnsafeTree(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	head := r.Commit("unsafe", nil)
	g, err := gogit.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := g.Files(context.Background(), head)
	if err != nil {
		t.Fatal(err)
	}
	var results []policies.Findings
	for name, fsys := range map[string]fs.FS{"commit": fsys, "disk": os.DirFS(r.Dir)} {
		repo, err := policies.Load(fsys, ut.Root, ut.Root)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		findings := repo.Validate()
		var checked []policytest.Finding
		for _, f := range findings {
			checked = append(checked, policytest.Finding{File: f.File, Rule: f.Rule, Severity: string(f.Severity), Text: f.String()})
		}
		for _, p := range ut.Check(ut.Root, checked) {
			t.Errorf("%s: %s", name, p)
		}
		results = append(results, findings)
	}
	if !slices.Equal(results[0], results[1]) {
		t.Errorf("the commit and the disk differ:\n%v\n%v", results[0], results[1])
	}
}
