package source

import (
	"context"
	"fmt"
	"strings"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/redact"
)

// Report is what one sync tells Git: the commit it attempted and how it went.
type Report struct {
	// Revision is the attempted revision, e.g. "main@sha1:<hex>".
	Revision string
	// Succeeded is true when the revision was applied.
	Succeeded bool
	// Reason and Message explain a failure (never a secret).
	Reason, Message string
	// Objects is how many objects the revision applied.
	Objects int
}

// Reporter tells Git how a sync went, as the PolicySource's statusWriteBack asks. A
// failure to report never fails the sync; it is logged and retried next time.
type Reporter interface {
	Report(ctx context.Context, src *v1alpha1.PolicySource, r Report) error
}

// StatusSetterFactory builds the commit-status client of a forge; the command wires
// the concrete GitHub, GitLab and Gitea clients in.
type StatusSetterFactory func(spec v1alpha1.CommitStatusSpec, token string) (gitsync.StatusSetter, error)

// GitReporter sets commit statuses on the attempted commits. (The status file is the
// StatusFileReconciler's: it is written when it changed enough, not at every sync.)
type GitReporter struct {
	// Secrets reads the forge token Secrets; it must not be a cache.
	Secrets client.Reader
	// Statuses builds forge clients.
	Statuses StatusSetterFactory
	// AllowInsecureHTTP accepts an http:// forge address, for local development and
	// tests; otherwise only https:// (the token goes with every request).
	AllowInsecureHTTP bool
}

// Report sets the commit status, when configured, on the commit of a Git source
// (spec.git or a Flux GitRepository; an OCIRepository artifact is no commit).
func (g *GitReporter) Report(ctx context.Context, src *v1alpha1.PolicySource, r Report) error {
	wb := src.Spec.StatusWriteBack
	commit := gitsync.CommitOf(r.Revision)
	if wb == nil || wb.CommitStatus == nil || g.Statuses == nil || commit == "" || !fromGit(src) {
		return nil
	}
	return g.setStatus(ctx, src, *wb.CommitStatus, commit, r)
}

// fromGit reports whether src's revisions are Git commits.
func fromGit(src *v1alpha1.PolicySource) bool {
	return src.Spec.Git != nil || (src.Spec.SourceRef != nil && src.Spec.SourceRef.Kind == sourcev1.GitRepositoryKind)
}

func (g *GitReporter) setStatus(ctx context.Context, src *v1alpha1.PolicySource, cs v1alpha1.CommitStatusSpec, commit string, r Report) error {
	if err := gitsync.CheckForgeAddress(cs.Address, g.AllowInsecureHTTP); err != nil {
		return err
	}
	data, err := g.secret(ctx, src.Namespace, cs.SecretRef.Name)
	if err != nil {
		return err
	}
	setter, err := g.Statuses(cs, strings.TrimSpace(string(data["token"])))
	if err != nil {
		return fmt.Errorf("failed to create the %s commit-status client: %w", cs.Provider, err)
	}
	name := cs.Context
	if name == "" {
		name = "ballast/" + src.Spec.Cluster
	}
	status := gitsync.CommitStatus{Commit: commit, Context: name, State: gitsync.CommitStateSuccess,
		Description: fmt.Sprintf("applied %d objects to %s", r.Objects, src.Spec.Cluster)}
	if !r.Succeeded {
		status.State = gitsync.CommitStateFailure
		status.Description = r.Reason + ": " + redact.String(r.Message)
	}
	if err := setter.SetStatus(ctx, status); err != nil {
		return fmt.Errorf("failed to set the commit status on %s: %w", commit, err)
	}
	return nil
}

func (g *GitReporter) secret(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	return readSecret(ctx, g.Secrets, client.ObjectKey{Namespace: namespace, Name: name})
}

// readSecret reads a Secret's data; the error names the Secret, never its data.
func readSecret(ctx context.Context, c client.Reader, key client.ObjectKey) (map[string][]byte, error) {
	var s corev1.Secret
	if err := c.Get(ctx, key, &s); err != nil {
		return nil, fmt.Errorf("failed to read Secret %s: %w", key, err)
	}
	return s.Data, nil
}
