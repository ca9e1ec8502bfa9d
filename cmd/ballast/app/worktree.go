package app

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
)

// workTree is a directory on disk as validate, diff and plan read it.
//
// policies.Load decides what is read, by the same rules for a directory on disk and a
// Git revision: it resolves symbolic links itself, never out of the tree, and opens only
// what it has seen to be a regular file. workTree guards what those checks cannot: the
// tree changing between a check and the open (a CI job's checkout, a shared directory).
// It is an os.Root, through which no path leads out of the directory, unlike os.DirFS,
// whatever links appear; and it opens with O_NONBLOCK, so that a file swapped for a
// FIFO cannot block the command (Load then sees it is not a regular file any more).
type workTree struct {
	root *os.Root
}

var (
	_ fs.ReadDirFS  = (*workTree)(nil)
	_ fs.StatFS     = (*workTree)(nil)
	_ fs.ReadLinkFS = (*workTree)(nil)
)

// openWorkTree opens the directory dir; Close releases it.
func openWorkTree(dir string) (*workTree, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to open %s: %w", dir, err)
	}
	return &workTree{root: root}, nil
}

// Close releases the directory.
func (w *workTree) Close() error { return w.root.Close() }

// Open implements fs.FS.
func (w *workTree) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := w.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// ReadDir implements fs.ReadDirFS: the entries sorted by name, links described, not
// followed.
func (w *workTree) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	f, err := w.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	entries, err := f.ReadDir(-1)
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, err
}

// Stat implements fs.StatFS.
func (w *workTree) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	return w.root.Stat(name)
}

// Lstat implements fs.ReadLinkFS.
func (w *workTree) Lstat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrInvalid}
	}
	return w.root.Lstat(name)
}

// ReadLink implements fs.ReadLinkFS.
func (w *workTree) ReadLink(name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return w.root.Readlink(name)
}
