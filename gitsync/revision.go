package gitsync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// Revision is one commit, as resolved from what a user or CI wrote (a branch, a tag, a
// SHA or an expression such as HEAD~1).
type Revision struct {
	// Name is the revision as given ("main", "v1.2.0", "HEAD~1"); empty when the
	// revision was computed, as for a merge base.
	Name string
	// Commit is the commit's full hexadecimal hash.
	Commit string
	// Time is the commit's committer time.
	Time time.Time
	// Subject is the first line of the commit message.
	Subject string
}

// Short is the commit hash abbreviated to seven characters, as Git shows it.
func (r Revision) Short() string {
	if len(r.Commit) > 7 {
		return r.Commit[:7]
	}
	return r.Commit
}

// String names the revision for people: "main (1a2b3c4)", or the short hash alone when
// the revision was given as a hash.
func (r Revision) String() string {
	if r.Name == "" || strings.HasPrefix(r.Commit, r.Name) {
		return r.Short()
	}
	return fmt.Sprintf("%s (%s)", r.Name, r.Short())
}

// Reader reads revisions of one repository. Every call works offline, on what the
// repository already holds.
type Reader interface {
	// Resolve resolves rev (branch, tag, remote-tracking branch, full or abbreviated hash,
	// or an expression such as HEAD~1 or main^2) to a commit. It returns a NotFoundError
	// when the repository has no such revision.
	Resolve(ctx context.Context, rev string) (Revision, error)
	// Files returns the file tree of the commit with the given full hash as a read-only
	// file system whose root is the repository's top-level directory.
	Files(ctx context.Context, commit string) (fs.FS, error)
	// MergeBase returns the best common ancestor of two commits given by full hash. It
	// returns a NotFoundError when they have none the repository knows of (unrelated
	// histories, or a shallow clone that stops before it).
	MergeBase(ctx context.Context, a, b string) (Revision, error)
}

// NotFoundError says that a revision, a commit or a common ancestor does not exist in
// the repository, which the caller may want to explain (fetch more history) rather
// than treat as a failure.
type NotFoundError struct {
	// What names what was looked for, e.g. `revision "main"`.
	What string
	// Err is the underlying error, if any.
	Err error
}

func (e *NotFoundError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s not found: %v", e.What, e.Err)
	}
	return e.What + " not found"
}

func (e *NotFoundError) Unwrap() error { return e.Err }

// IsNotFound reports whether err is, or wraps, a NotFoundError.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

// IgnoreNotFound returns nil when err is a NotFoundError, and err otherwise.
func IgnoreNotFound(err error) error {
	if IsNotFound(err) {
		return nil
	}
	return err
}
