//go:build unix

package policies

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/policies/policytest"
)

// WriteSpecialFiles adds to the tree at root what Git cannot hold: FIFOs (one behind a
// link), a socket, and, unless the test runs as root (which reads anything), a file and
// a directory without permissions. It returns the paths that must each be one
// unreadable-file finding. A FIFO opened for reading blocks until a writer comes, so a
// loader that opened one would hang the test.
func writeSpecialFiles(t *testing.T, root string) []string {
	t.Helper()
	bad := []string{"fifo.yaml", "rules/pipe.yml", "to-fifo.yaml"}
	for _, p := range []string{"fifo.yaml", "rules/pipe.yml", "pipe", "notes.txt"} {
		if err := syscall.Mkfifo(filepath.Join(root, p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("pipe", filepath.Join(root, "to-fifo.yaml")); err != nil {
		t.Fatal(err)
	}
	// Unix socket paths are short (108 bytes); listen from the directory.
	t.Chdir(root)
	if l, err := net.Listen("unix", "sock.yaml"); err == nil {
		t.Cleanup(func() { _ = l.Close() })
		bad = append(bad, "sock.yaml")
	} else {
		t.Logf("no socket: %v", err)
	}
	if os.Geteuid() != 0 {
		if err := os.WriteFile(filepath.Join(root, "locked.yaml"), []byte("x: 1\n"), 0o000); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(root, "locked"), 0o000); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(filepath.Join(root, "locked"), 0o755) })
		bad = append(bad, "locked.yaml", "locked")
	} else {
		t.Log("running as root: permission denied is covered by TestLoadTree only")
	}
	return bad
}

// TestLoadUnsafeTreeOnDisk reads a hostile tree from the disk through os.DirFS and
// os.Root, as the tree's root and as a directory of a larger tree: one finding per bad
// path, the rest validated, nothing outside read, no hang.
func TestLoadUnsafeTreeOnDisk(t *testing.T) {
	dir := t.TempDir()
	ut, err := policytest.WriteUnsafeTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, ut.Root)
	extra := writeSpecialFiles(t, root)
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	var first Findings
	for _, tc := range []struct {
		name       string
		fsys       fs.FS
		root, base string
	}{
		{"os.DirFS", os.DirFS(root), ".", ut.Root},
		{"os.Root", r.FS(), ".", ut.Root},
		{"os.DirFS of the parent", os.DirFS(dir), ut.Root, ut.Root},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo, err := Load(tc.fsys, tc.root, tc.base)
			if err != nil {
				t.Fatal(err)
			}
			if len(repo.ClusterPolicies) != 1 || len(repo.Rules) != 2 {
				t.Errorf("loaded %d cluster policies and %d rules, want 1 and 2 (web and, through a link, api)", len(repo.ClusterPolicies), len(repo.Rules))
			}
			findings := repo.ValidateWith(Options{Today: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)})
			for _, p := range ut.Check(tc.base, checkable(findings), extra...) {
				t.Error(p)
			}
			if first == nil {
				first = findings
			} else if got, want := findings, first; len(got) != len(want) {
				t.Errorf("%d findings, but %d from os.DirFS", len(got), len(want))
			} else {
				for i := range got {
					if got[i] != want[i] {
						t.Errorf("finding %d = %s, but %s from os.DirFS", i, got[i], want[i])
					}
				}
			}
		})
	}
}
