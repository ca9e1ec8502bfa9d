package source

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
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
	// Findings are the validation findings of the revision.
	Findings []v1alpha1.PolicyFinding
}

// Reporter writes a sync's result back to Git as the PolicySource's statusWriteBack
// asks. A failure to report never fails the sync; it is logged and retried next time.
type Reporter interface {
	Report(ctx context.Context, src *v1alpha1.PolicySource, r Report) error
}

// StatusSetterFactory builds the commit-status client of a forge; the command wires
// the concrete GitHub, GitLab and Gitea clients in.
type StatusSetterFactory func(spec v1alpha1.CommitStatusSpec, token string) (gitsync.StatusSetter, error)

// GitReporter sets commit statuses and writes the status file.
type GitReporter struct {
	// Secrets reads the token and Git credentials Secrets; it must not be a cache.
	Secrets client.Reader
	// Statuses builds forge clients.
	Statuses StatusSetterFactory
	// Files pushes the status file.
	Files gitsync.FileWriter
	// Runtime, when set, reads the ClusterPolicy and rules (usually from a cache) for
	// the runtime figures of the status file: the split of every workload and the
	// fallback state.
	Runtime client.Reader
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Report sets the commit status and writes the status file, as configured.
func (g *GitReporter) Report(ctx context.Context, src *v1alpha1.PolicySource, r Report) error {
	wb := src.Spec.StatusWriteBack
	commit := gitsync.CommitOf(r.Revision)
	if wb == nil || commit == "" || src.Spec.Git == nil {
		return nil
	}
	var errs []error
	if cs := wb.CommitStatus; cs != nil && g.Statuses != nil {
		errs = append(errs, g.setStatus(ctx, src, *cs, commit, r))
	}
	if sf := wb.StatusFile; sf != nil && g.Files != nil && r.Succeeded {
		errs = append(errs, g.writeFile(ctx, src, *sf, r))
	}
	return errors.Join(errs...)
}

func (g *GitReporter) setStatus(ctx context.Context, src *v1alpha1.PolicySource, cs v1alpha1.CommitStatusSpec, commit string, r Report) error {
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
		status.Description = r.Reason + ": " + r.Message
	}
	if err := setter.SetStatus(ctx, status); err != nil {
		return fmt.Errorf("failed to set the commit status on %s: %w", commit, err)
	}
	return nil
}

// StatusFile is the content of status/<cluster>.yaml.
type StatusFile struct {
	Cluster         string                   `json:"cluster"`
	Source          string                   `json:"source"`
	AppliedRevision string                   `json:"appliedRevision"`
	AppliedAt       string                   `json:"appliedAt,omitempty"`
	Objects         int                      `json:"objects"`
	Findings        []v1alpha1.PolicyFinding `json:"findings,omitempty"`
	// Runtime holds what the runtime controllers observed: the realised split of every
	// workload and the fallback state (savings come later).
	Runtime *RuntimeStatus `json:"runtime,omitempty"`
}

// RuntimeStatus is the runtime part of the status file. It leaves out what changes
// on every pass (messages, timestamps of the last observation), so that the file
// changes, and a commit is made, only when the split or the fallback state does.
type RuntimeStatus struct {
	// Fallback is where Spot capacity stands.
	Fallback *RuntimeFallback `json:"fallback,omitempty"`
	// Workloads is the desired and realised split of each workload, sorted.
	Workloads []RuntimeWorkload `json:"workloads,omitempty"`
}

// RuntimeFallback is the fallback state in the status file.
type RuntimeFallback struct {
	State             v1alpha1.FallbackState      `json:"state"`
	Since             string                      `json:"since,omitempty"`
	NextReturnAttempt string                      `json:"nextReturnAttempt,omitempty"`
	FailedReturns     int32                       `json:"failedReturns,omitempty"`
	Replicas          int32                       `json:"replicas,omitempty"`
	Workloads         []v1alpha1.FallbackWorkload `json:"workloads,omitempty"`
}

// RuntimeWorkload is one workload's split in the status file.
type RuntimeWorkload struct {
	Kind      string                   `json:"kind"`
	Namespace string                   `json:"namespace"`
	Name      string                   `json:"name"`
	Replicas  int32                    `json:"replicas"`
	Desired   v1alpha1.PlacementCounts `json:"desired"`
	Observed  v1alpha1.PlacementCounts `json:"observed"`
}

// runtimeStatus gathers the runtime figures of the cluster from the ClusterPolicy and
// the rules of the cluster; nil when there is nothing to say.
func (g *GitReporter) runtimeStatus(ctx context.Context, cluster string) *RuntimeStatus {
	if g.Runtime == nil {
		return nil
	}
	var policies v1alpha1.ClusterPolicyList
	if err := g.Runtime.List(ctx, &policies); err != nil {
		return nil
	}
	out := &RuntimeStatus{}
	var placements []v1alpha1.WorkloadPlacement
	for _, p := range policies.Items {
		if p.Spec.Cluster.Name != cluster {
			continue
		}
		placements = append(placements, p.Status.Workloads...)
		if f := p.Status.Fallback; f != nil {
			rf := &RuntimeFallback{State: f.State, FailedReturns: f.FailedReturns, Replicas: f.Replicas, Workloads: f.Workloads}
			switch {
			case f.FallenBackSince != nil && f.State != v1alpha1.FallbackAvailable:
				rf.Since = f.FallenBackSince.UTC().Format(time.RFC3339)
			case f.ShortSince != nil && f.State == v1alpha1.FallbackShort:
				rf.Since = f.ShortSince.UTC().Format(time.RFC3339)
			}
			if f.NextReturnAttempt != nil && f.State == v1alpha1.FallbackFallenBack {
				rf.NextReturnAttempt = f.NextReturnAttempt.UTC().Format(time.RFC3339)
			}
			out.Fallback = rf
		}
	}
	var rules v1alpha1.WorkloadDistributionRuleList
	if err := g.Runtime.List(ctx, &rules); err == nil {
		for _, r := range rules.Items {
			if len(r.Spec.Clusters) == 0 || slices.Contains(r.Spec.Clusters, cluster) {
				placements = append(placements, r.Status.Workloads...)
			}
		}
	}
	for _, w := range placements {
		out.Workloads = append(out.Workloads, RuntimeWorkload{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name,
			Replicas: w.Replicas, Desired: w.Desired, Observed: w.Observed})
	}
	slices.SortFunc(out.Workloads, func(a, b RuntimeWorkload) int {
		return strings.Compare(a.Namespace+"/"+a.Kind+"/"+a.Name, b.Namespace+"/"+b.Kind+"/"+b.Name)
	})
	if out.Fallback == nil && len(out.Workloads) == 0 {
		return nil
	}
	return out
}

// writeFile pushes the status file. Its content only changes with the applied
// revision (appliedAt is when that revision was first applied), so an unchanged
// revision writes nothing and the file never triggers a sync of itself.
func (g *GitReporter) writeFile(ctx context.Context, src *v1alpha1.PolicySource, sf v1alpha1.StatusFileSpec, r Report) error {
	content, err := yaml.Marshal(StatusFile{
		Cluster: src.Spec.Cluster, Source: src.Namespace + "/" + src.Name, AppliedRevision: r.Revision,
		AppliedAt: appliedAt(src), Objects: r.Objects, Findings: r.Findings,
		Runtime: g.runtimeStatus(ctx, src.Spec.Cluster),
	})
	if err != nil {
		return err
	}
	auth := gitsync.Auth{}
	if ref := src.Spec.Git.SecretRef; ref != nil {
		data, err := g.secret(ctx, src.Namespace, ref.Name)
		if err != nil {
			return err
		}
		auth = gitsync.AuthFromSecret(data)
	}
	opts := gitsync.FileWriteOptions{
		URL: src.Spec.Git.URL, Auth: auth, Branch: sf.Branch, Path: sf.Path, Content: content,
		AuthorName: "Ballast", AuthorEmail: "ballast@users.noreply.ballast.dev",
		Message: fmt.Sprintf("ballast: %s applied %s", src.Spec.Cluster, r.Revision),
	}
	if opts.Branch == "" {
		opts.Branch = "ballast-status"
	}
	if opts.Path == "" {
		opts.Path = "status/" + src.Spec.Cluster + ".yaml"
	}
	if a := sf.Author; a != nil {
		opts.AuthorName, opts.AuthorEmail = a.Name, a.Email
	}
	if ref := sf.SigningKeyRef; ref != nil {
		data, err := g.secret(ctx, src.Namespace, ref.Name)
		if err != nil {
			return err
		}
		opts.SigningKey, opts.SSHSigningKey = data["git.asc"], data["identity"]
	}
	if _, _, err := g.Files.WriteFile(ctx, opts); err != nil {
		return fmt.Errorf("failed to push the status file %s to %s: %w", opts.Path, opts.Branch, err)
	}
	return nil
}

// appliedAt is when the Applied condition last changed, which is when the current
// revision was applied first.
func appliedAt(src *v1alpha1.PolicySource) string {
	for _, c := range src.Status.Conditions {
		if c.Type == AppliedCondition && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.UTC().Format(time.RFC3339)
		}
	}
	return ""
}

func (g *GitReporter) secret(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	var s corev1.Secret
	if err := g.Secrets.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
		return nil, fmt.Errorf("failed to read Secret %s/%s: %w", namespace, name, err)
	}
	return s.Data, nil
}
