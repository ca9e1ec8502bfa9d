package source

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/fluxcd/pkg/runtime/metrics"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gogit"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
)

// env is the control plane of the suite.
var (
	env  *controlplane.Env
	git  = &fakeGit{repos: map[string]fakeRepo{}}
	kube client.Client
)

func TestMain(m *testing.M) {
	flag.Parse()
	// A fuzzing worker runs only the fuzz targets, which need no control plane; the
	// process that started it runs the package's tests against one.
	if w := flag.Lookup("test.fuzzworker"); w != nil && w.Value.String() == "true" {
		os.Exit(m.Run())
	}
	os.Exit(controlplane.RunTests(runWithManager{m}, &env))
}

// runWithManager installs Flux's CRDs and runs the PolicySource controller around the
// tests.
type runWithManager struct{ m *testing.M }

func (r runWithManager) Run() int {
	// Flux's real CRDs, from the source-controller module that ships them.
	flux, err := controlplane.ModuleDir("github.com/fluxcd/source-controller@v1.10.1")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	crds := []string{
		filepath.Join(flux, "config", "crd", "bases", "source.toolkit.fluxcd.io_gitrepositories.yaml"),
		filepath.Join(flux, "config", "crd", "bases", "source.toolkit.fluxcd.io_ocirepositories.yaml"),
	}
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: crds, ErrorIfPathMissing: true}); err != nil {
		fmt.Fprintln(os.Stderr, "failed to install Flux's CRDs:", err)
		return 1
	}
	if os.Getenv("BALLAST_TEST_LOG") != "" {
		log.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	} else {
		log.SetLogger(logr.Discard())
	}
	// The suite's manager leaves the PolicySources labelled manualLabel alone: the
	// replica tests run reconcilers of their own on them.
	unlabelled, err := labels.Parse("!" + manualLabel)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: controlplane.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{&v1alpha1.PolicySource{}: {Label: unlabelled}}}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "ballast-source-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	rec := &Reconciler{
		Client: faults.wrap(mgr.GetClient()),
		Fetcher: Sources{
			Git:      routedGit{fake: git, real: &GitFetcher{Cloner: gogit.NewCloner(), Secrets: env.Client, Dir: filepath.Join(dir, "git")}},
			Artifact: &ArtifactFetcher{Client: mgr.GetAPIReader(), Dir: dir},
		},
		Recorder: mgr.GetEventRecorder("ballast-source"),
		Metrics:  metrics.NewRecorder(),
		Reporter: &GitReporter{Secrets: env.Client, Statuses: forge.factory},
		// The test git servers listen on http://127.0.0.1.
		AllowInsecureHTTP: true,
		// Each test has a namespace of its own; the refusal of the others is tested
		// with a controller of its own (TestNamespaceNotAllowed) and with the command's
		// flags (cmd/ballast/app).
		Namespaces:  []string{AllNamespaces},
		Impersonate: Impersonator(env.Config, client.Options{Scheme: controlplane.Scheme, Mapper: mgr.GetRESTMapper()}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := rec.SetupWithManager(ctx, mgr, SetupOptions{WatchFluxSources: true, MaxConcurrentReconciles: 2}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	statusFiles := &StatusFileReconciler{Client: mgr.GetClient(), Secrets: env.Client, Files: routedFiles{fake: forge, real: gogit.NewFileWriter()},
		Recorder: mgr.GetEventRecorder("ballast-source"), AllowInsecureHTTP: true, Namespaces: []string{AllNamespaces}}
	if err := statusFiles.SetupWithManager(mgr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	kube = env.Client
	code := r.m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
	}
	return code
}

// fakeGit is a Fetcher for spec.git that serves file trees the tests set per URL.
type fakeGit struct {
	mu      gosync.Mutex
	repos   map[string]fakeRepo
	fetches map[string]int
}

type fakeRepo struct {
	revision string
	files    fs.FS
	err      error
}

func (g *fakeGit) set(url, revision string, files fs.FS) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.repos[url] = fakeRepo{revision: revision, files: files}
}

func (g *fakeGit) fail(url string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.repos[url]
	r.err = err
	g.repos[url] = r
}

func (g *fakeGit) Fetch(_ context.Context, src *v1alpha1.PolicySource) (*Snapshot, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fetches == nil {
		g.fetches = map[string]int{}
	}
	g.fetches[src.Spec.Git.URL]++
	r, ok := g.repos[src.Spec.Git.URL]
	switch {
	case !ok:
		return nil, errors.New("repository not found")
	case r.err != nil:
		return nil, r.err
	}
	return &Snapshot{Revision: r.revision, Files: r.files}, nil
}

// fetched is how often url was fetched.
func (g *fakeGit) fetched(url string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fetches[url]
}

func (g *fakeGit) Forget(*v1alpha1.PolicySource) error { return nil }

// fixture is one test's namespace, cluster and PolicySource.
type fixture struct {
	t       *testing.T
	ns      string
	cluster string
	name    string
	url     string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	id := rand.String(6)
	f := &fixture{t: t, ns: "t-" + id, cluster: "c" + id, name: "ps-" + id, url: "https://git.example.com/" + id + ".git"}
	if err := kube.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}}); err != nil {
		t.Fatal(err)
	}
	return f
}

// create creates the fixture's PolicySource syncing policies/ from its Git URL.
func (f *fixture) create(mutate func(*v1alpha1.PolicySource)) {
	f.t.Helper()
	ps := &v1alpha1.PolicySource{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: f.name},
		Spec: v1alpha1.PolicySourceSpec{
			Cluster:  f.cluster,
			Git:      &v1alpha1.GitSource{URL: f.url},
			Path:     "./policies",
			Interval: metav1.Duration{Duration: time.Hour},
		},
	}
	if mutate != nil {
		mutate(ps)
	}
	if err := kube.Create(context.Background(), ps); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) get() *v1alpha1.PolicySource {
	f.t.Helper()
	ps := &v1alpha1.PolicySource{}
	if err := kube.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: f.name}, ps); err != nil {
		f.t.Fatal(err)
	}
	return ps
}

// update changes the PolicySource, retrying on conflicts.
func (f *fixture) update(mutate func(*v1alpha1.PolicySource)) {
	f.t.Helper()
	f.eventually("update the PolicySource", func() (bool, string) {
		ps := f.get()
		mutate(ps)
		if err := kube.Update(context.Background(), ps); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// requestReconcile sets reconcile.fluxcd.io/requestedAt and returns its value.
func (f *fixture) requestReconcile() string {
	token := time.Now().Format(time.RFC3339Nano)
	f.update(func(ps *v1alpha1.PolicySource) {
		if ps.Annotations == nil {
			ps.Annotations = map[string]string{}
		}
		ps.Annotations[meta.ReconcileRequestAnnotation] = token
	})
	return token
}

// eventually polls cond until it holds, failing the test after 30 seconds with the
// last reason cond gave.
func (f *fixture) eventually(what string, cond func() (bool, string)) {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		time.Sleep(100 * time.Millisecond)
	}
	f.t.Fatalf("timed out waiting to %s: %s", what, last)
}

// waitApplied waits until the PolicySource is Ready at revision.
func (f *fixture) waitApplied(revision string) *v1alpha1.PolicySource {
	f.t.Helper()
	var ps *v1alpha1.PolicySource
	f.eventually("apply "+revision, func() (bool, string) {
		ps = f.get()
		ready := conditions.Get(wrap(ps), meta.ReadyCondition)
		if ps.Status.LastAppliedRevision == revision && ready != nil && ready.Status == metav1.ConditionTrue && ps.Status.ObservedGeneration == ps.Generation {
			return true, ""
		}
		return false, fmt.Sprintf("status %+v", ps.Status)
	})
	return ps
}

// waitCondition waits until condition typ has status and reason.
func (f *fixture) waitCondition(typ string, status metav1.ConditionStatus, reason string) *v1alpha1.PolicySource {
	f.t.Helper()
	var ps *v1alpha1.PolicySource
	f.eventually(fmt.Sprintf("see %s=%s (%s)", typ, status, reason), func() (bool, string) {
		ps = f.get()
		c := conditions.Get(wrap(ps), typ)
		if c != nil && c.Status == status && c.Reason == reason && ps.Status.ObservedGeneration == ps.Generation {
			return true, ""
		}
		return false, fmt.Sprintf("conditions %+v", ps.Status.Conditions)
	})
	return ps
}

var (
	nodePoolGVK  = schema.GroupVersionKind{Group: "karpenter.sh", Version: "v1", Kind: "NodePool"}
	nodeClassGVK = schema.GroupVersionKind{Group: "karpenter.k8s.aws", Version: "v1", Kind: "EC2NodeClass"}
	policyGVK    = v1alpha1.GroupVersion.WithKind(v1alpha1.ClusterPolicyKind)
	ruleGVK      = v1alpha1.GroupVersion.WithKind(v1alpha1.WorkloadDistributionRuleKind)
)

// object reads an object as unstructured; nil when it does not exist.
func (f *fixture) object(gvk schema.GroupVersionKind, namespace, name string) *unstructured.Unstructured {
	f.t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	err := kube.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, u)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

func (f *fixture) spotPool() *unstructured.Unstructured {
	return f.object(nodePoolGVK, "", "ballast-"+f.cluster+"-spot")
}

func (f *fixture) onDemandPool() *unstructured.Unstructured {
	return f.object(nodePoolGVK, "", "ballast-"+f.cluster+"-on-demand")
}

func (f *fixture) policy() *unstructured.Unstructured {
	return f.object(policyGVK, "", f.cluster)
}

func (f *fixture) rule() *unstructured.Unstructured {
	return f.object(ruleGVK, f.ns, "web")
}

func onDemandPercent(t *testing.T, u *unstructured.Unstructured) int64 {
	t.Helper()
	v, _, err := unstructured.NestedInt64(u.Object, "spec", "distribution", "onDemandPercent")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// gone waits until the object no longer exists (or is being deleted).
func (f *fixture) gone(what string, get func() *unstructured.Unstructured) {
	f.t.Helper()
	f.eventually(what+" to be deleted", func() (bool, string) {
		u := get()
		return u == nil || u.GetDeletionTimestamp() != nil, "still there"
	})
}

// stays checks for a while that cond keeps holding.
func (f *fixture) stays(what string, cond func() (bool, string)) {
	f.t.Helper()
	for range 20 {
		if ok, why := cond(); !ok {
			f.t.Fatalf("%s: %s", what, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func hasMessage(ps *v1alpha1.PolicySource, typ, part string) bool {
	return strings.Contains(conditions.GetMessage(wrap(ps), typ), part)
}

// isLocalServer reports whether a URL points at a real git server the test started
// (test/gitserver listens on loopback); other URLs are served by the fakes.
func isLocalServer(url string) bool {
	return strings.Contains(url, "://127.0.0.1:") || strings.Contains(url, "@127.0.0.1:")
}

// routedGit fetches from real git servers on loopback and from fakeGit otherwise.
type routedGit struct {
	fake *fakeGit
	real *GitFetcher
}

func (g routedGit) Fetch(ctx context.Context, src *v1alpha1.PolicySource) (*Snapshot, error) {
	if isLocalServer(src.Spec.Git.URL) {
		return g.real.Fetch(ctx, src)
	}
	return g.fake.Fetch(ctx, src)
}

func (g routedGit) Forget(src *v1alpha1.PolicySource) error {
	if isLocalServer(src.Spec.Git.URL) {
		return g.real.Forget(src)
	}
	return g.fake.Forget(src)
}

// routedFiles pushes status files to real git servers on loopback and records them
// otherwise.
type routedFiles struct {
	fake *recordingForge
	real StatusFiles
}

func (w routedFiles) ReadFile(ctx context.Context, o gitsync.FileReadOptions) ([]byte, error) {
	if isLocalServer(o.URL) {
		return w.real.ReadFile(ctx, o)
	}
	return w.fake.ReadFile(ctx, o)
}

func (w routedFiles) WriteFile(ctx context.Context, o gitsync.FileWriteOptions) (string, bool, error) {
	if isLocalServer(o.URL) {
		return w.real.WriteFile(ctx, o)
	}
	return w.fake.WriteFile(ctx, o)
}
