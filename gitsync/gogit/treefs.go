package gogit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// maxSymlinkHops bounds how many symbolic links Open follows for one path, as the
// kernel's ELOOP does.
const maxSymlinkHops = 40

// treeFS is the file tree of one commit. Files are read from the object store on Open.
// Open, Stat and ReadDir follow symbolic links within the tree, like os.DirFS (a link
// out of it is an error, where os.DirFS would follow it off the commit); Lstat and
// ReadLink (fs.ReadLinkFS) describe links without following them, so that
// policies.Load resolves them by the same rules as in a working tree. Submodules appear
// as empty directories.
type treeFS struct {
	repo *git.Repository
	root *object.Tree
}

var (
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.ReadFileFS = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
	_ fs.ReadLinkFS = (*treeFS)(nil)
)

// entry is a resolved path: a directory (tree set), a file or a symbolic link (blob
// set) or a submodule (neither).
type entry struct {
	name string
	mode filemode.FileMode
	tree *object.Tree
	blob *object.Blob
}

func (e *entry) info() *fileInfo {
	fi := &fileInfo{name: e.name, mode: 0o444}
	switch {
	case e.tree != nil || e.mode == filemode.Submodule:
		fi.mode = fs.ModeDir | 0o555
	case e.blob != nil:
		fi.size = e.blob.Size
		switch e.mode {
		case filemode.Executable:
			fi.mode = 0o555
		case filemode.Symlink:
			fi.mode = fs.ModeSymlink | 0o777
		}
	}
	return fi
}

// lookup resolves name, following symbolic links (also in the last element when
// follow is set).
func (t *treeFS) lookup(op, name string, follow bool) (*entry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	hops := 0
	parts := strings.Split(name, "/")
	if name == "." {
		parts = nil
	}
	dir := t.root
	var resolved []string
	for i := 0; i < len(parts); i++ {
		e, err := dir.FindEntry(parts[i])
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		last := i == len(parts)-1
		if e.Mode == filemode.Symlink && (!last || follow) {
			hops++
			if hops > maxSymlinkHops {
				return nil, &fs.PathError{Op: op, Path: name, Err: errors.New("too many levels of symbolic links")}
			}
			target, err := t.readLink(e.Name, e.Hash)
			if err != nil {
				return nil, &fs.PathError{Op: op, Path: name, Err: err}
			}
			joined := path.Join(append(append([]string{}, resolved...), target)...)
			if path.IsAbs(target) || joined == ".." || strings.HasPrefix(joined, "../") {
				return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("symbolic link to %q leaves the repository", target)}
			}
			rest := append(strings.Split(joined, "/"), parts[i+1:]...)
			if joined == "." {
				rest = parts[i+1:]
			}
			parts, i, dir, resolved = rest, -1, t.root, nil
			continue
		}
		resolved = append(resolved, parts[i])
		switch {
		case e.Mode == filemode.Dir:
			sub, err := t.repo.TreeObject(e.Hash)
			if err != nil {
				return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("failed to read tree %s: %w", e.Hash, err)}
			}
			if last {
				return &entry{name: e.Name, mode: e.Mode, tree: sub}, nil
			}
			dir = sub
		case last:
			return t.leaf(op, name, e)
		default:
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
	}
	return &entry{name: ".", mode: filemode.Dir, tree: dir}, nil
}

func (t *treeFS) leaf(op, name string, e *object.TreeEntry) (*entry, error) {
	if e.Mode == filemode.Submodule {
		return &entry{name: e.Name, mode: e.Mode}, nil
	}
	blob, err := t.repo.BlobObject(e.Hash)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("failed to read blob %s: %w", e.Hash, err)}
	}
	return &entry{name: e.Name, mode: e.Mode, blob: blob}, nil
}

// maxLinkSize bounds the target of a symbolic link, as PATH_MAX does.
const maxLinkSize = 4096

// readLink reads the target of the symbolic link name, stored in the blob hash.
func (t *treeFS) readLink(name string, hash plumbing.Hash) (string, error) {
	blob, err := t.repo.BlobObject(hash)
	if err != nil {
		return "", fmt.Errorf("failed to read symbolic link %s: %w", name, err)
	}
	if blob.Size > maxLinkSize {
		return "", fmt.Errorf("symbolic link %s: the target is longer than %d bytes", name, maxLinkSize)
	}
	r, err := blob.Reader()
	if err != nil {
		return "", fmt.Errorf("failed to read symbolic link %s: %w", name, err)
	}
	defer func() { _ = r.Close() }()
	data, err := io.ReadAll(io.LimitReader(r, maxLinkSize))
	if err != nil {
		return "", fmt.Errorf("failed to read symbolic link %s: %w", name, err)
	}
	return string(data), nil
}

// Open implements fs.FS.
func (t *treeFS) Open(name string) (fs.File, error) {
	e, err := t.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	if e.blob == nil {
		return &dirFile{info: e.info(), entries: t.entries(e)}, nil
	}
	r, err := e.blob.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &blobFile{info: e.info(), r: r}, nil
}

// ReadDir implements fs.ReadDirFS.
func (t *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := t.lookup("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if e.blob != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return t.entries(e), nil
}

// ReadFile implements fs.ReadFileFS.
func (t *treeFS) ReadFile(name string) ([]byte, error) {
	f, err := t.Open(name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	if _, ok := f.(*dirFile); ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, f); err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return buf.Bytes(), nil
}

// Stat implements fs.StatFS.
func (t *treeFS) Stat(name string) (fs.FileInfo, error) {
	e, err := t.lookup("stat", name, true)
	if err != nil {
		return nil, err
	}
	return e.info(), nil
}

// Lstat implements fs.ReadLinkFS: a symbolic link in the last element is described,
// not followed.
func (t *treeFS) Lstat(name string) (fs.FileInfo, error) {
	e, err := t.lookup("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return e.info(), nil
}

// ReadLink implements fs.ReadLinkFS.
func (t *treeFS) ReadLink(name string) (string, error) {
	e, err := t.lookup("readlink", name, false)
	if err != nil {
		return "", err
	}
	if e.mode != filemode.Symlink || e.blob == nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: errors.New("not a symbolic link")}
	}
	target, err := t.readLink(e.name, e.blob.Hash)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return target, nil
}

// entries lists a directory sorted by name, as fs.ReadDir requires. Symbolic links are
// reported as such (fs.WalkDir does not follow them).
func (t *treeFS) entries(e *entry) []fs.DirEntry {
	if e.tree == nil {
		return nil
	}
	out := make([]fs.DirEntry, 0, len(e.tree.Entries))
	for _, te := range e.tree.Entries {
		fi := &fileInfo{name: te.Name, mode: 0o444}
		switch te.Mode {
		case filemode.Dir, filemode.Submodule:
			fi.mode = fs.ModeDir | 0o555
		case filemode.Symlink:
			fi.mode = fs.ModeSymlink | 0o777
		case filemode.Executable:
			fi.mode = 0o555
		}
		out = append(out, &dirEntry{fs: t, hash: te.Hash, info: fi})
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

// dirEntry is an entry of a directory listing; the size of a file is read from the
// object store only when asked for.
type dirEntry struct {
	fs   *treeFS
	hash plumbing.Hash
	info *fileInfo
}

func (d *dirEntry) Name() string      { return d.info.name }
func (d *dirEntry) IsDir() bool       { return d.info.IsDir() }
func (d *dirEntry) Type() fs.FileMode { return d.info.mode.Type() }

// Info implements fs.DirEntry.
func (d *dirEntry) Info() (fs.FileInfo, error) {
	if d.info.mode.IsRegular() || d.info.mode&fs.ModeSymlink != 0 {
		blob, err := d.fs.repo.BlobObject(d.hash)
		if err != nil {
			return nil, fmt.Errorf("failed to read blob %s of %s: %w", d.hash, d.info.name, err)
		}
		fi := *d.info
		fi.size = blob.Size
		return &fi, nil
	}
	return d.info, nil
}

// fileInfo describes an entry of the tree. Commits carry no modification times.
type fileInfo struct {
	name string
	size int64
	mode fs.FileMode
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *fileInfo) ModTime() time.Time { return time.Time{} }
func (fi *fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *fileInfo) Sys() any           { return nil }

type blobFile struct {
	info *fileInfo
	r    io.ReadCloser
}

func (f *blobFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *blobFile) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *blobFile) Close() error               { return f.r.Close() }

type dirFile struct {
	info    *fileInfo
	entries []fs.DirEntry
	offset  int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}
func (d *dirFile) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.offset:]
	if n <= 0 {
		d.offset = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.offset += n
	return rest[:n], nil
}
