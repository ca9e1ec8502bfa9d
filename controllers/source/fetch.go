package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Snapshot is one revision of a policy source, ready to be read.
type Snapshot struct {
	// Revision names the revision the Flux way, e.g. "main@sha1:<hex>".
	Revision string
	// Files is the source's file tree, rooted at the top of the repository or artifact:
	// the files of Revision and nothing else.
	Files fs.FS
	// Unchanged says nothing was downloaded: the fetcher's own copy was verified to
	// hold Revision already.
	Unchanged bool
}

// Fetcher gets the current revision of a PolicySource's source.
type Fetcher interface {
	// Fetch returns the current revision of src's source. It reuses what it keeps on
	// disk only when that is verified to be the revision it returns, never because a
	// status (written by whichever replica led) names that revision. Errors never
	// contain a credential.
	Fetch(ctx context.Context, src *v1alpha1.PolicySource) (*Snapshot, error)
	// Forget removes what the fetcher keeps on disk for src, once src is deleted.
	Forget(src *v1alpha1.PolicySource) error
}

// Sources fetches a PolicySource from Git or from a Flux artifact, whichever its spec
// names.
type Sources struct {
	// Git fetches spec.git.
	Git Fetcher
	// Artifact fetches spec.sourceRef.
	Artifact Fetcher
}

// Fetch implements Fetcher.
func (s Sources) Fetch(ctx context.Context, src *v1alpha1.PolicySource) (*Snapshot, error) {
	f, err := s.pick(src)
	if err != nil {
		return nil, err
	}
	return f.Fetch(ctx, src)
}

// Forget implements Fetcher.
func (s Sources) Forget(src *v1alpha1.PolicySource) error {
	f, err := s.pick(src)
	if err != nil {
		return nil //nolint:nilerr // nothing was fetched for a source of no kind
	}
	return f.Forget(src)
}

func (s Sources) pick(src *v1alpha1.PolicySource) (Fetcher, error) {
	switch {
	case src.Spec.Git != nil && s.Git != nil:
		return s.Git, nil
	case src.Spec.SourceRef != nil && s.Artifact != nil:
		return s.Artifact, nil
	case src.Spec.Git != nil:
		return nil, errors.New("this controller does not sync Git repositories itself")
	case src.Spec.SourceRef != nil:
		return nil, errors.New("this controller does not read Flux sources")
	default:
		return nil, errors.New("the PolicySource sets neither git nor sourceRef")
	}
}

// GitFetcher fetches spec.git with a gitsync.Cloner, keeping one work tree per
// PolicySource so that a remote still at the commit the work tree holds (verified by
// the Cloner) is not fetched again.
type GitFetcher struct {
	// Cloner clones and fetches.
	Cloner gitsync.Cloner
	// Secrets reads the credentials Secret. Pass a reader that does not cache: a cached
	// client would watch every Secret of the cluster.
	Secrets client.Reader
	// Dir holds the work trees, one per PolicySource.
	Dir string
}

// Fetch implements Fetcher.
func (f *GitFetcher) Fetch(ctx context.Context, src *v1alpha1.PolicySource) (*Snapshot, error) {
	g := src.Spec.Git
	if g == nil {
		return nil, errors.New("the PolicySource has no git source")
	}
	opts := gitsync.CloneOptions{URL: g.URL, Shallow: true}
	if g.Ref != nil {
		opts.Branch, opts.Tag, opts.Commit = g.Ref.Branch, g.Ref.Tag, g.Ref.Commit
	}
	if g.SecretRef != nil {
		var secret corev1.Secret
		key := client.ObjectKey{Namespace: src.Namespace, Name: g.SecretRef.Name}
		if err := f.Secrets.Get(ctx, key, &secret); err != nil {
			// The API error names the Secret and the reason, never its data.
			return nil, fmt.Errorf("failed to read the credentials Secret %s: %w", key, err)
		}
		opts.Auth = gitsync.AuthFromSecret(secret.Data)
	}
	dir := f.workTree(src)
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the work tree directory: %w", err)
	}
	// The Cloner reuses the work tree only when it holds the remote's commit, verified
	// object by object and file by file; the revision is the one checked out, whatever
	// the status says (another replica may have written it from its own work tree).
	co, err := f.Cloner.Clone(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	if co.Revision.Commit == "" {
		return nil, errors.New("the checkout names no commit")
	}
	if co.Replaced != "" {
		logf.FromContext(ctx).Info("replaced the work tree", "reason", co.Replaced, "revision", co.Revision.Commit)
	}
	rev := co.Revision.Name
	if rev == "" {
		rev = gitsync.RevisionName(opts.RefName(), co.Revision.Commit)
	}
	root := co.Dir
	if root == "" {
		root = dir
	}
	return &Snapshot{Revision: rev, Files: confined(root), Unchanged: co.Unchanged}, nil
}

// confined returns the tree at dir as an fs.FS that never leaves dir: every name is
// opened through an os.Root, so a symbolic link that leads out of it (to the
// controller's files, or another source's checkout) fails to open instead of being
// followed, whoever reads the snapshot. The loader follows no link out of the policy
// tree either (policies.Load); this holds for every other reader too.
func confined(dir string) fs.FS { return rootFS(dir) }

// rootFS opens an os.Root for each call, so that no file descriptor outlives the
// snapshot.
type rootFS string

func (d rootFS) root(op, name string) (*os.Root, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return os.OpenRoot(string(d))
}

// Open implements fs.FS.
func (d rootFS) Open(name string) (fs.File, error) {
	r, err := d.root("open", name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }()
	return r.Open(name)
}

// Lstat implements fs.ReadLinkFS.
func (d rootFS) Lstat(name string) (fs.FileInfo, error) {
	r, err := d.root("lstat", name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }()
	return r.Lstat(name)
}

// ReadLink implements fs.ReadLinkFS.
func (d rootFS) ReadLink(name string) (string, error) {
	r, err := d.root("readlink", name)
	if err != nil {
		return "", err
	}
	defer func() { _ = r.Close() }()
	return r.Readlink(name)
}

// Stat implements fs.StatFS.
func (d rootFS) Stat(name string) (fs.FileInfo, error) {
	r, err := d.root("stat", name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }()
	return r.Stat(name)
}

// Forget implements Fetcher.
func (f *GitFetcher) Forget(src *v1alpha1.PolicySource) error {
	return os.RemoveAll(f.workTree(src))
}

// workTree is keyed by UID too, so that a PolicySource deleted and created again under
// the same name starts afresh.
func (f *GitFetcher) workTree(src *v1alpha1.PolicySource) string {
	return filepath.Join(f.Dir, "git", src.Namespace, src.Name+"-"+string(src.UID))
}
