package source

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/gitsync/gogit"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
	"github.com/ballast-dev/ballast/test/gitserver"
)

// statusBench is a PolicySource (in a fake API server) whose status file goes to a real
// git server, and a status-file controller on a clock the test steps.
type statusBench struct {
	t    *testing.T
	kube client.Client
	root *gitserver.Root
	repo *gitserver.Repo
	now  time.Time
	rec  *StatusFileReconciler
}

func newStatusBench(t *testing.T) *statusBench {
	t.Helper()
	root := gitserver.NewRoot(t)
	srv := gitserver.ServeHTTP(t, root, "ballast", "s3cret", "")
	repo := root.Create(t, "policies")
	repo.Commit(t, "main", "policies", map[string]string{"policies/README": "policies\n"})
	src := &v1alpha1.PolicySource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ballast-system", Name: "policies"},
		Spec: v1alpha1.PolicySourceSpec{Cluster: "prod", Interval: metav1.Duration{Duration: time.Hour},
			Git:             &v1alpha1.GitSource{URL: srv.RepoURL("policies"), SecretRef: &v1alpha1.LocalObjectReference{Name: "git"}},
			StatusWriteBack: &v1alpha1.StatusWriteBack{StatusFile: &v1alpha1.StatusFileSpec{}}},
		Status: v1alpha1.PolicySourceStatus{LastAppliedRevision: "main@sha1:aaaa", LastAttemptedRevision: "main@sha1:aaaa",
			Inventory:  &v1alpha1.ResourceInventory{Entries: []v1alpha1.ResourceRef{v1alpha1ResourceRef("a"), v1alpha1ResourceRef("b")}},
			Conditions: []metav1.Condition{{Type: meta.ReadyCondition, Status: metav1.ConditionTrue, Reason: ReconciliationSucceededReason}}},
	}
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "prod"},
		Spec:       v1alpha1.ClusterPolicySpec{Cluster: v1alpha1.ClusterIdentity{Name: "prod"}},
		Status: v1alpha1.ClusterPolicyStatus{
			Workloads: []v1alpha1.WorkloadPlacement{{Kind: "Deployment", Namespace: "web", Name: "front", Replicas: 4,
				Desired: v1alpha1.PlacementCounts{OnDemand: 1, Spot: 3}, Observed: v1alpha1.PlacementCounts{OnDemand: 1, Spot: 3}}},
			Cost: &v1alpha1.CostStatus{Prices: "aws", Nodes: 4, SpotNodes: 3, SpotPercent: 75,
				MonthlyPotential: "1000.00", MonthlyActual: "600.00", MonthlySavings: "400.00", SpotSavings: "400.00", CommitmentSavings: "0.00"},
		},
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ballast-system", Name: "git"},
		Data: map[string][]byte{"username": []byte("ballast"), "password": []byte("s3cret")}}
	c := fake.NewClientBuilder().WithScheme(controlplane.Scheme).WithObjects(src, policy, secret).Build()
	b := &statusBench{t: t, kube: c, root: root, repo: repo, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	b.rec = b.restart()
	return b
}

// restart returns a new controller, which remembers nothing of the last one.
func (b *statusBench) restart() *StatusFileReconciler {
	return &StatusFileReconciler{Client: b.kube, Secrets: b.kube, Files: gogit.NewFileWriter(), Cluster: "prod", Now: func() time.Time { return b.now },
		AllowInsecureHTTP: true, // the test git server is http://127.0.0.1
		Namespaces:        []string{"ballast-system"}}
}

// reconcile steps the clock by d and reconciles the PolicySource.
func (b *statusBench) reconcile(d time.Duration) ctrl.Result {
	b.t.Helper()
	b.now = b.now.Add(d)
	res, err := b.rec.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ballast-system", Name: "policies"}})
	if err != nil {
		b.t.Fatal(err)
	}
	return res
}

// commits is how many commits the status branch has.
func (b *statusBench) commits() int {
	b.t.Helper()
	n, err := strconv.Atoi(b.root.Git(b.t, b.repo.Bare, "rev-list", "--count", "ballast-status"))
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

// file reads the status file at the head of the status branch.
func (b *statusBench) file() *StatusFile {
	b.t.Helper()
	f := &StatusFile{}
	if err := yaml.Unmarshal([]byte(b.repo.Show(b.t, "ballast-status", "status/prod.yaml")), f); err != nil {
		b.t.Fatal(err)
	}
	return f
}

func (b *statusBench) source(mutate func(*v1alpha1.PolicySource)) {
	b.t.Helper()
	src := &v1alpha1.PolicySource{}
	if err := b.kube.Get(context.Background(), client.ObjectKey{Namespace: "ballast-system", Name: "policies"}, src); err != nil {
		b.t.Fatal(err)
	}
	mutate(src)
	if err := b.kube.Update(context.Background(), src); err != nil {
		b.t.Fatal(err)
	}
}

func (b *statusBench) policy(mutate func(*v1alpha1.ClusterPolicyStatus)) {
	b.t.Helper()
	p := &v1alpha1.ClusterPolicy{}
	if err := b.kube.Get(context.Background(), client.ObjectKey{Name: "prod"}, p); err != nil {
		b.t.Fatal(err)
	}
	mutate(&p.Status)
	if err := b.kube.Update(context.Background(), p); err != nil {
		b.t.Fatal(err)
	}
}

func (b *statusBench) expect(commits int, what string) {
	b.t.Helper()
	if got := b.commits(); got != commits {
		b.t.Fatalf("%s: %d status commits, want %d", what, got, commits)
	}
}

// TestStatusFileCommits: the status file on a real git server gets a commit at once
// for a new applied revision and for a failure gone; a workload's split, the fallback
// state, savings moved by more than $10 and 5%, and a new failure wait for the minimum
// interval after the last commit (the controller asks to be called again then); small
// moves make no commit of their own but ride along with the next. A restarted
// controller reads the last commit back: it neither commits the same content again nor
// forgets the interval.
func TestStatusFileCommits(t *testing.T) {
	b := newStatusBench(t)

	// The first status: at once.
	b.reconcile(0)
	b.expect(1, "first status")
	f := b.file()
	if f.AppliedRevision != "main@sha1:aaaa" || f.AppliedAt != "2026-03-01T12:00:00Z" || f.UpdatedAt != "2026-03-01T12:00:00Z" ||
		f.Objects != 2 || f.Runtime == nil || f.Runtime.Savings == nil || f.Runtime.Savings.MonthlySavings != "400.00" {
		t.Fatalf("first status file = %+v", f)
	}
	if head := b.repo.Head(t, "ballast-status"); !strings.Contains(b.root.Git(t, b.repo.Bare, "log", "-1", "--format=%s", head), "ballast: prod status of main@sha1:aaaa") {
		t.Errorf("commit message = %q", b.root.Git(t, b.repo.Bare, "log", "-1", "--format=%s", head))
	}

	// Nothing changed, or savings moved by $8: no commit, nothing to wait for.
	if res := b.reconcile(time.Minute); res.RequeueAfter != 0 {
		t.Errorf("unchanged: requeue after %s", res.RequeueAfter)
	}
	b.policy(func(s *v1alpha1.ClusterPolicyStatus) {
		s.Cost.MonthlySavings, s.Cost.MonthlyActual = "408.00", "592.00"
	})
	if res := b.reconcile(time.Minute); res.RequeueAfter != 0 {
		t.Errorf("small savings move: requeue after %s", res.RequeueAfter)
	}
	b.expect(1, "savings moved by $8")

	// A workload's split changed 3 minutes after the last commit: held back for 2.
	b.policy(func(s *v1alpha1.ClusterPolicyStatus) {
		s.Workloads[0].Observed = v1alpha1.PlacementCounts{OnDemand: 3, Spot: 1, Fallback: 2}
	})
	if res := b.reconcile(time.Minute); res.RequeueAfter != 2*time.Minute {
		t.Errorf("held-back split: requeue after %s, want 2m", res.RequeueAfter)
	}
	b.expect(1, "split changed within the interval")
	b.reconcile(2 * time.Minute)
	b.expect(2, "split changed, interval passed")
	if f := b.file(); f.Runtime.Workloads[0].Observed.Fallback != 2 || f.Runtime.Savings.MonthlySavings != "408.00" ||
		f.AppliedAt != "2026-03-01T12:00:00Z" || f.UpdatedAt != "2026-03-01T12:05:00Z" {
		t.Errorf("status file after the split = %+v, savings %+v", f, f.Runtime.Savings)
	}

	// A new applied revision a minute later: at once.
	b.source(func(s *v1alpha1.PolicySource) {
		s.Status.LastAppliedRevision, s.Status.LastAttemptedRevision = "main@sha1:bbbb", "main@sha1:bbbb"
	})
	b.reconcile(time.Minute)
	b.expect(3, "new revision")
	if f := b.file(); f.AppliedRevision != "main@sha1:bbbb" || f.AppliedAt != "2026-03-01T12:06:00Z" {
		t.Errorf("status file after the new revision = %+v", f)
	}

	// A revision failing validation: held back, then written with the failure; the
	// last good revision stays the applied one.
	b.source(func(s *v1alpha1.PolicySource) {
		s.Status.LastAttemptedRevision = "main@sha1:cccc"
		s.Status.Conditions = []metav1.Condition{{Type: meta.ReadyCondition, Status: metav1.ConditionFalse, Reason: ValidationFailedReason,
			Message: "revision main@sha1:cccc: validation failed"}}
	})
	if res := b.reconcile(time.Minute); res.RequeueAfter != 4*time.Minute {
		t.Errorf("held-back failure: requeue after %s, want 4m", res.RequeueAfter)
	}
	b.reconcile(4 * time.Minute)
	b.expect(4, "failure after the interval")
	if f := b.file(); f.AppliedRevision != "main@sha1:bbbb" || f.Failure == nil || f.Failure.Revision != "main@sha1:cccc" ||
		f.Failure.Reason != ValidationFailedReason {
		t.Errorf("status file of the failure = %+v, failure %+v", f, f.Failure)
	}

	// Fixed a minute later: at once.
	b.source(func(s *v1alpha1.PolicySource) {
		s.Status.LastAppliedRevision, s.Status.LastAttemptedRevision = "main@sha1:dddd", "main@sha1:dddd"
		s.Status.Conditions = []metav1.Condition{{Type: meta.ReadyCondition, Status: metav1.ConditionTrue, Reason: ReconciliationSucceededReason}}
	})
	b.reconcile(time.Minute)
	b.expect(5, "fixed")
	if f := b.file(); f.Failure != nil || f.AppliedRevision != "main@sha1:dddd" {
		t.Errorf("status file after the fix = %+v", f)
	}

	// A restart: nothing changed, nothing committed; the fallback state changes a
	// minute after the last commit and waits for the rest of the interval, which the
	// new controller knows from the file.
	b.rec = b.restart()
	b.reconcile(30 * time.Second)
	b.expect(5, "restart without a change")
	b.rec = b.restart()
	b.policy(func(s *v1alpha1.ClusterPolicyStatus) {
		s.Fallback = &v1alpha1.FallbackStatus{State: v1alpha1.FallbackShort, ShortSince: &metav1.Time{Time: b.now}}
	})
	if res := b.reconcile(30 * time.Second); res.RequeueAfter != 4*time.Minute {
		t.Errorf("fallback after a restart: requeue after %s, want 4m", res.RequeueAfter)
	}
	b.expect(5, "fallback within the interval, after a restart")
	b.reconcile(4 * time.Minute)
	b.expect(6, "fallback after the interval")
	if f := b.file(); f.Runtime.Fallback == nil || f.Runtime.Fallback.State != v1alpha1.FallbackShort {
		t.Errorf("status file after the fallback = %+v", f.Runtime)
	}

	// statusFile.minInterval is honoured: 30s.
	b.source(func(s *v1alpha1.PolicySource) {
		s.Spec.StatusWriteBack.StatusFile.MinInterval = &metav1.Duration{Duration: 30 * time.Second}
	})
	b.policy(func(s *v1alpha1.ClusterPolicyStatus) { s.Cost.SpotPercent = 50 })
	if res := b.reconcile(10 * time.Second); res.RequeueAfter != 20*time.Second {
		t.Errorf("Spot share with minInterval 30s: requeue after %s, want 20s", res.RequeueAfter)
	}
	b.reconcile(20 * time.Second)
	b.expect(7, "Spot share after minInterval")

	// Commitments enabled and reported: committed after minInterval, each reservation's
	// utilisation in the file; then one more reservation used is committed again.
	p := &v1alpha1.ClusterPolicy{}
	if err := b.kube.Get(context.Background(), client.ObjectKey{Name: "prod"}, p); err != nil {
		t.Fatal(err)
	}
	p.Spec.Commitments = &v1alpha1.CommitmentsSpec{Enabled: true, Source: v1alpha1.CommitmentsFromGit,
		ReservedInstances: []v1alpha1.ReservedInstance{{InstanceType: "m5.large", Count: 3}}}
	p.Status.Commitments = &v1alpha1.CommitmentsStatus{ReservedInstances: []v1alpha1.ReservedInstanceUsage{{InstanceType: "m5.large", Committed: 3, Used: 1, Unused: 2}}}
	if err := b.kube.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	b.reconcile(30 * time.Second)
	b.expect(8, "commitments reported")
	if f := b.file(); f.Runtime.Commitments == nil || len(f.Runtime.Commitments.ReservedInstances) != 1 || f.Runtime.Commitments.ReservedInstances[0].Unused != 2 {
		t.Errorf("status file commitments = %+v", f.Runtime.Commitments)
	}
	b.policy(func(s *v1alpha1.ClusterPolicyStatus) {
		s.Commitments.ReservedInstances[0].Used, s.Commitments.ReservedInstances[0].Unused = 2, 1
	})
	b.reconcile(30 * time.Second)
	b.expect(9, "one more reservation used")
	if head := b.repo.Head(t, "ballast-status"); !strings.Contains(b.root.Git(t, b.repo.Bare, "log", "-1", "--format=%s", head), "runtime: 1 reserved m5.large unused") {
		t.Errorf("commit message = %q", b.root.Git(t, b.repo.Bare, "log", "-1", "--format=%s", head))
	}
	if head := b.repo.Head(t, "main"); strings.Contains(b.root.Git(t, b.repo.Bare, "log", "--format=%s", head), "ballast:") {
		t.Error("a status commit landed on main")
	}
}

// TestStatusFileNotForOthers: a suspended source, one of another cluster, one whose
// status file would go to the branch it syncs and one in a namespace the controller
// does not accept PolicySources from write nothing.
func TestStatusFileNotForOthers(t *testing.T) {
	b := newStatusBench(t)
	for _, tc := range []struct {
		name   string
		mutate func(*v1alpha1.PolicySource)
		allow  []string
	}{
		{"suspended", func(s *v1alpha1.PolicySource) { s.Spec.Suspend = true }, nil},
		{"namespace not allowed", func(*v1alpha1.PolicySource) {}, []string{"team-a"}},
		{"another cluster", func(s *v1alpha1.PolicySource) { s.Spec.Cluster = "staging" }, nil},
		{"the synced branch", func(s *v1alpha1.PolicySource) {
			s.Spec.Git.Ref = &v1alpha1.GitRef{Branch: "ballast-status"}
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var orig v1alpha1.PolicySource
			if err := b.kube.Get(context.Background(), client.ObjectKey{Namespace: "ballast-system", Name: "policies"}, &orig); err != nil {
				t.Fatal(err)
			}
			b.source(tc.mutate)
			if tc.allow != nil {
				b.rec.Namespaces = tc.allow
			}
			if res := b.reconcile(time.Minute); res.RequeueAfter != 0 {
				t.Errorf("requeue after %s", res.RequeueAfter)
			}
			if refs := b.root.Git(t, b.repo.Bare, "for-each-ref", "--format=%(refname)"); refs != "refs/heads/main" {
				t.Errorf("refs = %s, want main alone", refs)
			}
			b.source(func(s *v1alpha1.PolicySource) { s.Spec = orig.Spec })
			b.rec.Namespaces = []string{"ballast-system"}
		})
	}
	b.reconcile(time.Minute)
	b.expect(1, "the source as it was")
}

// TestStatusFileOnlyFromTheClusterHolder: a source waiting for the cluster another
// source applies writes no status file (both would write status/<cluster>.yaml, each
// overwriting the other's commits); it writes once the other is gone.
func TestStatusFileOnlyFromTheClusterHolder(t *testing.T) {
	b := newStatusBench(t)
	holder := &v1alpha1.PolicySource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "policies"},
		Spec:       v1alpha1.PolicySourceSpec{Cluster: "prod", Interval: metav1.Duration{Duration: time.Hour}, Git: &v1alpha1.GitSource{URL: "https://git.example.com/a.git"}},
		Status: v1alpha1.PolicySourceStatus{Inventory: &v1alpha1.ResourceInventory{Entries: []v1alpha1.ResourceRef{
			v1alpha1ResourceRef("_ballast-prod-on-demand_karpenter.sh_NodePool"),
		}}},
	}
	if err := b.kube.Create(context.Background(), holder); err != nil {
		t.Fatal(err)
	}
	// The holder's namespace must be allowed: a source refused there holds nothing.
	b.rec.Namespaces = []string{"ballast-system", "team-a"}
	if res := b.reconcile(time.Minute); res.RequeueAfter != 0 {
		t.Errorf("requeue after %s", res.RequeueAfter)
	}
	if refs := b.root.Git(t, b.repo.Bare, "for-each-ref", "--format=%(refname)"); refs != "refs/heads/main" {
		t.Errorf("refs = %s, want main alone: the waiting source wrote", refs)
	}
	if err := b.kube.Delete(context.Background(), holder); err != nil {
		t.Fatal(err)
	}
	b.reconcile(time.Minute)
	b.expect(1, "the holder gone")
}
