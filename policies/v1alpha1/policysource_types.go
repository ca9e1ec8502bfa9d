package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PolicySourceSpec tells the controller where the policy repository is, which cluster
// it serves, how often to sync and where to report back.
// +kubebuilder:validation:XValidation:rule="has(self.git) != has(self.sourceRef)",message="set exactly one of git and sourceRef"
// +kubebuilder:validation:XValidation:rule="!has(self.statusWriteBack) || !has(self.statusWriteBack.statusFile) || !has(self.sourceRef) || self.sourceRef.kind != 'OCIRepository'",message="statusWriteBack.statusFile needs a Git repository to commit to, and an OCIRepository source has none: use a GitRepository or spec.git"
// +kubebuilder:validation:XValidation:rule="!has(self.statusWriteBack) || !has(self.statusWriteBack.commitStatus) || !has(self.sourceRef) || self.sourceRef.kind != 'OCIRepository'",message="statusWriteBack.commitStatus needs a Git commit, and an OCIRepository artifact has none: use a GitRepository or spec.git"
// +kubebuilder:validation:XValidation:rule="!has(self.statusWriteBack) || !has(self.statusWriteBack.statusFile) || !has(self.git) || (has(self.git.ref) && ((has(self.git.ref.tag) && size(self.git.ref.tag) > 0) || (has(self.git.ref.commit) && size(self.git.ref.commit) > 0))) || ((has(self.statusWriteBack.statusFile.branch) && size(self.statusWriteBack.statusFile.branch) > 0) ? self.statusWriteBack.statusFile.branch : 'ballast-status') != ((has(self.git.ref) && has(self.git.ref.branch) && size(self.git.ref.branch) > 0) ? self.git.ref.branch : 'main')",message="statusWriteBack.statusFile.branch is the branch this source syncs: every status commit would be a new revision to sync, which writes the status file again; use another branch (the default is ballast-status)"
type PolicySourceSpec struct {
	// Cluster is the ClusterPolicy cluster name this controller serves; the policies of
	// other clusters in the repository are validated but not applied.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Cluster string `json:"cluster"`

	// Git syncs the repository directly.
	// +optional
	Git *GitSource `json:"git,omitempty"`

	// SourceRef consumes the artifact of a Flux GitRepository or OCIRepository.
	// +optional
	SourceRef *SourceReference `json:"sourceRef,omitempty"`

	// Path of the policy tree inside the source. Defaults to the root.
	// +kubebuilder:validation:Pattern=`^(\./)?([^/.][^/]*(/[^/]+)*)?/?$`
	// +optional
	Path string `json:"path,omitempty"`

	// Interval between syncs.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	Interval metav1.Duration `json:"interval"`

	// RetryInterval after a failed sync. Defaults to Interval.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	RetryInterval *metav1.Duration `json:"retryInterval,omitempty"`

	// Timeout of one sync's Git and apply operations. Defaults to 60s.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Suspend stops syncing; what was applied stays.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// Prune deletes objects this source applied before and no longer renders, and
	// everything it applied when the PolicySource is deleted.
	// +optional
	Prune bool `json:"prune,omitempty"`

	// AllowEmpty lets a sync remove every NodePool this source owns. Without it such a
	// render (often a wrong path) is refused and the last good objects stay.
	// +optional
	AllowEmpty bool `json:"allowEmpty,omitempty"`

	// StatusWriteBack reports sync results back to Git.
	// +optional
	StatusWriteBack *StatusWriteBack `json:"statusWriteBack,omitempty"`

	// ServiceAccountName names a ServiceAccount of the PolicySource's namespace that
	// the controller impersonates to apply and prune this source's objects, so that
	// the source may change only what that account may change (a refusal is reported
	// in the Applied condition, and nothing of the revision is applied). Without it,
	// the controller applies with its own permissions.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
}

// GitSource is a Git repository synced by the controller.
// +kubebuilder:validation:XValidation:rule="!self.url.startsWith('ssh://') || has(self.secretRef)",message="an ssh:// url needs a secretRef with identity and known_hosts"
type GitSource struct {
	// URL of the repository: https:// or ssh://.
	// +kubebuilder:validation:Pattern="^(https?|ssh)://.*$"
	URL string `json:"url"`

	// Ref to check out. Defaults to the branch main.
	// +optional
	Ref *GitRef `json:"ref,omitempty"`

	// SecretRef names a Secret in the PolicySource's namespace with the credentials:
	// username and password, or bearerToken, for HTTPS; identity and known_hosts for SSH.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
}

// GitRef selects a revision: at most one of branch, tag and commit.
// +kubebuilder:validation:XValidation:rule="(has(self.branch) ? 1 : 0) + (has(self.tag) ? 1 : 0) + (has(self.commit) ? 1 : 0) <= 1",message="set at most one of branch, tag and commit"
type GitRef struct {
	// Branch to follow.
	// +optional
	Branch string `json:"branch,omitempty"`
	// Tag to check out.
	// +optional
	Tag string `json:"tag,omitempty"`
	// Commit SHA to check out.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{40}$`
	// +optional
	Commit string `json:"commit,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// Name of the object.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// SourceReference points at a Flux source object.
type SourceReference struct {
	// APIVersion of the source, e.g. source.toolkit.fluxcd.io/v1.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// Kind of the source.
	// +kubebuilder:validation:Enum=GitRepository;OCIRepository
	Kind string `json:"kind"`
	// Name of the source.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Namespace of the source; the PolicySource's namespace when empty.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// ForgeProvider is a Git forge whose commit-status API Ballast speaks.
// +kubebuilder:validation:Enum=github;gitlab;gitea
type ForgeProvider string

// StatusWriteBack configures what the controller reports to Git after each sync.
type StatusWriteBack struct {
	// CommitStatus sets a status on every attempted commit. Not for OCIRepository
	// sources, whose artifacts are no Git commits.
	// +optional
	CommitStatus *CommitStatusSpec `json:"commitStatus,omitempty"`
	// StatusFile commits status/<cluster>.yaml to a branch the sync ignores. Not for
	// OCIRepository sources, which have no Git repository.
	// +optional
	StatusFile *StatusFileSpec `json:"statusFile,omitempty"`
}

// CommitStatusSpec configures commit statuses.
type CommitStatusSpec struct {
	// Provider is github, gitlab or gitea.
	Provider ForgeProvider `json:"provider"`
	// Address of the forge's API; defaults to the provider's public API.
	// +optional
	Address string `json:"address,omitempty"`
	// Repository on the forge, e.g. platform/policies.
	Repository string `json:"repository"`
	// Context is the status name. Defaults to ballast/<cluster>.
	// +optional
	Context string `json:"context,omitempty"`
	// SecretRef names a Secret with a token key.
	SecretRef LocalObjectReference `json:"secretRef"`
}

// StatusFileSpec configures the status file committed back to Git: the applied
// revision, the last failure, and the runtime figures (the split of every workload,
// the fallback state, savings, commitments). It goes to the repository the source
// syncs (spec.git.url, or the url of the Flux GitRepository with its secretRef), on a
// branch the source does not sync.
//
// A commit is made only when something worth a commit changed: a new applied revision
// or a failure gone writes at once; a new failure, a workload's split, the fallback
// state, or a money figure moved by more than both $10/month and 5% writes no sooner
// than minInterval after the last status commit. Smaller changes ride along with the
// next such commit.
type StatusFileSpec struct {
	// Branch the status file is pushed to. Defaults to ballast-status. It must not be
	// the branch the source syncs (spec.git.ref.branch, main when unset; for a Flux
	// GitRepository its spec.ref), or every status commit would be synced again.
	// +optional
	Branch string `json:"branch,omitempty"`
	// Path of the file. Defaults to status/<cluster>.yaml.
	// +optional
	Path string `json:"path,omitempty"`
	// MinInterval is the least time between two status commits for changes of the
	// failure and the runtime figures; a new applied revision and a failure gone are
	// written at once. Defaults to 5m.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	MinInterval *metav1.Duration `json:"minInterval,omitempty"`
	// Author of the status commits.
	// +optional
	Author *CommitAuthor `json:"author,omitempty"`
	// SigningKeyRef names a Secret with a git.asc (GPG) or identity (SSH) signing key.
	// +optional
	SigningKeyRef *LocalObjectReference `json:"signingKeyRef,omitempty"`
}

// CommitAuthor is the identity of Ballast's commits.
type CommitAuthor struct {
	// Name of the author.
	Name string `json:"name"`
	// Email of the author.
	Email string `json:"email"`
}

// ResourceRef is an object in the inventory.
type ResourceRef struct {
	// ID is <namespace>_<name>_<group>_<kind>, as Flux writes it.
	ID string `json:"id"`
	// Version is the object's API version.
	Version string `json:"v"`
}

// ResourceInventory lists the objects a PolicySource applied.
type ResourceInventory struct {
	// Entries of the inventory.
	Entries []ResourceRef `json:"entries"`
}

// PolicySourceStatus is the result of the last syncs.
type PolicySourceStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Reconciling, Stalled, and the source, validation and apply steps.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastHandledReconcileAt is the last reconcile.fluxcd.io/requestedAt value handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
	// LastAttemptedRevision is the revision of the last sync attempt.
	// +optional
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`
	// LastAppliedRevision is the revision last applied successfully.
	// +optional
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`
	// Inventory of the objects applied.
	// +optional
	Inventory *ResourceInventory `json:"inventory,omitempty"`
	// Findings of the last validation (at most 50).
	// +kubebuilder:validation:MaxItems=50
	// +optional
	Findings []PolicyFinding `json:"findings,omitempty"`
}

// PolicySource syncs a policy repository into the cluster.
// Its name is the value of the ballast.dev/source label on what it applies, so it must
// be a valid label value.
// +kubebuilder:object:root=true
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="a PolicySource name is a label value: at most 63 characters"
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=psrc,categories=ballast
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.cluster`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.lastAppliedRevision`
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PolicySource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec PolicySourceSpec `json:"spec"`
	// +optional
	Status PolicySourceStatus `json:"status,omitempty"`
}

// PolicySourceList is a list of PolicySource.
// +kubebuilder:object:root=true
type PolicySourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PolicySource `json:"items"`
}
