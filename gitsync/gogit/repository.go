package gogit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/ballast-dev/ballast/gitsync"
)

// Repository is a Git repository on the local disk.
type Repository struct {
	repo *git.Repository
	root string
}

var _ gitsync.Reader = (*Repository)(nil)

// Open opens the repository that holds path: path itself or the nearest parent
// directory with a .git directory or file, as git does. It returns a NotFoundError when
// there is none.
func Open(path string) (*Repository, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("failed to resolve %s: %w", path, err)
	}
	repo, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, &gitsync.NotFoundError{What: "Git repository at " + path + " or above"}
	}
	if err != nil {
		return nil, fmt.Errorf("failed to open the Git repository at %s: %w", path, err)
	}
	r := &Repository{repo: repo}
	if wt, err := repo.Worktree(); err == nil {
		r.root = wt.Filesystem.Root()
	}
	return r, nil
}

// Root is the repository's top-level directory (its work tree); empty for a bare
// repository.
func (r *Repository) Root() string { return r.root }

// Resolve implements gitsync.Reader.
func (r *Repository) Resolve(_ context.Context, rev string) (gitsync.Revision, error) {
	if strings.TrimSpace(rev) == "" {
		return gitsync.Revision{}, fmt.Errorf("failed to resolve an empty revision")
	}
	hash, err := r.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		// go-git reports walking past the first commit (HEAD~N too far) as io.EOF.
		if isMissing(err) || errors.Is(err, io.EOF) {
			return gitsync.Revision{}, &gitsync.NotFoundError{What: fmt.Sprintf("revision %q", rev), Err: err}
		}
		return gitsync.Revision{}, fmt.Errorf("failed to resolve revision %q: %w", rev, err)
	}
	c, err := r.commit(*hash)
	if err != nil {
		return gitsync.Revision{}, err
	}
	return revision(rev, c), nil
}

// Files implements gitsync.Reader.
func (r *Repository) Files(_ context.Context, commit string) (fs.FS, error) {
	h, err := parseHash(commit)
	if err != nil {
		return nil, err
	}
	c, err := r.commit(h)
	if err != nil {
		return nil, err
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("failed to read the tree of commit %s: %w", commit, err)
	}
	return &treeFS{repo: r.repo, root: tree}, nil
}

// MergeBase implements gitsync.Reader.
func (r *Repository) MergeBase(_ context.Context, a, b string) (gitsync.Revision, error) {
	var commits [2]*object.Commit
	for i, s := range []string{a, b} {
		h, err := parseHash(s)
		if err != nil {
			return gitsync.Revision{}, err
		}
		if commits[i], err = r.commit(h); err != nil {
			return gitsync.Revision{}, err
		}
	}
	bases, err := commits[0].MergeBase(commits[1])
	if err != nil {
		if isMissing(err) {
			return gitsync.Revision{}, &gitsync.NotFoundError{What: fmt.Sprintf("merge base of %s and %s", short(a), short(b)), Err: err}
		}
		return gitsync.Revision{}, fmt.Errorf("failed to find the merge base of %s and %s: %w", short(a), short(b), err)
	}
	if len(bases) == 0 {
		return gitsync.Revision{}, &gitsync.NotFoundError{What: fmt.Sprintf("merge base of %s and %s", short(a), short(b))}
	}
	return revision("", bases[0]), nil
}

func (r *Repository) commit(h plumbing.Hash) (*object.Commit, error) {
	c, err := r.repo.CommitObject(h)
	if err != nil {
		if isMissing(err) {
			return nil, &gitsync.NotFoundError{What: "commit " + h.String(), Err: err}
		}
		return nil, fmt.Errorf("failed to read commit %s: %w", h, err)
	}
	return c, nil
}

func revision(name string, c *object.Commit) gitsync.Revision {
	subject, _, _ := strings.Cut(c.Message, "\n")
	return gitsync.Revision{Name: name, Commit: c.Hash.String(), Time: c.Committer.When, Subject: strings.TrimSpace(subject)}
}

func parseHash(s string) (plumbing.Hash, error) {
	if !plumbing.IsHash(s) {
		return plumbing.ZeroHash, fmt.Errorf("%q is not a full commit hash", s)
	}
	return plumbing.NewHash(s), nil
}

// isMissing reports whether err says an object or reference is absent: unknown names,
// and parents cut off by a shallow clone.
func isMissing(err error) bool {
	return errors.Is(err, plumbing.ErrReferenceNotFound) || errors.Is(err, plumbing.ErrObjectNotFound) ||
		errors.Is(err, object.ErrParentNotFound)
}

func short(commit string) string {
	if len(commit) > 7 {
		return commit[:7]
	}
	return commit
}
