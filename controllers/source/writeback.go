package source

import (
	"context"
	"errors"
	"fmt"
	"strings"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// The defaults of statusWriteBack.statusFile.
const (
	// DefaultStatusBranch is the branch the status file goes to.
	DefaultStatusBranch = "ballast-status"
	// fluxDefaultBranch is the branch a Flux GitRepository without spec.ref follows.
	fluxDefaultBranch = "master"
)

// statusTarget is where a PolicySource's status file goes.
type statusTarget struct {
	// URL is the repository; Secret names its credentials (nil: none).
	URL    string
	Secret *client.ObjectKey
	// Branch and Path are the status file's.
	Branch, Path string
	// Synced is the branch the source syncs; "" when it follows a tag or a commit.
	Synced string
}

// key identifies the file, for remembering what was written there.
func (t *statusTarget) key() string { return t.URL + "\x00" + t.Branch + "\x00" + t.Path }

// writeBackError says why a PolicySource's status file is not written: its
// configuration cannot work, and only a change to it (or to its Flux source) helps.
type writeBackError struct {
	Reason  string
	Message string
}

func (e *writeBackError) Error() string { return e.Message }

// statusFileSpec returns the PolicySource's statusWriteBack.statusFile, nil when unset.
func statusFileSpec(src *v1alpha1.PolicySource) *v1alpha1.StatusFileSpec {
	if wb := src.Spec.StatusWriteBack; wb != nil {
		return wb.StatusFile
	}
	return nil
}

// resolveStatusTarget says where src's status file goes: the repository the source
// syncs (spec.git, or the URL and credentials of a Flux GitRepository in the
// PolicySource's namespace), on a branch the source does not sync. A configuration
// that cannot work is a *writeBackError.
func resolveStatusTarget(ctx context.Context, c client.Reader, src *v1alpha1.PolicySource) (*statusTarget, error) {
	sf := statusFileSpec(src)
	if sf == nil {
		return nil, errors.New("the PolicySource has no statusWriteBack.statusFile")
	}
	var t *statusTarget
	switch {
	case src.Spec.Git != nil:
		g := src.Spec.Git
		t = &statusTarget{URL: g.URL, Synced: syncedBranch(g.Ref)}
		if g.SecretRef != nil {
			t.Secret = &client.ObjectKey{Namespace: src.Namespace, Name: g.SecretRef.Name}
		}
	case src.Spec.SourceRef != nil:
		var err error
		if t, err = fluxStatusTarget(ctx, c, src); err != nil {
			return nil, err
		}
	default:
		return nil, &writeBackError{Reason: UnsupportedSourceReason, Message: "the PolicySource sets neither git nor sourceRef"}
	}
	t.Branch, t.Path = sf.Branch, sf.Path
	if t.Branch == "" {
		t.Branch = DefaultStatusBranch
	}
	if t.Path == "" {
		t.Path = "status/" + src.Spec.Cluster + ".yaml"
	}
	if t.Synced != "" && t.Branch == t.Synced {
		return nil, &writeBackError{Reason: SyncedBranchReason, Message: fmt.Sprintf(
			"statusWriteBack.statusFile.branch %q is the branch this source syncs: every status commit would be a new revision "+
				"to sync, which writes the status file again; nothing is written until it names another branch (the default is %s)",
			t.Branch, DefaultStatusBranch)}
	}
	return t, nil
}

// statusTargetOf is resolveStatusTarget, refusing a repository address that is not
// https://, ssh:// or user@host:path (unless insecure): the status file is pushed with
// credentials.
func statusTargetOf(ctx context.Context, c client.Reader, src *v1alpha1.PolicySource, insecure bool) (*statusTarget, error) {
	t, err := resolveStatusTarget(ctx, c, src)
	if err != nil {
		return nil, err
	}
	if err := gitsync.CheckGitAddress(t.URL, insecure); err != nil {
		return nil, &writeBackError{Reason: InsecureAddressReason, Message: err.Error()}
	}
	return t, nil
}

// syncedBranch is the branch spec.git follows: ref.branch, main (gitsync.DefaultBranch,
// what the fetcher clones) when no ref is set, none for a tag or a commit.
func syncedBranch(ref *v1alpha1.GitRef) string {
	switch {
	case ref == nil:
		return gitsync.DefaultBranch
	case ref.Tag != "" || ref.Commit != "":
		return ""
	case ref.Branch != "":
		return ref.Branch
	default:
		return gitsync.DefaultBranch
	}
}

// fluxStatusTarget reads the Flux GitRepository src consumes. Its credentials are used
// only for a PolicySource in its own namespace, as a Secret reference is local: a
// PolicySource elsewhere must not push with another namespace's credentials.
func fluxStatusTarget(ctx context.Context, c client.Reader, src *v1alpha1.PolicySource) (*statusTarget, error) {
	ref := src.Spec.SourceRef
	if ref.Kind != sourcev1.GitRepositoryKind {
		return nil, &writeBackError{Reason: UnsupportedSourceReason, Message: fmt.Sprintf(
			"statusWriteBack.statusFile needs a Git repository to commit to, and an %s source has none", ref.Kind)}
	}
	ns := ref.Namespace
	if ns == "" {
		ns = src.Namespace
	}
	if ns != src.Namespace {
		return nil, &writeBackError{Reason: CrossNamespaceSourceReason, Message: fmt.Sprintf(
			"the GitRepository %s/%s is in another namespace, and Ballast pushes with a GitRepository's credentials only for "+
				"PolicySources in its namespace; create this PolicySource in %s for a status file", ns, ref.Name, ns)}
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(sourceGVK(ref))
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("the GitRepository %s/%s does not exist", ns, ref.Name)
		}
		return nil, fmt.Errorf("failed to read the GitRepository %s/%s: %w", ns, ref.Name, err)
	}
	spec, _, _ := unstructured.NestedMap(obj.Object, "spec")
	str := func(m map[string]any, key string) string {
		s, _ := m[key].(string)
		return s
	}
	if p := str(spec, "provider"); p != "" && p != sourcev1.GitProviderGeneric {
		return nil, &writeBackError{Reason: UnsupportedSourceReason, Message: fmt.Sprintf(
			"the GitRepository %s/%s authenticates with provider %q; Ballast pushes the status file only with the "+
				"credentials of a secretRef (provider generic)", ns, ref.Name, p)}
	}
	t := &statusTarget{URL: str(spec, "url")}
	if t.URL == "" {
		return nil, fmt.Errorf("the GitRepository %s/%s has no spec.url", ns, ref.Name)
	}
	if secret, ok := spec["secretRef"].(map[string]any); ok && str(secret, "name") != "" {
		t.Secret = &client.ObjectKey{Namespace: ns, Name: str(secret, "name")}
	}
	gitRef, _ := spec["ref"].(map[string]any)
	t.Synced = fluxSyncedBranch(str(gitRef, "branch"), str(gitRef, "tag"), str(gitRef, "semver"), str(gitRef, "name"), str(gitRef, "commit"))
	return t, nil
}

// fluxSyncedBranch is the branch a GitRepository's spec.ref follows, with Flux's
// precedence (commit, name, semver, tag, branch) and its default, master; "" when it
// follows no branch (a commit, a tag, a pull-request ref).
func fluxSyncedBranch(branch, tag, semver, name, commit string) string {
	switch {
	case commit != "":
		return ""
	case name != "":
		b, ok := strings.CutPrefix(name, "refs/heads/")
		if !ok {
			return ""
		}
		return b
	case semver != "" || tag != "":
		return ""
	case branch != "":
		return branch
	default:
		return fluxDefaultBranch
	}
}
