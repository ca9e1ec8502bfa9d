package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gogit"
	"github.com/ballast-dev/ballast/plan"
	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/render"
)

// workspace is where diff and plan read policy trees: the Git repository holding PATH
// (revisions and the working tree), or PATH alone when it is not in one.
type workspace struct {
	// git reads revisions; nil outside a repository.
	git *gogit.Repository
	// root is the repository's top-level directory, or PATH outside a repository.
	root string
	// rel is PATH relative to root, slash-separated ("." for root itself).
	rel string
	// display names files in findings: rel inside a repository (paths as in the
	// repository, as pull requests show them), PATH as given outside.
	display string
	// tree is root on disk, opened when the working tree is first read.
	tree *workTree
}

// Close releases the working tree, if it was read.
func (w *workspace) Close() error {
	if w.tree == nil {
		return nil
	}
	return w.tree.Close()
}

// openWorkspace finds the repository holding path, a directory.
func openWorkspace(path string) (*workspace, error) {
	info, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist", path)
		}
		return nil, fmt.Errorf("failed to read %s: %w", path, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%s is not a directory: diff and plan read a policy tree", path)
	}
	repo, err := gogit.Open(path)
	if gitsync.IsNotFound(err) {
		return &workspace{root: path, rel: ".", display: filepath.ToSlash(filepath.Clean(path))}, nil
	}
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("failed to resolve %s: %w", path, err)
	}
	root := repo.Root()
	if root == "" {
		return nil, fmt.Errorf("the repository holding %s is bare: run in a checkout", path)
	}
	// Compare real paths: the temporary directory may be reached through a link.
	realAbs, err1 := filepath.EvalSymlinks(abs)
	realRoot, err2 := filepath.EvalSymlinks(root)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("failed to resolve %s: %w", path, err)
	}
	rel, err := filepath.Rel(realRoot, realAbs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("%s is outside the repository at %s", path, root)
	}
	rel = filepath.ToSlash(rel)
	return &workspace{git: repo, root: realRoot, rel: rel, display: rel}, nil
}

// side is the policy tree at one revision.
type side struct {
	// label names the revision for people: "main (1a2b3c4)", "working tree".
	label string
	// rev is the commit; nil for the working tree.
	rev *gitsync.Revision
	// fsys holds the files, rooted at the workspace root.
	fsys fs.FS
	// repo is the loaded policy tree; empty when PATH does not exist at the revision.
	repo *policies.Repository
	// missing says PATH does not exist at the revision.
	missing bool
	// findings are the validation findings.
	findings policies.Findings
	ws       *workspace
}

// resolve resolves a revision; it explains a revision missing from a shallow clone.
func (w *workspace) resolve(ctx context.Context, ref string) (gitsync.Revision, error) {
	if w.git == nil {
		return gitsync.Revision{}, fmt.Errorf("cannot read revision %q: %s is not in a Git repository", ref, w.root)
	}
	rev, err := w.git.Resolve(ctx, ref)
	if gitsync.IsNotFound(err) {
		return rev, fmt.Errorf("%w (in CI, fetch it: e.g. fetch-depth: 0 on GitHub, GIT_DEPTH: 0 on GitLab)", err)
	}
	return rev, err
}

// load reads and validates the policy tree at a revision; rev nil reads the working
// tree. today dates the expiry checks.
func (w *workspace) load(ctx context.Context, rev *gitsync.Revision, today time.Time) (*side, error) {
	s := &side{ws: w, rev: rev}
	if rev == nil {
		s.label = "working tree"
		if w.tree == nil {
			tree, err := openWorkTree(w.root)
			if err != nil {
				return nil, err
			}
			w.tree = tree
		}
		s.fsys = w.tree
	} else {
		s.label = rev.String()
		fsys, err := w.git.Files(ctx, rev.Commit)
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", rev, err)
		}
		s.fsys = fsys
	}
	if _, err := fs.Stat(s.fsys, w.rel); errors.Is(err, fs.ErrNotExist) {
		s.missing, s.repo = true, &policies.Repository{}
		return s, nil
	}
	repo, err := policies.Load(s.fsys, w.rel, w.display)
	if err != nil {
		return nil, fmt.Errorf("failed to load the policy tree at %s: %w", s.label, err)
	}
	s.repo = repo
	s.findings = repo.ValidateWith(policies.Options{Today: today})
	return s, nil
}

// file maps a file name as shown in findings back to its path in fsys.
func (s *side) file(display string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(display, s.ws.display), "/")
	if s.ws.git == nil {
		return path.Clean(rel)
	}
	return path.Join(s.ws.rel, rel)
}

// render renders every cluster (or only cluster) of a valid tree.
func (s *side) render(cluster, source string, now time.Time) ([]plan.Object, error) {
	var out []plan.Object
	for _, c := range s.repo.Clusters() {
		if cluster != "" && c != cluster {
			continue
		}
		policy, rules, err := s.repo.ForCluster(c)
		if err != nil {
			return nil, err
		}
		objs, err := render.Render(render.Input{Policy: policy, Rules: rules, Source: source, Now: now})
		if err != nil {
			return nil, fmt.Errorf("failed to render cluster %s at %s: %w", c, s.label, err)
		}
		flat, err := plan.Objects(c, objs)
		if err != nil {
			return nil, err
		}
		out = append(out, flat...)
	}
	return out, nil
}

// referenceTime parses --time (RFC 3339), defaulting to now.
func referenceTime(value string, now time.Time) (time.Time, error) {
	if value == "" {
		return now, nil
	}
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return time.Time{}, fmt.Errorf("--time %q is not an RFC 3339 time such as 2026-11-23T12:00:00Z", value)
	}
	return t, nil
}
