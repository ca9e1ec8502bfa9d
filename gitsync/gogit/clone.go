package gogit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/ballast-dev/ballast/gitsync"
)

// Cloner checks out revisions of remote repositories with go-git. A directory that
// holds a verified checkout of the remote's commit is reused; every other clone starts
// afresh in an emptied directory, so a force-pushed branch or a moved tag never meets
// stale objects.
type Cloner struct{}

var _ gitsync.Cloner = (*Cloner)(nil)

// NewCloner returns a Cloner.
func NewCloner() *Cloner { return &Cloner{} }

// Clone implements gitsync.Cloner.
func (c *Cloner) Clone(ctx context.Context, dir string, opts gitsync.CloneOptions) (*gitsync.Checkout, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	r, err := newRemote(opts.URL, opts.Auth)
	if err != nil {
		return nil, err
	}
	if opts.Commit != "" && !plumbing.IsHash(opts.Commit) {
		return nil, fmt.Errorf("commit %q is not a full hash", opts.Commit)
	}
	ref := opts.RefName()

	// The remote's current commit, to skip the fetch when dir already holds it.
	var head string
	if opts.Commit != "" {
		head = strings.ToLower(opts.Commit)
	} else {
		refs, err := r.list(ctx)
		if err != nil {
			return nil, err
		}
		name := plumbing.NewBranchReferenceName(ref)
		if opts.Tag != "" {
			name = plumbing.NewTagReferenceName(ref)
		}
		var ok bool
		if head, ok = refs[name.String()]; !ok {
			return nil, &gitsync.NotFoundError{What: fmt.Sprintf("%s in %s", refDescription(opts), r.safeURL)}
		}
	}
	// What dir holds is reused only when it is verified to be that commit, whoever
	// left it there and however: another replica's status says nothing about this
	// directory, and a process killed mid-clone leaves a partial one.
	commit, err := verifyCheckout(dir, head)
	if err == nil {
		if err := checkLinks(dir); err != nil {
			_ = emptyDir(dir)
			return nil, err
		}
		return &gitsync.Checkout{Dir: dir, Unchanged: true, Revision: revision(gitsync.RevisionName(ref, head), commit)}, nil
	}
	var replaced string
	if !isEmpty(dir) {
		replaced = err.Error()
	}

	if err := emptyDir(dir); err != nil {
		return nil, err
	}
	repo, err := r.clone(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	commit, err = checkedOut(repo, opts)
	if err != nil {
		return nil, r.redact(err)
	}
	if err := checkLinks(dir); err != nil {
		// Nothing of the revision stays on the disk for a later reader to follow.
		_ = emptyDir(dir)
		return nil, err
	}
	// The branch may have moved since it was listed: the revision is the commit
	// checked out, verified like a reused one.
	if _, err := verifyCheckout(dir, commit.Hash.String()); err != nil {
		_ = emptyDir(dir)
		return nil, fmt.Errorf("the checkout of commit %s from %s is incomplete: %w", commit.Hash, r.safeURL, err)
	}
	rev := revision(gitsync.RevisionName(ref, commit.Hash.String()), commit)
	return &gitsync.Checkout{Revision: rev, Dir: dir, Replaced: replaced}, nil
}

// isEmpty reports whether dir is missing or has no entry.
func isEmpty(dir string) bool {
	entries, err := os.ReadDir(dir)
	return (err == nil && len(entries) == 0) || errors.Is(err, fs.ErrNotExist)
}

func refDescription(opts gitsync.CloneOptions) string {
	switch {
	case opts.Tag != "":
		return fmt.Sprintf("tag %q", opts.Tag)
	case opts.Commit != "":
		return "commit " + opts.Commit
	default:
		return fmt.Sprintf("branch %q", opts.RefName())
	}
}

// list returns the remote's references (ls-remote), annotated tags peeled to their
// commit.
func (r *remote) list(ctx context.Context) (map[string]string, error) {
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: git.DefaultRemoteName, URLs: []string{r.url}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: r.auth, PeelingOption: git.AppendPeeled})
	if err != nil {
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return map[string]string{}, nil
		}
		return nil, r.fail("list the references of", err)
	}
	out := map[string]string{}
	for _, ref := range refs {
		if ref.Type() != plumbing.HashReference {
			continue
		}
		name := ref.Name().String()
		if peeled, ok := strings.CutSuffix(name, "^{}"); ok {
			out[peeled] = ref.Hash().String()
			continue
		}
		if _, seen := out[name]; !seen {
			out[name] = ref.Hash().String()
		}
	}
	return out, nil
}

// clone clones the revision opts selects into dir.
func (r *remote) clone(ctx context.Context, dir string, opts gitsync.CloneOptions) (*git.Repository, error) {
	co := &git.CloneOptions{URL: r.url, Auth: r.auth, SingleBranch: true, Tags: git.NoTags}
	if opts.Shallow {
		co.Depth = 1
	}
	switch {
	case opts.Tag != "":
		co.ReferenceName = plumbing.NewTagReferenceName(opts.Tag)
	case opts.Commit != "":
		return r.cloneCommit(ctx, dir, opts)
	default:
		co.ReferenceName = plumbing.NewBranchReferenceName(opts.RefName())
	}
	repo, err := git.PlainCloneContext(ctx, dir, false, co)
	if err != nil {
		if errors.Is(err, plumbing.ErrReferenceNotFound) || isNoMatchingRef(err) {
			return nil, &gitsync.NotFoundError{What: fmt.Sprintf("%s in %s", refDescription(opts), r.safeURL), Err: r.redact(err)}
		}
		return nil, r.fail("clone", err)
	}
	return repo, nil
}

// cloneCommit fetches one commit by hash: shallow when asked and the server allows
// fetching an unadvertised commit, else every branch.
func (r *remote) cloneCommit(ctx context.Context, dir string, opts gitsync.CloneOptions) (*git.Repository, error) {
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		return nil, fmt.Errorf("failed to initialise %s: %w", dir, err)
	}
	rem, err := repo.CreateRemote(&config.RemoteConfig{Name: git.DefaultRemoteName, URLs: []string{r.url}})
	if err != nil {
		return nil, fmt.Errorf("failed to add the remote: %w", r.redact(err))
	}
	target := plumbing.NewHash(opts.Commit)
	if opts.Shallow {
		spec := config.RefSpec(fmt.Sprintf("%s:refs/heads/ballast-commit", opts.Commit))
		err = rem.FetchContext(ctx, &git.FetchOptions{Auth: r.auth, RefSpecs: []config.RefSpec{spec}, Depth: 1, Tags: git.NoTags})
		if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
			if _, err := repo.CommitObject(target); err == nil {
				return repo, nil
			}
		} else if isAuthFailure(err) {
			return nil, r.fail("fetch", err)
		}
	}
	spec := config.RefSpec("+refs/heads/*:refs/remotes/origin/*")
	err = rem.FetchContext(ctx, &git.FetchOptions{Auth: r.auth, RefSpecs: []config.RefSpec{spec}, Tags: git.NoTags})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, r.fail("fetch", err)
	}
	if _, err := repo.CommitObject(target); err != nil {
		return nil, &gitsync.NotFoundError{What: fmt.Sprintf("commit %s in %s", opts.Commit, r.safeURL), Err: err}
	}
	return repo, nil
}

// checkedOut checks out the commit opts selects (already done by a branch or tag
// clone) and returns it.
func checkedOut(repo *git.Repository, opts gitsync.CloneOptions) (*object.Commit, error) {
	if opts.Commit != "" {
		wt, err := repo.Worktree()
		if err != nil {
			return nil, err
		}
		h := plumbing.NewHash(opts.Commit)
		if err := wt.Checkout(&git.CheckoutOptions{Hash: h, Force: true}); err != nil {
			return nil, fmt.Errorf("failed to check out commit %s: %w", opts.Commit, err)
		}
		return repo.CommitObject(h)
	}
	head, err := repo.Head()
	if err != nil {
		return nil, fmt.Errorf("failed to read HEAD: %w", err)
	}
	if tag, err := repo.TagObject(head.Hash()); err == nil {
		return tag.Commit()
	}
	return repo.CommitObject(head.Hash())
}

func isNoMatchingRef(err error) bool {
	var nm git.NoMatchingRefSpecError
	return errors.As(err, &nm) || strings.Contains(err.Error(), "couldn't find remote ref")
}

// emptyDir creates dir, or removes everything in it.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", dir, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("failed to empty %s: %w", dir, err)
		}
	}
	return nil
}
