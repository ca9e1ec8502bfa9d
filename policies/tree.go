package policies

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"unicode/utf8"
)

// Reading a policy tree.
//
// Load reads a tree through any fs.FS: the working tree on disk, a Git revision
// (gitsync/gogit), an extracted artifact or a test's fstest.MapFS. The same rules hold
// whatever the FS, because this file alone decides what is read and never lets the FS
// follow a symbolic link on its behalf:
//
//   - directories are listed with ReadDir, whose entries describe links, not their
//     targets; links are looked up here, one path element at a time, with fs.Lstat and
//     fs.ReadLink (fs.ReadLinkFS, which os.DirFS, os.Root.FS, fs.Sub, fstest.MapFS and
//     the Git tree implement);
//   - a path is opened only when every element of it has been seen, by ReadDir or
//     Lstat, to be a directory, and the last one a regular file. So Open follows no
//     link and never opens a FIFO or a device, which could block or never end; the
//     opened file is checked again in case the tree changed in between.
//
// os.DirFS alone would follow links anywhere (see its documentation), and os.Root
// would confine them to the FS's root but still open FIFOs; a Git tree has links but
// no FIFOs. Doing the checks here gives one behaviour for all of them. Callers that read
// a tree others may be changing (the CLI in a CI checkout) may in addition pass an
// os.Root-based FS that opens without blocking.
//
// The rules, for the files Load reads (names ending in .yaml or .yml, not hidden):
//
//   - a regular file is read;
//   - a symbolic link is read, under the link's name, when it leads to a regular file
//     inside the tree (the directory Load reads) through at most maxLinks links, each
//     relative and each step of the resolution staying inside the tree: a link that
//     goes out, even to come back, is not followed and nothing outside is looked at;
//   - links to directories are not followed, whatever their name, so every file is
//     read once and no walk can loop;
//   - anything else with such a name (a FIFO, socket or device, a link that dangles,
//     loops, is absolute, leaves the tree or leads to a directory or a special file),
//     and every directory or file that cannot be read (permission denied, a name that is
//     not UTF-8) is one unreadable-file finding at its path, and the rest of the tree
//     is read.
//
// Other names are neither opened nor resolved: a link named README.md that leaves the
// tree is no finding, since nothing would read it anyway.

// maxLinks bounds how many symbolic links the resolution of one path follows, as the
// kernel's ELOOP does.
const maxLinks = 40

// unreadable is why a path is not read; its text is the message of the finding, and
// names no path: the finding is at the path.
type unreadable string

func (e unreadable) Error() string { return string(e) }

const (
	errLinkLoops    unreadable = "the symbolic link loops: more than 40 links to follow"
	errLinkDangles  unreadable = "the symbolic link leads nowhere: its target does not exist"
	errLinkAbsolute unreadable = "the symbolic link is absolute; Ballast follows only relative links that stay inside the policy tree"
	errLinkLeaves   unreadable = "the symbolic link leads out of the policy tree; Ballast follows only links that stay inside it"
	errNoLinks      unreadable = "the symbolic link cannot be resolved: the file tree does not report link targets"
	errBadName      unreadable = "the name is not valid UTF-8; rename it"
)

// tree reads one policy tree of fsys into repo.
type tree struct {
	fsys fs.FS
	// root is the tree's directory in fsys, split into elements, none a link.
	root []string
	// display names the tree's root in findings.
	display string
	repo    *Repository
}

// Load reads every .yaml and .yml file under root in fsys (hidden files and directories
// skipped) and decodes the Ballast documents in them. Positions name files as
// path.Join(display, <path relative to root>).
//
// Only regular files inside the tree are read, and symbolic links that lead to them
// (see the rules at the top of tree.go): a FIFO, a device, a link that dangles, loops or
// leaves the tree, or a file that cannot be read is an unreadable-file finding at its
// path. Load returns an error only when root itself cannot be read; problems in the
// tree are findings.
func Load(fsys fs.FS, root, display string) (*Repository, error) {
	if !fs.ValidPath(root) {
		return nil, fmt.Errorf("failed to read %s: %w", root, fs.ErrInvalid)
	}
	t := &tree{fsys: fsys, display: display, repo: &Repository{}}
	// The root may itself be a link, e.g. a PolicySource's spec.path: resolve it, but
	// not out of fsys.
	dir, info, err := t.lookup(nil, 0, split(root))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", root, err)
	}
	if !info.IsDir() {
		// One file, named by its base name as fs.WalkDir would.
		t.root = dir[:len(dir)-1]
		if name := path.Base(root); isPolicyFile(name) {
			t.file(dir, name, info.Mode())
		}
		return t.repo, nil
	}
	t.root = dir
	if err := t.walk(dir, ""); err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", root, err)
	}
	return t.repo, nil
}

// ReadFile reads name, a slash-separated path relative to root in fsys, by the rules of
// Load: it must be a regular file inside the tree at root, or a link to one. It is for
// the files that policies name, such as a cost scenario.
func ReadFile(fsys fs.FS, root, name string) ([]byte, error) {
	if !fs.ValidPath(root) || !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrInvalid}
	}
	t := &tree{fsys: fsys}
	dir, info, err := t.lookup(nil, 0, split(root))
	if err == nil && !info.IsDir() {
		err = unreadable("it is not a directory")
	}
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: root, Err: err}
	}
	p, info, err := t.lookup(dir, len(dir), split(name))
	if err == nil && !info.Mode().IsRegular() {
		err = unreadable("it is " + kind(info.Mode()) + ", not a regular file")
	}
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	data, err := readRegular(fsys, joinPath(p))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return data, nil
}

// walk reads the directory dir (elements in fsys), whose path relative to the tree's
// root is rel. It returns an error when dir cannot be listed; everything below it is
// read or reported.
func (t *tree) walk(dir []string, rel string) error {
	entries, err := fs.ReadDir(t.fsys, joinPath(dir))
	if err != nil {
		return fmt.Errorf("the directory cannot be read: %w", cause(err))
	}
	for _, e := range entries {
		name := e.Name()
		mode := e.Type()
		if strings.HasPrefix(name, ".") || (!mode.IsDir() && !isPolicyFile(name)) {
			continue
		}
		sub := path.Join(rel, name)
		p := append(slices.Clip(dir), name)
		switch {
		case !utf8.ValidString(name):
			// fs.ValidPath refuses it: no FS could open it, and no finding could
			// name it faithfully.
			t.unreadable(sub, errBadName)
		case strings.Contains(name, "/"):
			// Only a forged Git tree can hold one.
			t.unreadable(sub, unreadable("the name holds a slash; rename it"))
		case mode.IsDir():
			if err := t.walk(p, sub); err != nil {
				t.unreadable(sub, err)
			}
		default:
			t.file(p, sub, mode)
		}
	}
	return nil
}

// file reads the policy file at p (elements in fsys), whose path relative to the tree's
// root is rel and whose type, as listed, is mode.
func (t *tree) file(p []string, rel string, mode fs.FileMode) {
	switch {
	case mode.IsRegular():
	case mode&fs.ModeSymlink != 0:
		if _, ok := t.fsys.(fs.ReadLinkFS); !ok {
			// Lstat would be Stat, and Open would follow the link anywhere.
			t.unreadable(rel, errNoLinks)
			return
		}
		target, info, err := t.lookup(p[:len(p)-1], len(t.root), p[len(p)-1:])
		switch {
		case err != nil:
			t.unreadable(rel, err)
			return
		case !info.Mode().IsRegular():
			t.unreadable(rel, unreadable("the symbolic link leads to "+kind(info.Mode())+
				"; Ballast reads only regular files and links to them"))
			return
		}
		p = target
	default:
		t.unreadable(rel, unreadable("the file is "+kind(mode)+
			", not a regular file; Ballast reads only regular files and links to them"))
		return
	}
	data, err := readRegular(t.fsys, joinPath(p))
	if err != nil {
		t.unreadable(rel, err)
		return
	}
	t.repo.addFile(t.name(rel), data)
}

// lookup resolves the path elements names relative to dir (elements in fsys, none a
// link) as the kernel would, but following links itself: a link must be relative,
// ".." never climbs above the first keep elements of dir (the tree's root), and at
// most maxLinks links are followed. Without fs.ReadLinkFS, fs.Lstat is fs.Stat and the
// FS is taken to have no links. It returns the resolved path, none of whose elements is
// a link, and the Lstat of its last element; or fs.ErrNotExist when names does not
// exist and no link was followed (a link that leads nowhere is errLinkDangles).
func (t *tree) lookup(dir []string, keep int, names []string) ([]string, fs.FileInfo, error) {
	cur := slices.Clone(dir)
	pending := slices.Clone(names)
	var info fs.FileInfo
	links := 0
	for len(pending) > 0 {
		name := pending[0]
		pending = pending[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			if len(cur) <= keep {
				return nil, nil, errLinkLeaves
			}
			cur, info = cur[:len(cur)-1], nil
			continue
		}
		p := path.Join(joinPath(cur), name)
		fi, err := fs.Lstat(t.fsys, p)
		if errors.Is(err, fs.ErrNotExist) {
			if links == 0 {
				return nil, nil, fs.ErrNotExist
			}
			return nil, nil, errLinkDangles
		}
		if err != nil {
			return nil, nil, fmt.Errorf("the path cannot be resolved: %w", cause(err))
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if links++; links > maxLinks {
				return nil, nil, errLinkLoops
			}
			target, err := fs.ReadLink(t.fsys, p)
			switch {
			case err != nil:
				return nil, nil, fmt.Errorf("the symbolic link cannot be read: %w", cause(err))
			case target == "":
				return nil, nil, errLinkDangles
			case strings.HasPrefix(target, "/"):
				return nil, nil, errLinkAbsolute
			}
			pending = append(strings.Split(target, "/"), pending...)
			continue
		}
		if len(pending) > 0 && !fi.IsDir() {
			// A path through a file (file.yaml/x) does not exist.
			if links == 0 {
				return nil, nil, fmt.Errorf("%s is not a directory", p)
			}
			return nil, nil, errLinkDangles
		}
		cur, info = append(cur, name), fi
	}
	if info == nil {
		// The path names a directory already passed through, or the FS's root.
		fi, err := fs.Stat(t.fsys, joinPath(cur))
		if err != nil {
			return nil, nil, fmt.Errorf("the directory cannot be read: %w", cause(err))
		}
		info = fi
	}
	return cur, info, nil
}

// readRegular reads the regular file at p, whose every element has been checked; the
// file is checked again once open, in case the tree changed in between.
func readRegular(fsys fs.FS, p string) ([]byte, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, fmt.Errorf("the file cannot be read: %w", cause(err))
	}
	defer func() { _ = f.Close() }()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("the file cannot be read: %w", cause(err))
	}
	if !info.Mode().IsRegular() {
		return nil, unreadable("the file changed while it was read: it is " + kind(info.Mode()) + " now")
	}
	// One byte more than the loader accepts, so that it reports an oversized file.
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("the file cannot be read: %w", cause(err))
	}
	return data, nil
}

// unreadable reports a path of the tree that is not read.
func (t *tree) unreadable(rel string, err error) {
	t.repo.Findings = append(t.repo.Findings, Finding{Position: Position{File: t.name(rel)},
		Rule: RuleUnreadableFile, Severity: SeverityError, Message: err.Error()})
}

// name is how findings name the path rel of the tree: bytes that are not UTF-8 are
// written as \xNN, so that the name survives JSON and object status.
func (t *tree) name(rel string) string {
	if !utf8.ValidString(rel) {
		var b strings.Builder
		for i := 0; i < len(rel); {
			r, size := utf8.DecodeRuneInString(rel[i:])
			if r == utf8.RuneError && size == 1 {
				fmt.Fprintf(&b, `\x%02x`, rel[i])
			} else {
				b.WriteString(rel[i : i+size])
			}
			i += size
		}
		rel = b.String()
	}
	return path.Join(t.display, rel)
}

// cause is the reason of an FS error without the path the FS put in it: for os.DirFS
// that is a path on the host, which findings, shown to whoever reads the policy's
// status, need not tell, and which differs from FS to FS.
func cause(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

// kind names a file type in findings.
func kind(mode fs.FileMode) string {
	switch t := mode.Type(); {
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

func isPolicyFile(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// split splits a slash-separated path into its elements; "." has none.
func split(p string) []string {
	if p == "." || p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// joinPath is the inverse of split.
func joinPath(elems []string) string {
	if len(elems) == 0 {
		return "."
	}
	return strings.Join(elems, "/")
}
