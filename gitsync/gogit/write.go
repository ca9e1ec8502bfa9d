package gogit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/ballast-dev/ballast/gitsync"
)

// FileWriter writes files to branches of remote repositories with go-git, and reads
// them again. Each write or read clones the branch afresh, in memory and one commit
// deep, so nothing is kept between calls.
type FileWriter struct {
	// Attempts bounds how often a write is tried when pushes are rejected because the
	// branch moved; default 8.
	Attempts int
	// Backoff is the first wait between attempts, doubled each time with jitter;
	// default 100ms.
	Backoff time.Duration
	// Now stamps commits; default time.Now.
	Now func() time.Time
}

var _ gitsync.FileWriter = (*FileWriter)(nil)

// NewFileWriter returns a FileWriter with the default retry policy.
func NewFileWriter() *FileWriter { return &FileWriter{} }

// The defaults of FileWriteOptions.
const (
	DefaultAuthorName  = "Ballast"
	DefaultAuthorEmail = "ballast@localhost"
)

// ErrConflict is wrapped by the error WriteFile returns when every attempt lost the
// race to another writer.
var ErrConflict = errors.New("the branch kept moving")

// WriteFile implements gitsync.FileWriter.
func (w *FileWriter) WriteFile(ctx context.Context, opts gitsync.FileWriteOptions) (string, bool, error) {
	if opts.Branch == "" || opts.Path == "" {
		return "", false, fmt.Errorf("a file write needs a branch and a path (got %q, %q)", opts.Branch, opts.Path)
	}
	p := path.Clean(strings.TrimPrefix(opts.Path, "/"))
	if p == "." || strings.HasPrefix(p, "../") {
		return "", false, fmt.Errorf("invalid path %q", opts.Path)
	}
	opts.Path = p
	var signer git.Signer
	switch {
	case len(opts.SigningKey) > 0:
		e, err := signingKey(opts.SigningKey)
		if err != nil {
			return "", false, err
		}
		signer = &pgpSigner{e}
	case len(opts.SSHSigningKey) > 0:
		s, err := newSSHSigner(opts.SSHSigningKey)
		if err != nil {
			return "", false, err
		}
		signer = s
	}
	r, err := newRemote(opts.URL, opts.Auth)
	if err != nil {
		return "", false, err
	}
	attempts, backoff := w.Attempts, w.Backoff
	if attempts <= 0 {
		attempts = 8
	}
	if backoff <= 0 {
		backoff = 100 * time.Millisecond
	}
	var lastErr error
	for i := range attempts {
		if i > 0 {
			wait := backoff<<(i-1) + rand.N(backoff) //nolint:gosec // jitter, not a secret
			select {
			case <-ctx.Done():
				return "", false, ctx.Err()
			case <-time.After(wait):
			}
		}
		commit, changed, err := w.attempt(ctx, r, opts, signer)
		if err == nil {
			return commit, changed, nil
		}
		if !isRace(err) {
			return "", false, err
		}
		lastErr = err
	}
	return "", false, fmt.Errorf("failed to push %s to branch %s of %s after %d attempts: %w: %w", opts.Path, opts.Branch, r.safeURL, attempts, ErrConflict, lastErr)
}

// raceError marks a failure caused by another writer moving the branch.
type raceError struct{ err error }

func (e *raceError) Error() string { return e.err.Error() }
func (e *raceError) Unwrap() error { return e.err }

func isRace(err error) bool {
	var re *raceError
	return errors.As(err, &re)
}

// attempt clones the branch (or starts it), commits the file when it differs and
// pushes.
func (w *FileWriter) attempt(ctx context.Context, r *remote, opts gitsync.FileWriteOptions, signer git.Signer) (string, bool, error) {
	refs, err := r.list(ctx)
	if err != nil {
		return "", false, err
	}
	branch := plumbing.NewBranchReferenceName(opts.Branch)
	var repo *git.Repository
	if _, exists := refs[branch.String()]; exists {
		repo, err = git.CloneContext(ctx, memory.NewStorage(), memfs.New(), &git.CloneOptions{URL: r.url, Auth: r.auth,
			ReferenceName: branch, SingleBranch: true, Depth: 1, Tags: git.NoTags})
		if err != nil {
			if errors.Is(err, plumbing.ErrReferenceNotFound) || isNoMatchingRef(err) {
				// Deleted since the listing.
				return "", false, &raceError{r.redact(err)}
			}
			return "", false, r.fail("clone", err)
		}
		head, err := repo.Head()
		if err != nil {
			return "", false, fmt.Errorf("failed to read the head of %s: %w", opts.Branch, err)
		}
		if same, err := sameContent(repo, head.Hash(), opts.Path, opts.Content); err != nil {
			return "", false, err
		} else if same {
			return head.Hash().String(), false, nil
		}
	} else {
		repo, err = git.Init(memory.NewStorage(), memfs.New())
		if err != nil {
			return "", false, fmt.Errorf("failed to start a repository: %w", err)
		}
		if err := repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, branch)); err != nil {
			return "", false, err
		}
		if _, err := repo.CreateRemote(&config.RemoteConfig{Name: git.DefaultRemoteName, URLs: []string{r.url}}); err != nil {
			return "", false, r.redact(err)
		}
	}
	commit, err := w.commit(repo, opts, signer)
	if err != nil {
		return "", false, err
	}
	spec := config.RefSpec(branch.String() + ":" + branch.String())
	err = repo.PushContext(ctx, &git.PushOptions{RemoteName: git.DefaultRemoteName, Auth: r.auth, RefSpecs: []config.RefSpec{spec}})
	if err != nil {
		if isRejected(err) {
			return "", false, &raceError{r.redact(err)}
		}
		return "", false, r.fail("push to", err)
	}
	return commit.String(), true, nil
}

// isRejected reports whether a push failed because the branch moved under it.
func isRejected(err error) bool {
	if errors.Is(err, git.ErrNonFastForwardUpdate) || errors.Is(err, git.ErrForceNeeded) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"non-fast-forward", "fetch first", "failed to update ref", "cannot lock ref", "reference already exists", "object not found"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func sameContent(repo *git.Repository, head plumbing.Hash, p string, content []byte) (bool, error) {
	c, err := repo.CommitObject(head)
	if err != nil {
		return false, fmt.Errorf("failed to read commit %s: %w", head, err)
	}
	f, err := c.File(p)
	if errors.Is(err, object.ErrFileNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("failed to read %s at %s: %w", p, head, err)
	}
	rd, err := f.Reader()
	if err != nil {
		return false, fmt.Errorf("failed to read %s at %s: %w", p, head, err)
	}
	defer func() { _ = rd.Close() }()
	old, err := io.ReadAll(rd)
	if err != nil {
		return false, fmt.Errorf("failed to read %s at %s: %w", p, head, err)
	}
	return bytes.Equal(old, content), nil
}

// commit writes the file in repo's work tree and commits it on the current branch.
func (w *FileWriter) commit(repo *git.Repository, opts gitsync.FileWriteOptions, signer git.Signer) (plumbing.Hash, error) {
	wt, err := repo.Worktree()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if err := wt.Filesystem.MkdirAll(path.Dir(opts.Path), 0o755); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("failed to write %s: %w", opts.Path, err)
	}
	f, err := wt.Filesystem.Create(opts.Path)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("failed to write %s: %w", opts.Path, err)
	}
	_, err = f.Write(opts.Content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("failed to write %s: %w", opts.Path, err)
	}
	if _, err := wt.Add(opts.Path); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("failed to stage %s: %w", opts.Path, err)
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	sig := &object.Signature{Name: opts.AuthorName, Email: opts.AuthorEmail, When: now()}
	if sig.Name == "" {
		sig.Name = DefaultAuthorName
	}
	if sig.Email == "" {
		sig.Email = DefaultAuthorEmail
	}
	msg := opts.Message
	if msg == "" {
		msg = "Update " + opts.Path
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, Signer: signer, AllowEmptyCommits: true})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("failed to commit %s: %w", opts.Path, err)
	}
	return h, nil
}

// signingKey reads the first entity of an armored OpenPGP key ring; it must hold an
// unencrypted private key.
func signingKey(armored []byte) (*openpgp.Entity, error) {
	list, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("invalid OpenPGP signing key: %w", err)
	}
	if len(list) == 0 || list[0].PrivateKey == nil {
		return nil, errors.New("the OpenPGP signing key has no private key")
	}
	if list[0].PrivateKey.Encrypted {
		return nil, errors.New("the OpenPGP signing key is encrypted; give it unencrypted")
	}
	return list[0], nil
}

// pgpSigner signs with an OpenPGP key, as go-git does for CommitOptions.SignKey.
type pgpSigner struct{ e *openpgp.Entity }

func (p *pgpSigner) Sign(message io.Reader) ([]byte, error) {
	var b bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&b, p.e, message, nil); err != nil {
		return nil, fmt.Errorf("failed to sign with the OpenPGP key: %w", err)
	}
	return b.Bytes(), nil
}
