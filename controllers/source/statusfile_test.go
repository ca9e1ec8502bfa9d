package source

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// baseFile is a status file with every kind of figure, for compare's cases to change.
func baseFile() *StatusFile {
	return &StatusFile{
		Cluster: "prod", Source: "ballast-system/policies", AppliedRevision: "main@sha1:aaaa", AppliedAt: "2026-03-01T12:00:00Z",
		Objects: 5, UpdatedAt: "2026-03-01T12:00:00Z",
		Runtime: &RuntimeStatus{
			Fallback: &RuntimeFallback{State: v1alpha1.FallbackAvailable},
			Workloads: []RuntimeWorkload{
				{Kind: "Deployment", Namespace: "shop", Name: "cart", Replicas: 4,
					Desired: v1alpha1.PlacementCounts{OnDemand: 1, Spot: 3}, Observed: v1alpha1.PlacementCounts{OnDemand: 1, Spot: 3}},
				{Kind: "Deployment", Namespace: "web", Name: "front", Replicas: 2,
					Desired: v1alpha1.PlacementCounts{OnDemand: 2}, Observed: v1alpha1.PlacementCounts{OnDemand: 2}},
			},
			Savings: &RuntimeSavings{Prices: "aws", MonthlyPotential: "1000.00", MonthlyActual: "600.00", MonthlySavings: "400.00",
				SpotSavings: "300.00", CommitmentSavings: "100.00", SpotPercent: 60, Nodes: 10, SpotNodes: 6, Replicas: 40, SpotReplicas: 24},
			Commitments: &RuntimeCommitments{MonthlyUnused: "300.00",
				ReservedInstances: []RuntimeReserved{{InstanceType: "m5.large", Committed: 3, Used: 2, Unused: 1}},
				SavingsPlans:      []RuntimeSavingsPlan{{Type: "Compute", CommittedPerHour: "1.0000", UsedPerHour: "0.5000", UnusedPerHour: "0.5000"}}},
			BinPacking: &RuntimeBinPacking{LastPass: "2026-03-01T12:00:00Z", Message: "no node below the thresholds long enough"},
		},
	}
}

// TestCompare: what makes a commit at once, what waits for the minimum interval, and
// what only rides along with the next commit.
func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name   string
		last   func(*StatusFile) *StatusFile
		next   func(*StatusFile)
		want   change
		reason string
	}{
		{name: "same", want: unchanged},
		{name: "only the times", next: func(f *StatusFile) { f.UpdatedAt, f.AppliedAt = "2026-03-02T00:00:00Z", "" }, want: unchanged},
		{name: "no file yet", last: func(*StatusFile) *StatusFile { return nil }, want: immediate, reason: "status of main@sha1:aaaa"},
		{name: "another source's file", next: func(f *StatusFile) { f.Source = "team/policies" }, want: immediate},
		{name: "new applied revision", next: func(f *StatusFile) { f.AppliedRevision = "main@sha1:bbbb" }, want: immediate, reason: "applied main@sha1:bbbb"},
		{name: "failed to ok", last: func(f *StatusFile) *StatusFile {
			f.Failure = &SyncFailure{Revision: "main@sha1:aaaa", Reason: ApplyFailedReason, Message: "timeout"}
			return f
		}, want: immediate, reason: "sync recovered at main@sha1:aaaa"},
		{name: "ok to failed", next: func(f *StatusFile) {
			f.Failure = &SyncFailure{Revision: "main@sha1:bbbb", Reason: ValidationFailedReason}
		}, want: material, reason: "sync failed: ValidationFailed at main@sha1:bbbb"},
		{name: "another failure", last: func(f *StatusFile) *StatusFile {
			f.Failure = &SyncFailure{Revision: "main@sha1:bbbb", Reason: ValidationFailedReason}
			return f
		}, next: func(f *StatusFile) {
			f.Failure = &SyncFailure{Revision: "main@sha1:cccc", Reason: ValidationFailedReason}
		}, want: material},
		{name: "same failure, another message", last: func(f *StatusFile) *StatusFile {
			f.Failure = &SyncFailure{Reason: ArtifactFailedReason, Message: "connection refused"}
			return f
		}, next: func(f *StatusFile) {
			f.Failure = &SyncFailure{Reason: ArtifactFailedReason, Message: "connection reset"}
		}, want: minor},
		{name: "a workload's split", next: func(f *StatusFile) { f.Runtime.Workloads[1].Observed.Spot = 1 }, want: material, reason: "runtime: split of web/front"},
		{name: "a workload's replicas", next: func(f *StatusFile) { f.Runtime.Workloads[0].Replicas = 5 }, want: material, reason: "runtime: split of shop/cart"},
		{name: "a workload gone", next: func(f *StatusFile) { f.Runtime.Workloads = f.Runtime.Workloads[1:] }, want: material, reason: "runtime: shop/cart gone"},
		{name: "fallback state", next: func(f *StatusFile) {
			f.Runtime.Fallback = &RuntimeFallback{State: v1alpha1.FallbackShort, Since: "2026-03-01T12:03:00Z"}
		}, want: material, reason: "runtime: fallback Short"},
		{name: "savings by $20 of $400", next: func(f *StatusFile) { f.Runtime.Savings.MonthlySavings = "420.00" }, want: minor},
		{name: "savings by $25 of $400", next: func(f *StatusFile) { f.Runtime.Savings.MonthlySavings = "425.01" }, want: material, reason: "runtime: savings $425.01/month"},
		{name: "savings by 50% but $6", last: func(f *StatusFile) *StatusFile {
			f.Runtime.Savings.MonthlySavings = "12.00"
			return f
		}, next: func(f *StatusFile) { f.Runtime.Savings.MonthlySavings = "18.00" }, want: minor},
		{name: "actual cost down $60 of $600", next: func(f *StatusFile) { f.Runtime.Savings.MonthlyActual = "540.00" }, want: material},
		{name: "savings first known", last: func(f *StatusFile) *StatusFile {
			f.Runtime.Savings = nil
			return f
		}, want: material, reason: "runtime: savings"},
		{name: "price source", next: func(f *StatusFile) { f.Runtime.Savings.Prices = "catalogue" }, want: material, reason: "runtime: prices from catalogue"},
		{name: "Spot share by 4 points", next: func(f *StatusFile) { f.Runtime.Savings.SpotPercent = 64 }, want: minor},
		{name: "Spot share by 5 points", next: func(f *StatusFile) { f.Runtime.Savings.SpotPercent = 55 }, want: material, reason: "runtime: Spot share 55%"},
		{name: "node count", next: func(f *StatusFile) { f.Runtime.Savings.Nodes = 11 }, want: minor},
		{name: "unused commitment by $100", next: func(f *StatusFile) { f.Runtime.Commitments.MonthlyUnused = "200.00" }, want: material, reason: "runtime: commitments"},
		{name: "unused commitment by $5", next: func(f *StatusFile) { f.Runtime.Commitments.MonthlyUnused = "295.00" }, want: minor},
		{name: "a reservation's unused count", next: func(f *StatusFile) {
			f.Runtime.Commitments.ReservedInstances[0].Used, f.Runtime.Commitments.ReservedInstances[0].Unused = 3, 0
		}, want: material, reason: "runtime: 0 reserved m5.large unused"},
		{name: "a new reservation", next: func(f *StatusFile) {
			f.Runtime.Commitments.ReservedInstances = append(f.Runtime.Commitments.ReservedInstances, RuntimeReserved{InstanceType: "c5.large", Committed: 1, Unused: 1})
		}, want: material, reason: "runtime: commitments"},
		{name: "a Savings Plan used by $0.01/h more ($7.30 a month)", next: func(f *StatusFile) {
			f.Runtime.Commitments.SavingsPlans[0].UsedPerHour, f.Runtime.Commitments.SavingsPlans[0].UnusedPerHour = "0.5100", "0.4900"
		}, want: minor},
		{name: "a Savings Plan used by $0.10/h more ($73 a month)", next: func(f *StatusFile) {
			f.Runtime.Commitments.SavingsPlans[0].UsedPerHour, f.Runtime.Commitments.SavingsPlans[0].UnusedPerHour = "0.6000", "0.4000"
		}, want: material, reason: "runtime: commitments"},
		{name: "bin-packing drains a node", next: func(f *StatusFile) {
			f.Runtime.BinPacking.Draining, f.Runtime.BinPacking.Evicted = []string{"node-1"}, 2
		}, want: material, reason: "runtime: bin-packing draining node-1"},
		{name: "bin-packing is done with a node", last: func(f *StatusFile) *StatusFile {
			f.Runtime.BinPacking.Draining = []string{"node-1"}
			return f
		}, want: material, reason: "runtime: bin-packing no longer draining node-1"},
		{name: "bin-packing paused", next: func(f *StatusFile) { f.Runtime.BinPacking.PausedUntil = "2026-03-01T12:30:00Z" },
			want: material, reason: "runtime: bin-packing paused until 2026-03-01T12:30:00Z"},
		{name: "bin-packing turned off", next: func(f *StatusFile) { f.Runtime.BinPacking = nil }, want: material, reason: "runtime: bin-packing"},
		{name: "bin-packing's last pass and message", next: func(f *StatusFile) {
			f.Runtime.BinPacking.LastPass, f.Runtime.BinPacking.Message = "2026-03-01T12:01:00Z", "node-2: pod a/b blocked by PodDisruptionBudget"
		}, want: minor},
		{name: "unreadable money", next: func(f *StatusFile) { f.Runtime.Savings.SpotSavings = "n/a" }, want: material},
		{name: "objects without a new revision", next: func(f *StatusFile) { f.Objects = 4 }, want: minor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			last, next := baseFile(), baseFile()
			if tc.last != nil {
				last = tc.last(last)
			}
			if tc.next != nil {
				tc.next(next)
			}
			got, why := compare(last, next)
			if got != tc.want || (tc.reason != "" && why != tc.reason) {
				t.Errorf("compare = %d %q, want %d %q", got, why, tc.want, tc.reason)
			}
		})
	}
}

func TestDue(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const every = 5 * time.Minute
	for _, tc := range []struct {
		name      string
		c         change
		lastWrite time.Time
		now       time.Time
		write     bool
		after     time.Duration
	}{
		{"immediate right after a write", immediate, t0, t0.Add(time.Second), true, 0},
		{"material right after a write", material, t0, t0.Add(time.Minute), false, 4 * time.Minute},
		{"material at the interval", material, t0, t0.Add(every), true, 0},
		{"material without a known last write", material, time.Time{}, t0, true, 0},
		{"material after a write stamped in the future", material, t0.Add(time.Hour), t0, false, every},
		{"minor", minor, t0, t0.Add(time.Hour), false, 0},
		{"unchanged", unchanged, time.Time{}, t0, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write, after := due(tc.c, tc.lastWrite, tc.now, every)
			if write != tc.write || after != tc.after {
				t.Errorf("due = %t %s, want %t %s", write, after, tc.write, tc.after)
			}
		})
	}
}

// TestStatusFileOf: the applied revision and its findings, and while the source fails,
// the failure with the failed revision's findings (none for a fetch failure, which
// has no revision).
func TestStatusFileOf(t *testing.T) {
	finding := v1alpha1.PolicyFinding{File: "clusters/prod.yaml", Line: 3, Rule: "schema", Severity: "error", Message: "unknown field bogus"}
	ready := func(status metav1.ConditionStatus, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: meta.ReadyCondition, Status: status, Reason: reason, Message: msg}
	}
	src := &v1alpha1.PolicySource{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: v1alpha1.PolicySourceSpec{Cluster: "prod"}}
	if f := statusFileOf(src); f != nil {
		t.Errorf("a never synced source has a status file: %+v", f)
	}

	src.Status = v1alpha1.PolicySourceStatus{
		LastAppliedRevision: "main@sha1:aaaa", LastAttemptedRevision: "main@sha1:bbbb", Findings: []v1alpha1.PolicyFinding{finding},
		Inventory:  &v1alpha1.ResourceInventory{Entries: []v1alpha1.ResourceRef{v1alpha1ResourceRef("a"), v1alpha1ResourceRef("b")}},
		Conditions: []metav1.Condition{ready(metav1.ConditionFalse, ValidationFailedReason, strings.Repeat("x", 2000))},
	}
	f := statusFileOf(src)
	if f.AppliedRevision != "main@sha1:aaaa" || f.Objects != 2 || f.Findings != nil || f.Source != "ns/p" {
		t.Errorf("status file of a failing source = %+v", f)
	}
	if fl := f.Failure; fl == nil || fl.Revision != "main@sha1:bbbb" || fl.Reason != ValidationFailedReason ||
		len(fl.Findings) != 1 || len([]rune(fl.Message)) != maxFailureMessage {
		t.Errorf("failure = %+v", f.Failure)
	}

	src.Status.Conditions = append(src.Status.Conditions, metav1.Condition{Type: SourceReadyCondition, Status: metav1.ConditionFalse, Reason: ArtifactFailedReason})
	src.Status.Conditions[0] = ready(metav1.ConditionFalse, ArtifactFailedReason, "connection refused")
	src.Status.LastAttemptedRevision = "main@sha1:aaaa"
	if f := statusFileOf(src); f.Failure == nil || f.Failure.Revision != "" || len(f.Findings) != 1 {
		t.Errorf("status file of a failed fetch = %+v, failure %+v", f, f.Failure)
	}

	src.Status.Conditions = []metav1.Condition{ready(metav1.ConditionTrue, ReconciliationSucceededReason, "Applied")}
	if f := statusFileOf(src); f.Failure != nil || len(f.Findings) != 1 {
		t.Errorf("status file of an applied source = %+v", f)
	}
}

// TestStatusTarget: where the status file goes for spec.git and Flux sources, and the
// configurations refused because a status commit would be synced again, or cannot be
// pushed at all.
func TestStatusTarget(t *testing.T) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme, sourcev1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	repo := func(name string, spec sourcev1.GitRepositorySpec) client.Object {
		return &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name}, Spec: spec}
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		repo("default-ref", sourcev1.GitRepositorySpec{URL: "https://git.example.com/p.git", SecretRef: &meta.LocalObjectReference{Name: "creds"}}),
		repo("prod", sourcev1.GitRepositorySpec{URL: "ssh://git@git.example.com/p.git", Reference: &sourcev1.GitRepositoryRef{Branch: "prod"}}),
		repo("heads", sourcev1.GitRepositorySpec{URL: "https://git.example.com/p.git", Reference: &sourcev1.GitRepositoryRef{Name: "refs/heads/ballast-status"}}),
		repo("tag", sourcev1.GitRepositorySpec{URL: "https://git.example.com/p.git", Reference: &sourcev1.GitRepositoryRef{Tag: "v1", Branch: "ballast-status"}}),
		repo("github-app", sourcev1.GitRepositorySpec{URL: "https://github.com/o/p.git", Provider: sourcev1.GitProviderGitHub}),
	).Build()
	git := func(ref *v1alpha1.GitRef, sf v1alpha1.StatusFileSpec) v1alpha1.PolicySourceSpec {
		return v1alpha1.PolicySourceSpec{Cluster: "prod", Git: &v1alpha1.GitSource{URL: "https://git.example.com/p.git", Ref: ref,
			SecretRef: &v1alpha1.LocalObjectReference{Name: "git"}}, StatusWriteBack: &v1alpha1.StatusWriteBack{StatusFile: &sf}}
	}
	flux := func(kind, namespace, name string, sf v1alpha1.StatusFileSpec) v1alpha1.PolicySourceSpec {
		return v1alpha1.PolicySourceSpec{Cluster: "prod", SourceRef: &v1alpha1.SourceReference{Kind: kind, Namespace: namespace, Name: name},
			StatusWriteBack: &v1alpha1.StatusWriteBack{StatusFile: &sf}}
	}
	for _, tc := range []struct {
		name       string
		spec       v1alpha1.PolicySourceSpec
		want       statusTarget
		wantReason string
	}{
		{name: "git, defaults", spec: git(nil, v1alpha1.StatusFileSpec{}), want: statusTarget{URL: "https://git.example.com/p.git",
			Secret: &client.ObjectKey{Namespace: "team", Name: "git"}, Branch: "ballast-status", Path: "status/prod.yaml", Synced: "main"}},
		{name: "git, main by default", spec: git(&v1alpha1.GitRef{}, v1alpha1.StatusFileSpec{Branch: "main"}), wantReason: SyncedBranchReason},
		{name: "git, the synced branch", spec: git(&v1alpha1.GitRef{Branch: "prod"}, v1alpha1.StatusFileSpec{Branch: "prod", Path: "elsewhere/s.yaml"}), wantReason: SyncedBranchReason},
		{name: "git, a tag", spec: git(&v1alpha1.GitRef{Tag: "v1"}, v1alpha1.StatusFileSpec{Branch: "main", Path: "s/p.yaml"}), want: statusTarget{
			URL: "https://git.example.com/p.git", Secret: &client.ObjectKey{Namespace: "team", Name: "git"}, Branch: "main", Path: "s/p.yaml"}},
		{name: "GitRepository with its secret", spec: flux("GitRepository", "", "default-ref", v1alpha1.StatusFileSpec{}), want: statusTarget{
			URL: "https://git.example.com/p.git", Secret: &client.ObjectKey{Namespace: "team", Name: "creds"}, Branch: "ballast-status",
			Path: "status/prod.yaml", Synced: "master"}},
		{name: "GitRepository on master by default", spec: flux("GitRepository", "team", "default-ref", v1alpha1.StatusFileSpec{Branch: "master"}), wantReason: SyncedBranchReason},
		{name: "GitRepository on its branch", spec: flux("GitRepository", "", "prod", v1alpha1.StatusFileSpec{Branch: "prod"}), wantReason: SyncedBranchReason},
		{name: "GitRepository beside its branch", spec: flux("GitRepository", "", "prod", v1alpha1.StatusFileSpec{}), want: statusTarget{
			URL: "ssh://git@git.example.com/p.git", Branch: "ballast-status", Path: "status/prod.yaml", Synced: "prod"}},
		{name: "GitRepository on a refs/heads name", spec: flux("GitRepository", "", "heads", v1alpha1.StatusFileSpec{}), wantReason: SyncedBranchReason},
		{name: "GitRepository on a tag", spec: flux("GitRepository", "", "tag", v1alpha1.StatusFileSpec{}), want: statusTarget{
			URL: "https://git.example.com/p.git", Branch: "ballast-status", Path: "status/prod.yaml"}},
		{name: "GitRepository with a cloud provider", spec: flux("GitRepository", "", "github-app", v1alpha1.StatusFileSpec{}), wantReason: UnsupportedSourceReason},
		{name: "GitRepository in another namespace", spec: flux("GitRepository", "flux-system", "default-ref", v1alpha1.StatusFileSpec{}), wantReason: CrossNamespaceSourceReason},
		{name: "OCIRepository", spec: flux("OCIRepository", "", "oci", v1alpha1.StatusFileSpec{}), wantReason: UnsupportedSourceReason},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &v1alpha1.PolicySource{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "p"}, Spec: tc.spec}
			got, err := resolveStatusTarget(context.Background(), c, src)
			if tc.wantReason != "" {
				var refused *writeBackError
				if !errors.As(err, &refused) || refused.Reason != tc.wantReason {
					t.Fatalf("err = %v, want a refusal with reason %s", err, tc.wantReason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.URL != tc.want.URL || got.Branch != tc.want.Branch || got.Path != tc.want.Path || got.Synced != tc.want.Synced ||
				(got.Secret == nil) != (tc.want.Secret == nil) || (got.Secret != nil && *got.Secret != *tc.want.Secret) {
				t.Errorf("target = %+v (secret %v), want %+v (secret %v)", got, got.Secret, tc.want, tc.want.Secret)
			}
		})
	}
	// A GitRepository that does not exist is no refusal: the sync reports it.
	src := &v1alpha1.PolicySource{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "p"}, Spec: flux("GitRepository", "", "missing", v1alpha1.StatusFileSpec{})}
	var refused *writeBackError
	if _, err := resolveStatusTarget(context.Background(), c, src); err == nil || errors.As(err, &refused) {
		t.Errorf("missing GitRepository: err = %v", err)
	}
}
