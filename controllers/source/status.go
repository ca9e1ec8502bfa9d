package source

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/fluxcd/pkg/apis/meta"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/controllers/internal/status"
	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Condition types of a PolicySource besides Ready, Reconciling and Stalled; each is owned
// by one step.
const (
	// SourceReadyCondition says whether the source's current revision was fetched.
	SourceReadyCondition = "SourceReady"
	// ValidatedCondition says whether that revision passed validation.
	ValidatedCondition = "Validated"
	// AppliedCondition says whether its objects were rendered, applied and pruned.
	AppliedCondition = "Applied"
	// StatusWriteBackCondition says whether the status file can be written where
	// spec.statusWriteBack.statusFile says; absent without a status file.
	StatusWriteBackCondition = "StatusWriteBack"
	// ClusterClaimCondition says whether this source applies its cluster (True) or
	// waits while another PolicySource, which claimed the cluster first, applies it
	// (False), and names the PolicySources that render the same cluster.
	ClusterClaimCondition = "ClusterClaim"
)

// Condition reasons.
const (
	// SucceededReason: the step did its job.
	SucceededReason = meta.SucceededReason
	// ArtifactFailedReason: the source could not be fetched, downloaded or verified.
	ArtifactFailedReason = meta.ArtifactFailedReason
	// AuthenticationFailedReason: the Git remote refused the credentials.
	AuthenticationFailedReason = "AuthenticationFailed"
	// PathNotFoundReason: spec.path does not exist in the revision.
	PathNotFoundReason = "PathNotFound"
	// ValidationFailedReason: the revision has error findings.
	ValidationFailedReason = "ValidationFailed"
	// RenderFailedReason: the validated policy could not be rendered.
	RenderFailedReason = "RenderFailed"
	// EmptyRenderRefusedReason: the render would remove every NodePool the source owns
	// and spec.allowEmpty is not set.
	EmptyRenderRefusedReason = "EmptyRenderRefused"
	// ApplyFailedReason: the API server refused the objects or could not be reached.
	ApplyFailedReason = "ApplyFailed"
	// PruneFailedReason: objects gone from the render could not be deleted.
	PruneFailedReason = meta.PruneFailedReason
	// InsecureAddressReason: spec.git.url (or the status file's repository) is not an
	// https://, ssh:// or user@host:path address, and the controller does not allow
	// insecure ones.
	InsecureAddressReason = "InsecureAddress"
	// UnsafeLinkReason: the revision holds a symbolic link out of the repository.
	UnsafeLinkReason = "UnsafeLink"
	// WrongClusterReason: spec.cluster is not the cluster this controller serves.
	WrongClusterReason = "WrongCluster"
	// NamespaceNotAllowedReason: the PolicySource's namespace is not one this
	// controller accepts PolicySources from (--policy-source-namespaces).
	NamespaceNotAllowedReason = "NamespaceNotAllowed"
	// ForbiddenReason: the API server refused to let the source's identity (the
	// ServiceAccount of spec.serviceAccountName, or the controller's) apply or prune an
	// object.
	ForbiddenReason = "Forbidden"
	// SyncedBranchReason: the status file would go to the branch the source syncs.
	SyncedBranchReason = "SyncedBranch"
	// UnsupportedSourceReason: the source has no Git repository the status file can go
	// to (an OCIRepository), or none Ballast can push to (a GitRepository
	// authenticating through a cloud provider).
	UnsupportedSourceReason = "UnsupportedSource"
	// CrossNamespaceSourceReason: the Flux GitRepository, whose credentials would push
	// the status file, is in another namespace.
	CrossNamespaceSourceReason = "CrossNamespaceSource"
	// ClusterClaimedByOtherSourceReason: another PolicySource, which claimed the
	// cluster first, applies it; this one applies nothing until that one is deleted or
	// serves another cluster.
	ClusterClaimedByOtherSourceReason = "ClusterClaimedByOtherSource"
	// OtherSourcesWaitingReason: this source applies its cluster, and other
	// PolicySources render the same cluster and wait.
	OtherSourcesWaitingReason = "OtherSourcesWaiting"
	// ReconciliationFailedReason: the controller could not read what it needs to
	// decide (the PolicySources of the cluster).
	ReconciliationFailedReason = meta.ReconciliationFailedReason
	// ProgressingWithRetryReason: a step failed in a way retrying may fix.
	ProgressingWithRetryReason = meta.ProgressingWithRetryReason
	// ReconciliationSucceededReason: the revision is applied.
	ReconciliationSucceededReason = meta.ReconciliationSucceededReason
)

// stepError is a failed step: the condition it owns, why, and whether retrying the
// same revision can help (Stalled false) or only a change to the source or the spec
// can (Stalled true).
type stepError struct {
	Condition string
	Reason    string
	Err       error
	Stalled   bool
}

func (e *stepError) Error() string { return e.Err.Error() }
func (e *stepError) Unwrap() error { return e.Err }

// outcome is what one reconcile observed, the input of summarize.
type outcome struct {
	// Failure is the step that failed; nil when every step succeeded.
	Failure *stepError
	// Revision is the revision attempted ("" when the fetch failed).
	Revision string
	// Objects is how many objects the revision applied.
	Objects int
}

// summary holds the kstatus conditions computed from an outcome; a nil condition is
// removed from status.
type summary struct {
	Ready       metav1.Condition
	Reconciling *metav1.Condition
	Stalled     *metav1.Condition
}

// summarize computes Ready, Reconciling and Stalled the way kstatus reads them: success
// is Ready=True with neither of the others; a failure retrying may fix is Ready=False
// and Reconciling=True; a failure only a new revision or spec can fix is Ready=False and
// Stalled=True.
func summarize(o outcome) summary {
	if o.Failure == nil {
		return summary{Ready: metav1.Condition{
			Type: meta.ReadyCondition, Status: metav1.ConditionTrue, Reason: ReconciliationSucceededReason,
			Message: fmt.Sprintf("Applied revision: %s (%d objects)", o.Revision, o.Objects),
		}}
	}
	f := o.Failure
	s := summary{Ready: metav1.Condition{
		Type: meta.ReadyCondition, Status: metav1.ConditionFalse, Reason: f.Reason, Message: f.Err.Error(),
	}}
	if f.Stalled {
		s.Stalled = &metav1.Condition{Type: meta.StalledCondition, Status: metav1.ConditionTrue, Reason: f.Reason, Message: f.Err.Error()}
	} else {
		s.Reconciling = &metav1.Condition{
			Type: meta.ReconcilingCondition, Status: metav1.ConditionTrue, Reason: ProgressingWithRetryReason,
			Message: "retrying: " + f.Err.Error(),
		}
	}
	return s
}

// maxFindings bounds status.findings (the CRD allows 50), maxSummarized the findings
// named in a condition message and maxSummary the text of each.
const (
	maxFindings   = 50
	maxSummarized = 3
	maxSummary    = 512
)

// findingsStatus returns the findings to keep in status: errors first, then warnings,
// then notes, at most maxFindings.
func findingsStatus(fs policies.Findings) []v1alpha1.PolicyFinding {
	sorted := slices.Clone(fs)
	rank := map[policies.Severity]int{policies.SeverityError: 0, policies.SeverityWarning: 1, policies.SeverityInfo: 2}
	slices.SortStableFunc(sorted, func(a, b policies.Finding) int { return rank[a.Severity] - rank[b.Severity] })
	if len(sorted) > maxFindings {
		sorted = sorted[:maxFindings]
	}
	out := make([]v1alpha1.PolicyFinding, 0, len(sorted))
	for _, f := range sorted {
		out = append(out, boundFinding(f.Status()))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// findingsMessage summarises the error findings for a condition message: the count and
// the first few as file:line:column: message.
func findingsMessage(fs policies.Findings) string {
	var b strings.Builder
	fmt.Fprintf(&b, "validation failed (%s)", policies.Summary(fs))
	n := 0
	for _, f := range fs {
		if f.Severity != policies.SeverityError {
			continue
		}
		if n++; n > maxSummarized {
			continue
		}
		field := ""
		if f.Field != "" {
			field = f.Field + ": "
		}
		b.WriteString("; ")
		b.WriteString(status.Message(fmt.Sprintf("%s: %s%s", f.Position, field, f.Message), maxSummary))
	}
	if n > maxSummarized {
		fmt.Fprintf(&b, "; and %d more", n-maxSummarized)
	}
	return b.String()
}

// boundFinding bounds (and redacts) the text of a finding: a message quoting a
// 100 KiB key must not make the status too large to write. With at most maxFindings
// findings, status.findings stays under 50 × (1 KiB + 2 × 512 B) plus the rule ids.
func boundFinding(f v1alpha1.PolicyFinding) v1alpha1.PolicyFinding {
	f.Message = status.Message(f.Message, status.MaxFindingMessage)
	f.File = status.Message(f.File, status.MaxFindingField)
	f.Field = status.Message(f.Field, status.MaxFindingField)
	f.Rule = status.Message(f.Rule, status.MaxFindingField)
	return f
}

// statusPatch writes what one pass changed in a PolicySource's status: a merge patch
// of the status subresource from the copy the pass started from, under the
// controller's field manager, and no request when nothing changed. This reconciler is
// the only writer of a PolicySource's status (recordInventory's conditional patch
// included), so the patch needs no conflict resolution: it sends only the fields the
// pass changed, a list it changed (conditions, findings, inventory) whole, and leaves
// the rest as the API server has it.
//
// It is not Flux's patch.Helper: that helper merges conditions through go-cmp, whose
// reflective method lookups, once reachable, make the linker keep every exported
// method of every type ever held in an interface (a third of the binary;
// CONTRIBUTING.md, "Binary size").
type statusPatch struct{ before *v1alpha1.PolicySource }

// newStatusPatch remembers obj as the pass starts.
func newStatusPatch(obj *v1alpha1.PolicySource) statusPatch {
	return statusPatch{before: obj.DeepCopy()}
}

// write sends obj's status changes since newStatusPatch.
func (p statusPatch) write(ctx context.Context, c client.Client, obj *v1alpha1.PolicySource) error {
	if apiequality.Semantic.DeepEqual(p.before.Status, obj.Status) {
		return nil
	}
	return c.Status().Patch(ctx, obj, client.MergeFrom(p.before), client.FieldOwner(FieldManager))
}

// boundStatus makes what the sync wrote to obj's status writable and safe to show:
// every condition message and finding redacted and within its bound. The steps
// bound what they write already; this is the one place that sees it all before the
// patch.
func boundStatus(obj *v1alpha1.PolicySource) {
	for i := range obj.Status.Conditions {
		c := &obj.Status.Conditions[i]
		c.Message = status.Message(c.Message, status.MaxMessage)
	}
	if len(obj.Status.Findings) > maxFindings {
		obj.Status.Findings = obj.Status.Findings[:maxFindings]
	}
	for i := range obj.Status.Findings {
		obj.Status.Findings[i] = boundFinding(obj.Status.Findings[i])
	}
}
