package source

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gogit"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
	"github.com/ballast-dev/ballast/test/gitserver"
)

// manualLabel marks the PolicySources the suite's manager leaves alone, so that the
// replica tests decide which replica syncs them, and when.
const manualLabel = "test.ballast.dev/manual"

// The credentials of the replica tests' git server.
const (
	replicaUser     = "ballast"
	replicaPassword = "s3cret"
)

// replicaFixture is a fixture whose PolicySource syncs a repository of a real git
// server and is reconciled only by the test's replicas.
type replicaFixture struct {
	*fixture
	repo *gitserver.Repo
	srv  *gitserver.HTTPServer
}

func newReplicaFixture(t *testing.T) *replicaFixture {
	t.Helper()
	f := &replicaFixture{fixture: newFixture(t)}
	root := gitserver.NewRoot(t)
	f.srv = gitserver.ServeHTTP(t, root, replicaUser, replicaPassword, "")
	f.repo = root.Create(t, "policies")
	f.url = f.srv.RepoURL("policies")
	creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "git"},
		Data:       map[string][]byte{"username": []byte(replicaUser), "password": []byte(replicaPassword)},
	}
	if err := kube.Create(context.Background(), creds); err != nil {
		t.Fatal(err)
	}
	return f
}

// create creates the PolicySource, pruning, for the replicas only.
func (f *replicaFixture) create() {
	f.t.Helper()
	f.fixture.create(func(ps *v1alpha1.PolicySource) {
		ps.Labels = map[string]string{manualLabel: "true"}
		ps.Spec.Git.SecretRef = &v1alpha1.LocalObjectReference{Name: "git"}
		ps.Spec.Prune = true
	})
}

// commit pushes revision n of the policy tree (see revisionFiles) to main.
func (f *replicaFixture) commit(n int) string {
	f.t.Helper()
	return f.repo.Commit(f.t, "main", fmt.Sprintf("revision %d", n), revisionFiles(f.t, f.cluster, f.ns, n))
}

// revisionFiles is revision n of the replica tests' policy tree. Each revision differs
// in what users rely on: the ClusterPolicy's onDemandPercent (10n), the largest
// instance the NodePools may launch (16n CPUs) and whether there is a Spot NodePool
// (odd n).
func revisionFiles(t *testing.T, cluster, namespace string, n int) map[string]string {
	t.Helper()
	out := files(policyFiles(cluster, namespace, 10*n, n%2 == 1))
	name := "policies/clusters/" + cluster + ".yaml"
	const cpu = "cpu: {min: 2, max: 32}"
	if !strings.Contains(out[name], cpu) {
		t.Fatalf("the fixture policy no longer says %q", cpu)
	}
	out[name] = strings.Replace(out[name], cpu, fmt.Sprintf("cpu: {min: 2, max: %d}", 16*n), 1)
	return out
}

// checkRevision checks that the PolicySource is Ready at revision n (commit) and that
// the API server holds exactly what revision n renders: not one object or field of
// another revision.
func (f *replicaFixture) checkRevision(n int, commit string) {
	f.t.Helper()
	ps := f.get()
	want := "main@sha1:" + commit
	ready := conditions.Get(wrap(ps), meta.ReadyCondition)
	if ps.Status.LastAppliedRevision != want || ready == nil || ready.Status != metav1.ConditionTrue {
		f.t.Fatalf("revision %d: lastAppliedRevision %q (want %q), Ready %+v", n, ps.Status.LastAppliedRevision, want, ready)
	}
	policy := f.policy()
	if policy == nil {
		f.t.Fatalf("revision %d: no ClusterPolicy", n)
	}
	if got := onDemandPercent(f.t, policy); got != int64(10*n) {
		f.t.Errorf("revision %d (status %s): the ClusterPolicy's onDemandPercent is %d, revision %d's is %d", n, want, got, n, 10*n)
	}
	pools := map[string]*unstructured.Unstructured{}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(nodePoolGVK.GroupVersion().WithKind("NodePoolList"))
	if err := kube.List(context.Background(), list, client.MatchingLabels{v1alpha1.ClusterLabel: f.cluster}); err != nil {
		f.t.Fatal(err)
	}
	for i := range list.Items {
		if list.Items[i].GetDeletionTimestamp() == nil {
			pools[list.Items[i].GetName()] = &list.Items[i]
		}
	}
	wantPools := []string{"ballast-" + f.cluster + "-on-demand"}
	if n%2 == 1 {
		wantPools = append(wantPools, "ballast-"+f.cluster+"-spot")
	}
	var names []string
	for name := range pools {
		names = append(names, name)
	}
	slices.Sort(names)
	slices.Sort(wantPools)
	if !slices.Equal(names, wantPools) {
		f.t.Errorf("revision %d (status %s): NodePools %v, revision %d renders %v", n, want, names, n, wantPools)
	}
	for _, name := range names {
		if got, wantCPU := maxCPU(f.t, pools[name]), fmt.Sprint(16*n+1); got != wantCPU {
			f.t.Errorf("revision %d (status %s): NodePool %s allows instances below %s CPUs, revision %d renders %s", n, want, name, got, n, wantCPU)
		}
	}
	if f.rule() == nil {
		f.t.Errorf("revision %d (status %s): the WorkloadDistributionRule is missing", n, want)
	}
	if f.object(nodeClassGVK, "", "ballast-"+f.cluster) == nil {
		f.t.Errorf("revision %d (status %s): the EC2NodeClass is missing", n, want)
	}
}

// maxCPU is the value of a NodePool's instance-cpu Lt requirement.
func maxCPU(t *testing.T, pool *unstructured.Unstructured) string {
	t.Helper()
	reqs, _, err := unstructured.NestedSlice(pool.Object, "spec", "template", "spec", "requirements")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		m, _ := r.(map[string]any)
		if m["key"] == "karpenter.k8s.aws/instance-cpu" && m["operator"] == "Lt" {
			if v, _ := m["values"].([]any); len(v) == 1 {
				return fmt.Sprint(v[0])
			}
		}
	}
	return ""
}

// replica is one controller replica: its own reconciler and its own checkout
// directory, against the suite's API server.
type replica struct {
	t      *testing.T
	dir    string
	rec    *Reconciler
	events *events.FakeRecorder
}

func newReplica(t *testing.T) *replica {
	r := &replica{t: t, dir: t.TempDir(), events: events.NewFakeRecorder(1000)}
	r.rec = newReplicaReconciler(kube, r.dir, r.events)
	return r
}

func newReplicaReconciler(c client.Client, dir string, rec events.EventRecorder) *Reconciler {
	return &Reconciler{
		Client:            c,
		Fetcher:           Sources{Git: &GitFetcher{Cloner: gogit.NewCloner(), Secrets: kube, Dir: dir}},
		Recorder:          rec,
		AllowInsecureHTTP: true,
		Namespaces:        []string{AllNamespaces},
	}
}

// sync reconciles f's PolicySource once, as the leader does.
func (r *replica) sync(f *replicaFixture) {
	r.t.Helper()
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: f.ns, Name: f.name}}
	if _, err := r.rec.Reconcile(context.Background(), req); err != nil {
		r.t.Fatalf("reconcile: %v", err)
	}
}

// announced returns the events saying a new revision was applied since the last call.
func (r *replica) announced() []string {
	var out []string
	for {
		select {
		case e := <-r.events.Events:
			if strings.Contains(e, " "+AppliedReason+" ") {
				out = append(out, e)
			}
		default:
			return out
		}
	}
}

// checkout is the work tree the replica keeps for f's PolicySource.
func (r *replica) checkout(f *replicaFixture) string {
	return (&GitFetcher{Dir: r.dir}).workTree(f.get())
}

// TestReplicasServeTheRevisionTheStatusNames: two replicas, each with its own
// checkout, take turns syncing one PolicySource across three commits. A replica
// whose checkout is older than the revision the status names (the other replica
// applied a newer one meanwhile) applies the objects of the revision the status
// names, never its own older files under that name, and announces no new revision.
func TestReplicasServeTheRevisionTheStatusNames(t *testing.T) {
	f := newReplicaFixture(t)
	a, b := newReplica(t), newReplica(t)
	c1 := f.commit(1)
	f.create()

	a.sync(f)
	f.checkRevision(1, c1)

	c2 := f.commit(2)
	b.sync(f)
	f.checkRevision(2, c2)

	// A leads again: the status and the branch say C2, A's checkout holds C1.
	a.announced()
	a.sync(f)
	f.checkRevision(2, c2)
	if ev := a.announced(); len(ev) != 0 {
		t.Errorf("replica A announced a new revision when taking over C2: %v", ev)
	}

	c3 := f.commit(3)
	a.sync(f)
	f.checkRevision(3, c3)

	// B leads again: the status and the branch say C3, B's checkout holds C2.
	b.announced()
	b.sync(f)
	f.checkRevision(3, c3)
	if ev := b.announced(); len(ev) != 0 {
		t.Errorf("replica B announced a new revision when taking over C3: %v", ev)
	}
}

// TestReplicasWithLeaderElection: the same as TestReplicasServeTheRevisionTheStatusNames
// with two controller-runtime managers running the reconciler under leader election
// on one Lease, each with its own checkout directory (kept across its restarts, as a
// pod's emptyDir is). Only the leader syncs; after each failover the new leader
// applies exactly the revision the status names.
func TestReplicasWithLeaderElection(t *testing.T) {
	f := newReplicaFixture(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	c1 := f.commit(1)
	f.create()

	a := startElected(t, f, dirA)
	a.waitElected()
	f.waitApplied("main@sha1:" + c1)
	f.checkRevision(1, c1)

	// B waits while A leads; C2 is pushed and A stops before seeing it.
	b := startElected(t, f, dirB)
	b.notElected()
	c2 := f.commit(2)
	a.stop()
	b.waitElected()
	f.waitApplied("main@sha1:" + c2)
	f.checkRevision(2, c2)

	// A restarts with its checkout of C1 and takes over: status and branch say C2.
	a = startElected(t, f, dirA)
	a.notElected()
	b.stop()
	a.waitElected()
	f.waitHandled(f.requestReconcile())
	f.checkRevision(2, c2)

	c3 := f.commit(3)
	f.requestReconcile()
	f.waitApplied("main@sha1:" + c3)
	f.checkRevision(3, c3)

	// B restarts with its checkout of C2 and takes over: status and branch say C3.
	b = startElected(t, f, dirB)
	b.notElected()
	a.stop()
	b.waitElected()
	f.waitHandled(f.requestReconcile())
	f.checkRevision(3, c3)
	b.stop()
}

// waitHandled waits until a reconcile handled the reconcile request token.
func (f *replicaFixture) waitHandled(token string) {
	f.t.Helper()
	f.eventually("handle reconcile request "+token, func() (bool, string) {
		ps := f.get()
		return ps.Status.LastHandledReconcileAt == token, "lastHandledReconcileAt " + ps.Status.LastHandledReconcileAt
	})
}

// elected is a manager running the PolicySource reconciler under leader election.
type elected struct {
	t      *testing.T
	mgr    ctrl.Manager
	cancel context.CancelFunc
	done   chan error
}

// startElected starts a manager that syncs f's PolicySource, keeping its checkouts in
// dir, once it holds the fixture's Lease.
func startElected(t *testing.T, f *replicaFixture, dir string) *elected {
	t.Helper()
	manual, err := labels.Parse(manualLabel)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                        controlplane.Scheme,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                true,
		LeaderElectionID:              "ballast-" + f.name,
		LeaderElectionNamespace:       f.ns,
		LeaderElectionReleaseOnCancel: true,
		// Generous terms, so that a loaded machine never loses the lease; a stopping
		// leader releases it at once.
		LeaseDuration: ptr.To(15 * time.Second),
		RenewDeadline: ptr.To(10 * time.Second),
		RetryPeriod:   ptr.To(200 * time.Millisecond),
		Cache: cache.Options{
			DefaultNamespaces: map[string]cache.Config{f.ns: {}},
			ByObject:          map[client.Object]cache.ByObject{&v1alpha1.PolicySource{}: {Label: manual}},
		},
		// Every manager of the test registers the same controller name.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := newReplicaReconciler(mgr.GetClient(), dir, nil)
	ctx, cancel := context.WithCancel(context.Background())
	if err := rec.SetupWithManager(ctx, mgr, SetupOptions{}); err != nil {
		cancel()
		t.Fatal(err)
	}
	e := &elected{t: t, mgr: mgr, cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- mgr.Start(ctx) }()
	t.Cleanup(e.stop)
	return e
}

func (e *elected) waitElected() {
	e.t.Helper()
	select {
	case <-e.mgr.Elected():
	case <-time.After(30 * time.Second):
		e.t.Fatal("the manager was not elected within 30s")
	}
}

// notElected checks that the manager stays a follower for a while: the leader holds
// the Lease.
func (e *elected) notElected() {
	e.t.Helper()
	select {
	case <-e.mgr.Elected():
		e.t.Fatal("a second manager was elected while the leader holds the Lease")
	case <-time.After(time.Second):
	}
}

// stop stops the manager, which releases the Lease if it holds it.
func (e *elected) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	if err := <-e.done; err != nil {
		e.t.Errorf("manager: %v", err)
	}
}

// TestBrokenCheckoutIsClonedAgain: a replica killed while cloning a new revision
// leaves a partial checkout behind; the other replica applies that revision, and the
// first one, restarted and leading again, finds the status and the branch at that
// revision. It must discard what it left, clone again and apply the whole revision:
// never an empty or partial tree, never the files of another revision.
func TestBrokenCheckoutIsClonedAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		// damage breaks the checkout dir of the new revision; older is a copy of the
		// work tree of the revision before.
		damage func(t *testing.T, dir, older string)
	}{
		{name: "objects missing", damage: func(t *testing.T, dir, _ string) {
			removeAll(t, filepath.Join(dir, ".git", "objects"))
			emptyWorkTree(t, dir)
		}},
		{name: "packfile cut short", damage: func(t *testing.T, dir, _ string) {
			packs, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.pack"))
			if len(packs) == 0 {
				t.Fatal("the checkout has no packfile")
			}
			for _, p := range packs {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(p, fi.Size()/2); err != nil {
					t.Fatal(err)
				}
			}
			emptyWorkTree(t, dir)
		}},
		{name: "HEAD missing", damage: func(t *testing.T, dir, _ string) {
			removeAll(t, filepath.Join(dir, ".git", "HEAD"))
			emptyWorkTree(t, dir)
		}},
		{name: "index.lock left behind", damage: func(t *testing.T, dir, _ string) {
			writeTestFile(t, filepath.Join(dir, ".git", "index.lock"), "")
			removeAll(t, filepath.Join(dir, "policies", "rules"))
		}},
		{name: "work tree partly written", damage: func(t *testing.T, dir, _ string) {
			removeAll(t, filepath.Join(dir, "policies", "rules", "web.yaml"))
		}},
		{name: "work tree of the revision before", damage: func(t *testing.T, dir, older string) {
			emptyWorkTree(t, dir)
			copyTree(t, older, dir)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newReplicaFixture(t)
			a, b := newReplica(t), newReplica(t)
			c1 := f.commit(1)
			f.create()
			a.sync(f)
			f.checkRevision(1, c1)
			dir := a.checkout(f)
			older := t.TempDir()
			copyTree(t, dir, older)

			// A was cloning C2 into its checkout when it was killed.
			c2 := f.commit(2)
			cloneInto(t, dir, f.url)
			tc.damage(t, dir, older)

			b.sync(f)
			f.checkRevision(2, c2)
			a.sync(f)
			f.checkRevision(2, c2)
		})
	}

	// A broken checkout that cannot be cloned again (the server is gone) fails the
	// sync and changes nothing: no success reported, nothing pruned.
	t.Run("server unreachable", func(t *testing.T) {
		f := newReplicaFixture(t)
		a, b := newReplica(t), newReplica(t)
		f.commit(1)
		f.create()
		a.sync(f)
		dir := a.checkout(f)
		c2 := f.commit(2)
		cloneInto(t, dir, f.url)
		removeAll(t, filepath.Join(dir, "policies", "rules", "web.yaml"))
		b.sync(f)
		f.checkRevision(2, c2)

		f.srv.Close()
		a.sync(f)
		ps := f.get()
		if c := conditions.Get(wrap(ps), meta.ReadyCondition); c == nil || c.Status != metav1.ConditionFalse {
			t.Errorf("Ready = %+v after a failed fetch, want False", c)
		}
		if ps.Status.LastAppliedRevision != "main@sha1:"+c2 {
			t.Errorf("lastAppliedRevision = %q", ps.Status.LastAppliedRevision)
		}
		if f.rule() == nil {
			t.Error("the rule the broken checkout lacks was pruned")
		}
		if got := onDemandPercent(t, f.policy()); got != 20 {
			t.Errorf("onDemandPercent = %d, want revision 2's 20", got)
		}
	})
}

// cloneInto clones main of url into dir, as a replica does.
func cloneInto(t *testing.T, dir, url string) {
	t.Helper()
	_, err := gogit.NewCloner().Clone(context.Background(), dir, gitsync.CloneOptions{URL: url, Shallow: true,
		Auth: gitsync.Auth{Username: replicaUser, Password: replicaPassword}})
	if err != nil {
		t.Fatal(err)
	}
}

// emptyWorkTree removes everything of dir but .git.
func emptyWorkTree(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != ".git" {
			removeAll(t, filepath.Join(dir, e.Name()))
		}
	}
}

// copyTree copies the work tree from (its .git aside) into to.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		switch {
		case rel == ".":
			return nil
		case rel == ".git":
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p) //nolint:gosec // the test's own files
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func removeAll(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); err != nil {
		t.Fatalf("nothing to remove at %s: %v", p, err)
	}
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}

func writeTestFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
