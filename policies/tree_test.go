package policies

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ballast-dev/ballast/policies/policytest"
)

func doc(name string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\n")}
}

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
}

func special(mode fs.FileMode) *fstest.MapFile {
	// A special file's content must never be read; this one would say so.
	return &fstest.MapFile{Data: []byte("read: [a special file"), Mode: mode | 0o644}
}

// guardFS is a MapFS that fails the test when Load opens anything but a regular file
// inside the tree at root or looks at a path outside it, and that can deny paths
// (permission denied) or swap a file for a FIFO between Load's checks and its reading.
type guardFS struct {
	fstest.MapFS
	t    *testing.T
	root string
	// link is the root as given to Load, which may lead to root.
	link    string
	denied  []string
	swapped []string
}

// inside reports whether name is in the tree, or a directory on the way to it.
func (g *guardFS) inside(name string) bool {
	return g.root == "." || name == "." || name == g.root || name == g.link || strings.HasPrefix(name, g.root+"/") || strings.HasPrefix(g.root, name+"/")
}

func (g *guardFS) check(op, name string) error {
	g.t.Helper()
	if !g.inside(name) {
		g.t.Errorf("Load called %s on %s, outside the tree %s", op, name, g.root)
	}
	if slices.Contains(g.denied, name) {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrPermission}
	}
	return nil
}

func (g *guardFS) Open(name string) (fs.File, error) {
	if err := g.check("open", name); err != nil {
		return nil, err
	}
	if fi, err := g.MapFS.Lstat(name); err == nil && !fi.Mode().IsRegular() {
		g.t.Errorf("Load opened %s, %s", name, kind(fi.Mode()))
	}
	f, err := g.MapFS.Open(name)
	if err == nil && slices.Contains(g.swapped, name) {
		return swappedFile{f}, nil
	}
	return f, err
}

func (g *guardFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := g.check("readdir", name); err != nil {
		return nil, err
	}
	return g.MapFS.ReadDir(name)
}

func (g *guardFS) Lstat(name string) (fs.FileInfo, error) {
	if err := g.check("lstat", name); err != nil {
		return nil, err
	}
	return g.MapFS.Lstat(name)
}

func (g *guardFS) Stat(name string) (fs.FileInfo, error) {
	if err := g.check("stat", name); err != nil {
		return nil, err
	}
	return g.MapFS.Stat(name)
}

// swappedFile is a regular file that became a FIFO after Load listed it.
type swappedFile struct{ fs.File }

func (f swappedFile) Stat() (fs.FileInfo, error) { return swappedInfo{}, nil }

type swappedInfo struct{ fs.FileInfo }

func (swappedInfo) Mode() fs.FileMode { return fs.ModeNamedPipe | 0o644 }

// chain adds a chain of n links: l1.yaml -> l2 -> ... -> ln -> target.
func chain(fsys fstest.MapFS, n int, target string) {
	for i := 1; i <= n; i++ {
		name, next := fmt.Sprintf("l%d", i), fmt.Sprintf("l%d", i+1)
		if i == 1 {
			name += ".yaml"
		}
		if i == n {
			next = target
		}
		fsys[name] = link(next)
	}
}

func TestLoadTree(t *testing.T) {
	long := fstest.MapFS{"target.txt": doc("target")}
	chain(long, maxLinks, "target.txt")
	tooLong := fstest.MapFS{"target.txt": doc("target")}
	chain(tooLong, maxLinks+1, "target.txt")
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		root string
		// tree is where the root leads, when it is a link or a file.
		tree    string
		denied  []string
		swapped []string
		// read are the files whose documents were loaded.
		read []string
		// unreadable maps each path that must be one unreadable-file finding to a part
		// of its message.
		unreadable map[string]string
	}{
		{name: "regular files; hidden and other names are never looked at",
			fsys: fstest.MapFS{"a.yaml": doc("a"), "sub/b.yml": doc("b"), ".hidden.yaml": special(fs.ModeNamedPipe),
				".git/x.yaml": doc("x"), "notes.txt": special(fs.ModeNamedPipe), "README.md": link("/etc/passwd"), "dev": special(fs.ModeDevice)},
			read: []string{"a.yaml", "sub/b.yml"}},
		{name: "links inside the tree are read under their own name",
			fsys: fstest.MapFS{"sub/real.txt": doc("real"), "a.yaml": link("sub/real.txt"), "b.yaml": link("c.yaml"),
				"c.yaml": link("./sub/../sub/real.txt"), "d.yaml": link("dirlink/real.txt"), "dirlink": link("sub"),
				"sub/up.yaml": link("../a.yaml"), "e.yaml": link("sub/")},
			read:       []string{"a.yaml", "b.yaml", "c.yaml", "d.yaml", "sub/up.yaml"},
			unreadable: map[string]string{"e.yaml": "leads to a directory"}},
		{name: "links to directories are not walked",
			fsys: fstest.MapFS{"sub/x.yaml": doc("x"), "again": link("sub"), "sub/self": link("."), "sub/parent": link("..")},
			read: []string{"sub/x.yaml"}},
		{name: "40 links are followed", fsys: long, read: []string{"l1.yaml"}},
		{name: "41 are a loop", fsys: tooLong, unreadable: map[string]string{"l1.yaml": "loops"}},
		{name: "loops",
			fsys: fstest.MapFS{"a.yaml": link("a.yaml"), "b.yaml": link("c.yaml"), "c.yaml": link("b.yaml"),
				"d.yaml": link("e/x.yaml"), "e": link("e"), "ok.yaml": doc("ok")},
			read: []string{"ok.yaml"},
			unreadable: map[string]string{"a.yaml": "the symbolic link loops: more than 40 links to follow",
				"b.yaml": "loops", "c.yaml": "loops", "d.yaml": "loops"}},
		{name: "dangling",
			fsys: fstest.MapFS{"a.yaml": link("nope.yaml"), "b.yaml": link(""), "c.yaml": link("file.txt/x.yaml"),
				"file.txt": doc("f"), "d.yaml": link("missing/../a.yaml")},
			unreadable: map[string]string{"a.yaml": "the symbolic link leads nowhere: its target does not exist",
				"b.yaml": "leads nowhere", "c.yaml": "leads nowhere", "d.yaml": "leads nowhere"}},
		{name: "absolute links",
			fsys:       fstest.MapFS{"tree/a.yaml": link("/etc/passwd"), "tree/b.yaml": link("/tree/ok.yaml"), "tree/ok.yaml": doc("ok")},
			root:       "tree",
			read:       []string{"tree/ok.yaml"},
			unreadable: map[string]string{"tree/a.yaml": "the symbolic link is absolute", "tree/b.yaml": "absolute"}},
		{name: "links out of the tree, even to come back",
			fsys: fstest.MapFS{"secret.yaml": doc("secret"), "tree/a.yaml": link("../secret.yaml"), "tree/b.yaml": link("../tree/ok.yaml"),
				"tree/sub/c.yaml": link("../../secret.yaml"), "tree/d.yaml": link("sub/../../secret.yaml"), "tree/ok.yaml": doc("ok"),
				"tree/e.yaml": link("up/secret.yaml"), "tree/up": link("..")},
			root: "tree",
			read: []string{"tree/ok.yaml"},
			unreadable: map[string]string{"tree/a.yaml": "the symbolic link leads out of the policy tree",
				"tree/b.yaml": "leads out", "tree/sub/c.yaml": "leads out", "tree/d.yaml": "leads out", "tree/e.yaml": "leads out"}},
		{name: "special files are never opened",
			fsys: fstest.MapFS{"fifo.yaml": special(fs.ModeNamedPipe), "sock.yaml": special(fs.ModeSocket), "disk.yaml": special(fs.ModeDevice),
				"tty.yml": special(fs.ModeDevice | fs.ModeCharDevice), "odd.yaml": special(fs.ModeIrregular),
				"to-fifo.yaml": link("pipe"), "pipe": special(fs.ModeNamedPipe), "ok.yaml": doc("ok")},
			read: []string{"ok.yaml"},
			unreadable: map[string]string{"fifo.yaml": "the file is a named pipe (FIFO), not a regular file", "sock.yaml": "a socket",
				"disk.yaml": "a device", "tty.yml": "a device", "odd.yaml": "a special file",
				"to-fifo.yaml": "the symbolic link leads to a named pipe (FIFO)"}},
		{name: "names that are not UTF-8",
			fsys: fstest.MapFS{"bad\xff.yaml": doc("bad"), "dir\xfe/x.yaml": doc("x"), "other\xfd.txt": doc("y"), "ok.yaml": doc("ok")},
			read: []string{"ok.yaml"},
			unreadable: map[string]string{`bad\xff.yaml`: "the name is not valid UTF-8",
				`dir\xfe`: "the name is not valid UTF-8"}},
		{name: "permission denied",
			fsys:   fstest.MapFS{"locked/x.yaml": doc("x"), "secret.yaml": doc("s"), "ok.yaml": doc("ok"), "sub/ok.yaml": doc("ok2")},
			denied: []string{"locked", "secret.yaml"},
			read:   []string{"ok.yaml", "sub/ok.yaml"},
			unreadable: map[string]string{"locked": "the directory cannot be read: permission denied",
				"secret.yaml": "the file cannot be read: permission denied"}},
		{name: "a file that changes while it is read",
			fsys:       fstest.MapFS{"a.yaml": doc("a"), "b.yaml": doc("b")},
			swapped:    []string{"a.yaml"},
			read:       []string{"b.yaml"},
			unreadable: map[string]string{"a.yaml": "the file changed while it was read: it is a named pipe (FIFO) now"}},
		{name: "the root may be a link inside the file system",
			fsys: fstest.MapFS{"current": link("releases/v2"), "releases/v2/a.yaml": doc("a"),
				"releases/v2/old.yaml": link("../v1/a.yaml"), "releases/v1/a.yaml": doc("old")},
			root:       "current",
			tree:       "releases/v2",
			read:       []string{"current/a.yaml"},
			unreadable: map[string]string{"current/old.yaml": "leads out of the policy tree"}},
		{name: "a single file", fsys: fstest.MapFS{"p/a.yaml": doc("a")}, root: "p/a.yaml", tree: "p", read: []string{"p/a.yaml"}},
		{name: "a single FIFO", fsys: fstest.MapFS{"p/a.yaml": special(fs.ModeNamedPipe)}, root: "p/a.yaml", tree: "p",
			unreadable: map[string]string{"p/a.yaml": "named pipe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tc.root
			if root == "" {
				root = "."
			}
			g := &guardFS{MapFS: tc.fsys, t: t, root: cmp.Or(tc.tree, root), link: root, denied: tc.denied, swapped: tc.swapped}
			display := root
			if strings.HasSuffix(root, ".yaml") {
				display = path.Dir(root)
			}
			repo, err := Load(g, root, display)
			if err != nil {
				t.Fatal(err)
			}
			var read []string
			for _, d := range repo.Ignored {
				read = append(read, d.File)
			}
			slices.Sort(read)
			if tc.read == nil {
				tc.read = []string{}
			}
			if read == nil {
				read = []string{}
			}
			if !slices.Equal(read, tc.read) {
				t.Errorf("read %q, want %q", read, tc.read)
			}
			got := map[string]int{}
			for _, f := range repo.Validate() {
				if f.Rule != RuleUnreadableFile {
					if f.Severity != SeverityInfo {
						t.Errorf("unexpected finding: %s", f)
					}
					continue
				}
				got[f.File]++
				want, ok := tc.unreadable[f.File]
				switch {
				case !ok:
					t.Errorf("unexpected finding: %s", f)
				case !strings.Contains(f.Message, want):
					t.Errorf("%s: message %q, want it to contain %q", f.File, f.Message, want)
				case f.Line != 0 || f.Severity != SeverityError:
					t.Errorf("want an error about the whole file: %s", f)
				}
			}
			for p := range tc.unreadable {
				if got[p] != 1 {
					t.Errorf("%s: %d unreadable-file findings, want 1", p, got[p])
				}
			}
		})
	}
}

func TestLoadTreeErrors(t *testing.T) {
	fsys := fstest.MapFS{"tree/a.yaml": doc("a"), "out": link("../x"), "abs": link("/etc"), "file": doc("f")}
	for _, root := range []string{"../x", "/etc", "missing", "out", "abs", "tree/"} {
		if _, err := Load(fsys, root, root); err == nil {
			t.Errorf("Load(%q) succeeded", root)
		}
	}
	if _, err := Load(fsys, "missing", "missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want not exist", err)
	}
	if _, err := Load(fsys, "file/x", "file/x"); err == nil || !strings.Contains(err.Error(), "file is not a directory") {
		t.Errorf("Load(file/x) = %v, want not a directory", err)
	}
	denied := &guardFS{MapFS: fsys, t: t, root: ".", denied: []string{"tree"}}
	if _, err := Load(denied, "tree", "tree"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Load(an unreadable root) = %v, want permission denied", err)
	}
}

func TestReadFile(t *testing.T) {
	fsys := fstest.MapFS{"repo/a.yaml": doc("a"), "repo/link.yaml": link("sub/../a.yaml"), "repo/sub/x": doc("x"),
		"repo/out.yaml": link("../secret"), "secret": doc("secret"), "repo/fifo": special(fs.ModeNamedPipe), "repo/dir": link("sub")}
	for name, want := range map[string]string{"a.yaml": "name: a", "link.yaml": "name: a", "sub/x": "name: x"} {
		data, err := ReadFile(fsys, "repo", name)
		if err != nil || !strings.Contains(string(data), want) {
			t.Errorf("ReadFile(%s) = %q, %v", name, data, err)
		}
	}
	for name, want := range map[string]string{"out.yaml": "leads out", "fifo": "named pipe", "dir": "directory",
		"missing": "does not exist", "../secret": "invalid argument", "sub": "directory"} {
		if _, err := ReadFile(fsys, "repo", name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadFile(%s) = %v, want an error saying %q", name, err, want)
		}
	}
}

// TestLoadUnsafeTree checks the tree the disk and Git tests use, as a MapFS.
func TestLoadUnsafeTree(t *testing.T) {
	fsys := fstest.MapFS{}
	// Write it through the file system once, to learn its shape, then mirror it.
	dir := t.TempDir()
	ut, err := policytest.WriteUnsafeTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := mirror(dir, fsys); err != nil {
		t.Fatal(err)
	}
	repo, err := Load(fsys, ut.Root, ut.Root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ut.Check(ut.Root, checkable(repo.ValidateWith(Options{Today: time.Now()}))) {
		t.Error(p)
	}
}

// checkable converts findings for policytest.UnsafeTree.Check.
func checkable(findings Findings) []policytest.Finding {
	out := make([]policytest.Finding, 0, len(findings))
	for _, f := range findings {
		out = append(out, policytest.Finding{File: f.File, Rule: f.Rule, Severity: string(f.Severity), Text: f.String()})
	}
	return out
}

// mirror copies the files and links under dir into fsys.
func mirror(dir string, fsys fstest.MapFS) error {
	return filepathWalk(dir, func(rel string, mode fs.FileMode, data []byte) {
		fsys[rel] = &fstest.MapFile{Data: data, Mode: mode}
	})
}

// filepathWalk calls fn for every file and link under dir, with its slash-separated
// path, type and content (a link's target).
func filepathWalk(dir string, fn func(rel string, mode fs.FileMode, data []byte)) error {
	return fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		full := dir + "/" + p
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(full)
			if err != nil {
				return err
			}
			fn(p, fs.ModeSymlink|0o777, []byte(target))
			return nil
		}
		data, err := os.ReadFile(full)
		if err != nil {
			return err
		}
		fn(p, 0o644, data)
		return nil
	})
}

// FuzzTreeLinks checks that no link targets make Load look outside the tree, open
// anything but a regular file, loop or panic. The seeds run in plain go test.
func FuzzTreeLinks(f *testing.F) {
	for _, seed := range [][4]string{
		{"real.yaml", "sub", "../real.yaml", "f.txt"},
		{"b/c.yml", "sub", "../b/d/../../a.yaml", "../../outside.yaml"},
		{"sub/d", "b", "d/./../c.yml", "."},
		{"fifo", "/tree", "..//..", "c.yml/"},
		{"b/d/f.txt", "./sub/", "../../tree/real.yaml", "../fifo"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		fsys := fstest.MapFS{
			"outside.yaml": doc("outside"), "tree/real.yaml": doc("real"), "tree/sub/f.txt": doc("f"),
			"tree/fifo": special(fs.ModeNamedPipe), "tree/a.yaml": link(a), "tree/b": link(b),
			"tree/sub/c.yml": link(c), "tree/sub/d": link(d),
		}
		repo, err := Load(&guardFS{MapFS: fsys, t: t, root: "tree"}, "tree", "tree")
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range repo.Ignored {
			if doc.Name == "outside" {
				t.Errorf("%s read the file outside the tree", doc.File)
			}
		}
		for _, finding := range repo.Findings {
			if finding.Rule == RuleUnreadableFile && finding.File != "tree/a.yaml" && finding.File != "tree/sub/c.yml" {
				t.Errorf("unexpected finding: %s", finding)
			}
		}
	})
}
