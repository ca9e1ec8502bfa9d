package gogit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/ballast-dev/ballast/gitsync"
)

var _ gitsync.FileReader = (*FileWriter)(nil)

// ReadFile implements gitsync.FileReader: it clones the branch in memory, one commit
// deep, and reads the file at its head.
func (w *FileWriter) ReadFile(ctx context.Context, opts gitsync.FileReadOptions) ([]byte, error) {
	if opts.Branch == "" || opts.Path == "" {
		return nil, fmt.Errorf("a file read needs a branch and a path (got %q, %q)", opts.Branch, opts.Path)
	}
	p := path.Clean(strings.TrimPrefix(opts.Path, "/"))
	if p == "." || strings.HasPrefix(p, "../") {
		return nil, fmt.Errorf("invalid path %q", opts.Path)
	}
	r, err := newRemote(opts.URL, opts.Auth)
	if err != nil {
		return nil, err
	}
	missing := func(err error) error {
		return &gitsync.NotFoundError{What: fmt.Sprintf("%s on branch %q of %s", p, opts.Branch, r.safeURL), Err: r.redact(err)}
	}
	refs, err := r.list(ctx)
	if err != nil {
		return nil, err
	}
	branch := plumbing.NewBranchReferenceName(opts.Branch)
	if _, exists := refs[branch.String()]; !exists {
		return nil, missing(nil)
	}
	repo, err := git.CloneContext(ctx, memory.NewStorage(), memfs.New(), &git.CloneOptions{URL: r.url, Auth: r.auth,
		ReferenceName: branch, SingleBranch: true, Depth: 1, Tags: git.NoTags, NoCheckout: true})
	if err != nil {
		if errors.Is(err, plumbing.ErrReferenceNotFound) || isNoMatchingRef(err) {
			return nil, missing(err)
		}
		return nil, r.fail("clone", err)
	}
	head, err := repo.Head()
	if err != nil {
		return nil, fmt.Errorf("failed to read the head of %s: %w", opts.Branch, err)
	}
	c, err := repo.CommitObject(head.Hash())
	if err != nil {
		return nil, fmt.Errorf("failed to read commit %s: %w", head.Hash(), err)
	}
	f, err := c.File(p)
	if errors.Is(err, object.ErrFileNotFound) {
		return nil, missing(nil)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read %s at %s: %w", p, head.Hash(), err)
	}
	rd, err := f.Reader()
	if err != nil {
		return nil, fmt.Errorf("failed to read %s at %s: %w", p, head.Hash(), err)
	}
	defer func() { _ = rd.Close() }()
	content, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s at %s: %w", p, head.Hash(), err)
	}
	return content, nil
}
