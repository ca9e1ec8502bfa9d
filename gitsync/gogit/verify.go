package gogit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// brokenCheckout says why a directory does not hold a complete checkout of a commit:
// a write was cut short (a process killed mid-clone), an object is missing or
// damaged, or the work tree is not the commit's tree.
type brokenCheckout struct{ why string }

func (e *brokenCheckout) Error() string { return e.why }

func broken(format string, args ...any) error {
	return &brokenCheckout{why: fmt.Sprintf(format, args...)}
}

// otherCommit says a directory holds a complete checkout, of another commit.
type otherCommit struct{ at, want string }

func (e *otherCommit) Error() string {
	return fmt.Sprintf("it holds commit %s, not %s", short(e.at), short(e.want))
}

// verifyCheckout checks that dir holds a complete checkout of commit want, and returns
// that commit. Nothing is assumed from how dir was left: its .git directory must be
// its own (not a file or a link pointing elsewhere) with no lock or temporary file of
// an interrupted write, HEAD must resolve to want, every object of want's tree must be
// readable and true to its hash, and the work tree must hold exactly the tree's files
// and links, byte for byte. It returns an *otherCommit when dir is a sound checkout of
// another commit, and a *brokenCheckout when it is not a sound checkout at all.
func verifyCheckout(dir, want string) (*object.Commit, error) {
	dotGit := filepath.Join(dir, ".git")
	fi, err := os.Lstat(dotGit)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, broken("it has no .git directory")
	case err != nil:
		return nil, broken("its .git directory cannot be read: %v", err)
	case !fi.IsDir():
		return nil, broken(".git is not a directory of its own")
	}
	if err := interrupted(dotGit); err != nil {
		return nil, err
	}
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{})
	if err != nil {
		return nil, broken("the repository cannot be opened: %v", err)
	}
	commit, err := headCommit(repo)
	if err != nil {
		return nil, broken("HEAD does not resolve to a commit: %v", err)
	}
	if at := commit.Hash.String(); at != want {
		return nil, &otherCommit{at: at, want: want}
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, broken("the tree of commit %s cannot be read: %v", short(want), err)
	}
	expected := map[string]treeEntry{}
	if err := collect(repo, tree, "", expected); err != nil {
		return nil, err
	}
	if err := compareWorkTree(dir, expected); err != nil {
		return nil, err
	}
	return commit, nil
}

// interrupted reports a lock file (git's *.lock) or a temporary file (go-git's tmp_*
// and ._packed-refs*) in the .git directory: what a write cut short leaves behind.
func interrupted(dotGit string) error {
	return filepath.WalkDir(dotGit, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return broken("its .git directory cannot be read: %v", err)
		}
		name := d.Name()
		if strings.HasSuffix(name, ".lock") || strings.HasPrefix(name, "tmp_") || strings.HasPrefix(name, "._packed-refs") {
			rel, _ := filepath.Rel(filepath.Dir(dotGit), p)
			return broken("%s is left from an interrupted write", filepath.ToSlash(rel))
		}
		return nil
	})
}

// headCommit is the commit HEAD points at, through an annotated tag when a tag was
// cloned.
func headCommit(repo *git.Repository) (*object.Commit, error) {
	head, err := repo.Head()
	if err != nil {
		return nil, err
	}
	if tag, err := repo.TagObject(head.Hash()); err == nil {
		return tag.Commit()
	}
	return repo.CommitObject(head.Hash())
}

// treeEntry is what the work tree must hold at a path.
type treeEntry struct {
	mode filemode.FileMode
	hash plumbing.Hash
}

// collect lists every entry of tree under prefix into out, reading every subtree and
// checking that every blob is readable and hashes to its name: a packfile cut short
// or a missing object fails here, never later while the files are read.
func collect(repo *git.Repository, tree *object.Tree, prefix string, out map[string]treeEntry) error {
	for _, e := range tree.Entries {
		if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\x00") || strings.EqualFold(e.Name, ".git") {
			return broken("the tree has an entry named %q", e.Name)
		}
		p := path.Join(prefix, e.Name)
		out[p] = treeEntry{mode: e.Mode, hash: e.Hash}
		switch e.Mode {
		case filemode.Dir:
			sub, err := repo.TreeObject(e.Hash)
			if err != nil {
				return broken("tree %s (%s) cannot be read: %v", short(e.Hash.String()), p, err)
			}
			if err := collect(repo, sub, p, out); err != nil {
				return err
			}
		case filemode.Submodule:
			// A commit of another repository: not cloned, an empty directory.
		default:
			if err := checkBlob(repo, e.Hash, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkBlob reads the blob h and checks its content hashes to h.
func checkBlob(repo *git.Repository, h plumbing.Hash, name string) error {
	blob, err := repo.BlobObject(h)
	if err != nil {
		return broken("object %s (%s) cannot be read: %v", short(h.String()), name, err)
	}
	r, err := blob.Reader()
	if err != nil {
		return broken("object %s (%s) cannot be read: %v", short(h.String()), name, err)
	}
	defer func() { _ = r.Close() }()
	got, err := hashBlob(r, blob.Size)
	if err != nil {
		return broken("object %s (%s) cannot be read: %v", short(h.String()), name, err)
	}
	if got != h {
		return broken("object %s (%s) is damaged: its content hashes to %s", short(h.String()), name, short(got.String()))
	}
	return nil
}

// hashBlob is the Git blob hash of the size bytes r holds; more or fewer is an error.
func hashBlob(r io.Reader, size int64) (plumbing.Hash, error) {
	h := plumbing.NewHasher(plumbing.BlobObject, size)
	n, err := io.Copy(h, io.LimitReader(r, size+1))
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if n != size {
		return plumbing.ZeroHash, fmt.Errorf("%d bytes instead of %d", n, size)
	}
	return h.Sum(), nil
}

// compareWorkTree checks that the work tree dir (its .git directory aside) holds
// exactly the entries of expected: each file with the content of its blob, each link
// with the target its blob holds, and nothing else. Directories and submodules (empty
// directories) need not exist, since Git stores no empty directory.
func compareWorkTree(dir string, expected map[string]treeEntry) error {
	files, seen := 0, 0
	for _, e := range expected {
		if isFile(e.mode) {
			files++
		}
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return broken("the work tree cannot be read: %v", err)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if rel == ".git" {
			return filepath.SkipDir
		}
		e, ok := expected[rel]
		if !ok {
			return broken("the work tree has %s, which the commit does not", rel)
		}
		if isFile(e.mode) {
			seen++
		}
		switch e.mode {
		case filemode.Dir:
			if !d.IsDir() {
				return broken("%s is not a directory in the work tree", rel)
			}
		case filemode.Submodule:
			if !d.IsDir() {
				return broken("submodule %s is not a directory in the work tree", rel)
			}
			if entries, err := os.ReadDir(p); err != nil || len(entries) > 0 {
				return broken("submodule %s is not an empty directory in the work tree", rel)
			}
			return filepath.SkipDir
		case filemode.Symlink:
			if d.Type()&fs.ModeSymlink == 0 {
				return broken("%s is not a symbolic link in the work tree", rel)
			}
			target, err := os.Readlink(p)
			if err != nil {
				return broken("link %s cannot be read: %v", rel, err)
			}
			if plumbing.ComputeHash(plumbing.BlobObject, []byte(target)) != e.hash {
				return broken("link %s does not hold the commit's target", rel)
			}
		default:
			if !d.Type().IsRegular() {
				return broken("%s is not a regular file in the work tree", rel)
			}
			if err := sameFile(p, e.hash); err != nil {
				return broken("%s %v", rel, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if seen != files {
		for p, e := range expected {
			if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(p))); err != nil && isFile(e.mode) {
				return broken("the work tree lacks %s", p)
			}
		}
		return broken("the work tree lacks %d files of the commit", files-seen)
	}
	return nil
}

// isFile reports whether an entry of mode is a file or a link of the work tree.
func isFile(mode filemode.FileMode) bool {
	return mode != filemode.Dir && mode != filemode.Submodule
}

// sameFile checks that the file at p holds the blob h.
func sameFile(p string, h plumbing.Hash) error {
	f, err := os.Open(p) //nolint:gosec // a file of the work tree being verified
	if err != nil {
		return fmt.Errorf("cannot be read: %w", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cannot be read: %w", err)
	}
	got, err := hashBlob(f, fi.Size())
	if err != nil {
		return fmt.Errorf("cannot be read: %w", err)
	}
	if got != h {
		return errors.New("differs from the commit's content")
	}
	return nil
}
