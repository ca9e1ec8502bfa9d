package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
)

// The cluster BenchmarkControllerAtScale builds: N nodes (BALLAST_SCALE_NODES, 2,000 by
// default) and 10N pods of N Deployments (10 replicas each, 3 On-Demand and 7 Spot as
// Ballast placed them) in N/40 opted-in namespaces.
const (
	scaleCluster      = "scale"
	scaleNodesEnv     = "BALLAST_SCALE_NODES"
	scaleDefaultNodes = 2000
	scaleReplicas     = 10
	scaleOnDemand     = 3  // of each Deployment's replicas
	scalePerNamespace = 40 // Deployments
	scaleWorkers      = 8
	churnWorkers      = 32
	// Every second for churnFor, 1% of the pods are deleted and as many created.
	churnFor = 30 * time.Second
	// idleFor is how long the controller's CPU is measured with nothing changing.
	idleFor = 10 * time.Second
	// scaleProfileEnv, when set, is a directory the controllers' heap profiles are
	// written to once steady (trimmed.pprof, whole.pprof), and the CPU profiles of the
	// churn (trimmed-churn-cpu.pprof, whole-churn-cpu.pprof).
	scaleProfileEnv = "BALLAST_SCALE_HEAP_PROFILE"
	// scaleCacheEnv=trimmed or whole runs that controller only.
	scaleCacheEnv = "BALLAST_SCALE_CACHE"
)

// scaleShape is the size of the cluster.
type scaleShape struct{ Nodes int }

func (s scaleShape) deployments() int { return s.Nodes }
func (s scaleShape) pods() int        { return s.deployments() * scaleReplicas }
func (s scaleShape) namespaces() int  { return max(s.deployments()/scalePerNamespace, 1) }
func (s scaleShape) churnRate() int   { return max(s.pods()/100, 1) }

// BenchmarkControllerAtScale measures `ballast controller` against a real API server
// (envtest: kube-apiserver and etcd, no scheduler or kubelet) holding 2,000 nodes and
// 20,000 running pods of 2,000 Deployments and their ReplicaSets, created directly with
// what a real cluster's objects carry (images, env, probes, volumes, container
// statuses, node images and conditions, kubectl's last-applied annotation) and with the
// managedFields the API server records for them.
//
// It builds `ballast` as released (`make build`: static, stripped) and runs
// `ballast controller` twice, each time a process of its own with the flags a cluster
// would give it, webhook included (the API server calls it for every pod created):
// once with the trimmed cache (the default) and once with --trim-cache=false (whole
// objects). It waits until the cost controller has priced every node and every
// controller's queue is empty, has the controller collect its garbage (through its
// --pprof-addr endpoint), and reports the heap in use and live (its metrics:
// go_memstats_heap_inuse_bytes, go_gc_heap_live_bytes, and per pod), its RSS
// (/proc/PID/status VmRSS, split into its own memory and its binary's pages) and its
// peak RSS (VmHWM); then its CPU (/proc/PID/stat) while idle for 10 seconds, and while
// 1% of the pods churn: every second for 30 seconds, 200 pods are deleted and 200
// created (placed by the webhook, bound to a node of their capacity type, marked
// running), reported as CPU seconds per second with the churn rate achieved.
//
// It takes 10-20 minutes on two cores; run it alone (one iteration is all it does):
//
//	go test -run '^$' -bench BenchmarkControllerAtScale -benchtime 1x -timeout 60m ./cmd/ballast/app/
//
// BALLAST_SCALE_NODES=N builds a cluster of N nodes and 10N pods instead (the figures
// of docs/performance.md for other sizes). With BALLAST_SCALE_HEAP_PROFILE=DIR the
// controllers' heap profiles are written there (go tool pprof -top DIR/trimmed.pprof)
// and their CPU profiles of the churn (DIR/trimmed-churn-cpu.pprof);
// BALLAST_SCALE_CACHE=trimmed (or whole) runs that controller alone.
func BenchmarkControllerAtScale(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a cluster of 22,000 objects and runs the controller twice: 10-20 minutes")
	}
	shape := scaleShape{Nodes: scaleDefaultNodes}
	if n := os.Getenv(scaleNodesEnv); n != "" {
		var err error
		if shape.Nodes, err = strconv.Atoi(n); err != nil || shape.Nodes < 10 {
			b.Fatalf("%s=%s: write a number of nodes, at least 10", scaleNodesEnv, n)
		}
	}
	env, err := controlplane.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS = -1 // no client-side rate limit: the API server is the bottleneck
	c, err := client.New(cfg, client.Options{Scheme: controlplane.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	cl, err := populate(b.Context(), c, shape)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("created %d nodes, %d Deployments and ReplicaSets, %d pods in %s", shape.Nodes, shape.deployments(), len(cl.pods), time.Since(start).Round(time.Second))
	kubeconfig := writeKubeconfig(b, env)
	bin := releaseBinary(b)

	results := map[string]scaleResult{}
	for b.Loop() {
		for _, trimmed := range []bool{true, false} {
			if only := os.Getenv(scaleCacheEnv); only != "" && only != (scaleResult{Trimmed: trimmed}).name() {
				continue
			}
			r, err := runScaleController(b, bin, c, cl, kubeconfig, trimmed)
			if err != nil {
				b.Fatal(err)
			}
			results[r.name()] = r
		}
	}
	for _, name := range []string{"trimmed", "whole"} {
		r, ok := results[name]
		if !ok {
			continue
		}
		b.ReportMetric(mib(r.Steady.HeapInuse), name+"-heap-MiB")
		b.ReportMetric(float64(r.Steady.HeapInuse)/float64(len(cl.pods)), name+"-heap-B/pod")
		b.ReportMetric(mib(r.Steady.HeapLive), name+"-live-heap-MiB")
		b.ReportMetric(mib(r.Steady.RSS), name+"-rss-MiB")
		b.ReportMetric(mib(r.Steady.RSSAnon), name+"-rss-anon-MiB")
		b.ReportMetric(mib(r.Steady.RSSFile), name+"-rss-binary-MiB")
		b.ReportMetric(mib(r.Churn.HWM), name+"-peak-rss-MiB")
		b.ReportMetric(r.Steady.CPU/r.Steady.Seconds, name+"-idle-cpu-s/s")
		b.ReportMetric(r.Churn.CPU/r.Churn.Seconds, name+"-churn-cpu-s/s")
		b.ReportMetric(r.ChurnRate, name+"-churn-pods/s")
		b.Logf("%-7s RSS %6.1f MiB anonymous + %6.1f MiB of the binary; the Go runtime holds %6.1f MiB, heap idle %6.1f MiB of which %6.1f MiB released",
			name, mib(r.Steady.RSSAnon), mib(r.Steady.RSSFile), mib(r.Steady.Sys), mib(r.Steady.HeapIdle), mib(r.Steady.HeapReleased))
		b.Logf("%-7s live heap %6.1f MiB (%5.0f B/pod)", name, mib(r.Steady.HeapLive), float64(r.Steady.HeapLive)/float64(len(cl.pods)))
		b.Logf("%-7s heap %6.1f MiB (%5.0f B/pod)  RSS %6.1f MiB  peak RSS %6.1f MiB  after churn: heap %6.1f MiB, RSS %6.1f MiB  CPU idle %.3f s/s, churning %.0f pods/s %.3f s/s  ready after %.0f s, queues emptied: %v",
			name, mib(r.Steady.HeapInuse), float64(r.Steady.HeapInuse)/float64(len(cl.pods)), mib(r.Steady.RSS), mib(r.Churn.HWM),
			mib(r.Churn.HeapInuse), mib(r.Churn.RSS), r.Steady.CPU/r.Steady.Seconds, r.ChurnRate, r.Churn.CPU/r.Churn.Seconds, r.Steady.Ready, r.Steady.QueuesQuiet)
		if len(r.Steady.Busy) > 0 {
			b.Logf("%-7s queues still busy after 3 minutes: %v", name, r.Steady.Busy)
		}
	}
	t, w := results["trimmed"], results["whole"]
	if len(results) < 2 {
		return
	}
	b.ReportMetric(float64(w.Steady.HeapInuse)/float64(t.Steady.HeapInuse), "heap-whole/trimmed")
	b.ReportMetric(float64(w.Steady.RSS)/float64(t.Steady.RSS), "rss-whole/trimmed")
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// scaleResult is what one run of the controller measured.
type scaleResult struct {
	Trimmed bool
	// Steady is measured once the controller is idle; its CPU over idleFor.
	Steady scaleSample
	// Churn is measured after churning; its CPU over the churn.
	Churn scaleSample
	// ChurnRate is the pods created (and deleted) per second the churn achieved.
	ChurnRate float64
}

func (r scaleResult) name() string {
	if r.Trimmed {
		return "trimmed"
	}
	return "whole"
}

// scaleSample is one measurement of the controller.
type scaleSample struct {
	// HeapInuse is runtime.MemStats.HeapInuse (spans in use, fragmentation included),
	// HeapLive what the last garbage collection found alive.
	HeapInuse, HeapLive, RSS, HWM uint64
	// RSSAnon is the RSS of the process's own memory, RSSFile of its binary's pages
	// (the kernel reclaims those before it kills for memory).
	RSSAnon, RSSFile uint64
	// Sys is all the memory the Go runtime holds, HeapIdle what of the heap it holds
	// unused (HeapReleased of it returned to the system).
	Sys, HeapIdle, HeapReleased uint64
	// CPU is the user and system CPU seconds spent over Seconds.
	CPU, Seconds float64
	// Ready is how long the controller took from its start to steady.
	Ready float64
	// QueuesQuiet is whether every controller's queue emptied before the sample.
	QueuesQuiet bool
	// Busy are the queues that were not empty when the wait gave up, and their depth.
	Busy map[string]float64 `json:",omitempty"`
}

// runScaleController runs `ballast controller`, the release binary bin, against the
// cluster with the flags a cluster would give it, measures it once steady and idle,
// and again while the cluster churns.
func runScaleController(b *testing.B, bin string, c client.Client, cl *scaleObjects, kubeconfig string, trimmed bool) (scaleResult, error) {
	res := scaleResult{Trimmed: trimmed}
	ctx := b.Context()
	// The last run's figures go, so that this one waits for its own.
	policy := &v1alpha1.ClusterPolicy{ObjectMeta: metav1.ObjectMeta{Name: scaleCluster}}
	if err := c.Status().Patch(ctx, policy, client.RawPatch(types.MergePatchType, []byte(`{"status":{"cost":null}}`))); err != nil {
		return res, err
	}
	dir, port := b.TempDir(), freePort(b)
	p := &scaleProcess{metrics: fmt.Sprintf("127.0.0.1:%d", freePort(b)), pprof: fmt.Sprintf("127.0.0.1:%d", freePort(b))}
	cmd := exec.CommandContext(ctx, bin, "controller", "--cluster", scaleCluster, "--namespace", "ballast-system",
		"--metrics-addr", p.metrics, "--pprof-addr", p.pprof, "--health-addr", "0", "--webhook-port", strconv.Itoa(port),
		"--webhook-url", fmt.Sprintf("https://127.0.0.1:%d", port), "--cert-dir", filepath.Join(dir, "certs"),
		"--source-dir", filepath.Join(dir, "sources"), "--log-level", "error", "--trim-cache="+strconv.FormatBool(trimmed))
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	p.pid = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		// Measured: the controller need not stop gracefully.
		_ = cmd.Process.Kill()
		<-exited //nolint:errcheck // killed: its status says so
	}()
	fail := func(err error) (scaleResult, error) {
		return res, fmt.Errorf("%w\n%s", err, tail(stderr.String(), 40))
	}
	quiet, busy, err := waitSteady(ctx, c, p, cl.shape.Nodes, exited)
	if err != nil {
		return fail(err)
	}
	ready := time.Since(start).Seconds()
	if res.Steady, err = p.sample(ctx, profilePath(trimmed, "")); err != nil {
		return fail(err)
	}
	res.Steady.Ready, res.Steady.QueuesQuiet, res.Steady.Busy = ready, quiet, busy
	cpu0, err := p.cpuSeconds()
	if err != nil {
		return fail(err)
	}
	time.Sleep(idleFor)
	cpu1, err := p.cpuSeconds()
	if err != nil {
		return fail(err)
	}
	res.Steady.CPU, res.Steady.Seconds = cpu1-cpu0, idleFor.Seconds()

	var profiled chan error
	if path := profilePath(trimmed, "-churn-cpu"); path != "" {
		profiled = make(chan error, 1)
		go func() {
			profiled <- p.save(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(churnFor/time.Second)), path)
		}()
	}
	if cpu0, err = p.cpuSeconds(); err != nil {
		return fail(err)
	}
	created, elapsed, err := churn(ctx, c, cl)
	if err != nil {
		return fail(err)
	}
	if cpu1, err = p.cpuSeconds(); err != nil {
		return fail(err)
	}
	res.ChurnRate = float64(created) / elapsed.Seconds()
	if profiled != nil {
		if err := <-profiled; err != nil {
			return fail(err)
		}
	}
	if res.Churn, err = p.sample(ctx, ""); err != nil {
		return fail(err)
	}
	res.Churn.CPU, res.Churn.Seconds = cpu1-cpu0, elapsed.Seconds()
	return res, nil
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(all[max(len(all)-lines, 0):], "\n")
}

// releaseBinary builds `ballast` as `make build` releases it (static, stripped,
// -trimpath): what is measured is what clusters run, its binary's resident pages
// included.
func releaseBinary(b *testing.B) string {
	out := filepath.Join(b.TempDir(), "ballast")
	cmd := exec.CommandContext(b.Context(), "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/ballast")
	cmd.Dir = controlplane.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=auto", "GOFLAGS=-mod=mod")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("failed to build ballast: %v\n%s", err, msg)
	}
	return out
}

// profilePath is DIR/<cache><suffix>.pprof when scaleProfileEnv names a DIR, else "".
func profilePath(trimmed bool, suffix string) string {
	dir := os.Getenv(scaleProfileEnv)
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, (scaleResult{Trimmed: trimmed}).name()+suffix+".pprof")
}

// scaleProcess is a running controller, measured from outside: its /proc files, its
// metrics endpoint and its profiling endpoint.
type scaleProcess struct {
	pid            int
	metrics, pprof string
}

// waitSteady waits until the cost controller has priced every node (so the caches
// hold the whole cluster) and then until every controller's queue has been empty for
// 5 seconds, for at most 3 minutes (a controller that requeues work periodically keeps
// its queue busy); it reports whether the queues went quiet.
func waitSteady(ctx context.Context, c client.Client, p *scaleProcess, nodes int, exited <-chan error) (bool, map[string]float64, error) {
	deadline := time.Now().Add(20 * time.Minute)
	var priced time.Time
	quiet := 0
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			if err == nil {
				err = errors.New("status 0")
			}
			return false, nil, fmt.Errorf("the controller exited: %w", err)
		case <-time.After(time.Second):
		}
		if priced.IsZero() {
			var policy v1alpha1.ClusterPolicy
			if err := c.Get(ctx, client.ObjectKey{Name: scaleCluster}, &policy); err != nil {
				return false, nil, err
			}
			if policy.Status.Cost == nil || policy.Status.Cost.Nodes != int32(nodes) { //nolint:gosec // small
				continue
			}
			priced = time.Now()
		}
		families, err := p.scrape(ctx)
		if err != nil {
			return false, nil, err
		}
		depth, busy := queueDepth(families)
		if quiet++; depth > 0 {
			quiet = 0
		}
		switch {
		case quiet >= 5:
			return true, nil, nil
		case time.Since(priced) > 3*time.Minute:
			return false, busy, nil
		}
	}
	return false, nil, errors.New("the cost controller did not price every node in 20 minutes")
}

// queueDepth is the sum of the controllers' workqueue depths, and the depth of each
// busy queue.
func queueDepth(families map[string]*dto.MetricFamily) (float64, map[string]float64) {
	var depth float64
	busy := map[string]float64{}
	for _, m := range families["workqueue_depth"].GetMetric() {
		depth += m.GetGauge().GetValue()
		if v := m.GetGauge().GetValue(); v > 0 {
			for _, l := range m.GetLabel() {
				if l.GetName() == "name" {
					busy[l.GetValue()] = v
				}
			}
		}
	}
	return depth, busy
}

// sample has the controller collect its garbage (a heap profile asked with gc=1 runs
// a collection first; the profile goes to profile unless it is "") and reads the heap
// in use and live from its metrics, and its RSS and peak RSS from /proc.
func (p *scaleProcess) sample(ctx context.Context, profile string) (scaleSample, error) {
	var s scaleSample
	// Twice, as runtime.GC twice: the first collection's sweep frees what the second
	// then finds free.
	if err := p.save(ctx, "/debug/pprof/heap?gc=1", ""); err != nil {
		return s, err
	}
	if err := p.save(ctx, "/debug/pprof/heap?gc=1", profile); err != nil {
		return s, err
	}
	families, err := p.scrape(ctx)
	if err != nil {
		return s, err
	}
	gauge := func(name string) uint64 {
		if m := families[name].GetMetric(); len(m) > 0 {
			return uint64(m[0].GetGauge().GetValue())
		}
		return 0
	}
	s.HeapInuse, s.HeapLive = gauge("go_memstats_heap_inuse_bytes"), gauge("go_gc_heap_live_bytes")
	s.Sys, s.HeapIdle, s.HeapReleased = gauge("go_memstats_sys_bytes"), gauge("go_memstats_heap_idle_bytes"), gauge("go_memstats_heap_released_bytes")
	if s.HeapInuse == 0 || s.HeapLive == 0 {
		return s, errors.New("the controller's metrics have no go_memstats_heap_inuse_bytes or go_gc_heap_live_bytes")
	}
	mem, err := localcluster.ProcessMemory(p.pid)
	if err != nil {
		return s, err
	}
	size := func(name string) uint64 { return uint64(max(mem[name], 0)) }
	s.RSS, s.HWM, s.RSSAnon, s.RSSFile = size("VmRSS"), size("VmHWM"), size("RssAnon"), size("RssFile")
	return s, nil
}

// cpuSeconds is the user and system CPU time of the controller.
func (p *scaleProcess) cpuSeconds() (float64, error) {
	cpu, err := localcluster.ProcessCPU(p.pid)
	return cpu.Seconds(), err
}

// scrape reads the controller's metrics endpoint.
func (p *scaleProcess) scrape(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	return localcluster.ScrapeMetrics(ctx, "http://"+p.metrics+"/metrics")
}

// save writes what the controller's profiling endpoint answers at path to file, or
// discards it when file is "".
func (p *scaleProcess) save(ctx context.Context, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.pprof+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	var body bytes.Buffer
	if _, err := io.Copy(&body, resp.Body); err != nil || file == "" {
		return err
	}
	return os.WriteFile(file, body.Bytes(), 0o644)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// scaleObjects is what populate created, and what churn changes.
type scaleObjects struct {
	shape       scaleShape
	mu          sync.Mutex
	nodes       map[string][]string // by capacity type
	deployments []scaleDeployment
	pods        []scalePod
	next        int // for the names of new pods
	bound       int // round robin over the nodes
}

type scaleDeployment struct {
	namespace, name, hash string
	rsUID                 types.UID
}

type scalePod struct {
	namespace, name string
	deployment      int
}

// populate creates the cluster: the namespaces, the ClusterPolicy, the nodes, the
// Deployments with their ReplicaSets and pods, and the webhook configuration.
func populate(ctx context.Context, c client.Client, shape scaleShape) (*scaleObjects, error) {
	cl := &scaleObjects{shape: shape, nodes: map[string][]string{}}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ballast-system"}}); err != nil {
		return nil, err
	}
	for i := range shape.namespaces() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("shop-%02d", i),
			Labels: map[string]string{v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled, "team": fmt.Sprintf("team-%02d", i%10)}}}
		if err := c.Create(ctx, ns); err != nil {
			return nil, err
		}
	}
	policy := &v1alpha1.ClusterPolicy{ObjectMeta: metav1.ObjectMeta{Name: scaleCluster}, Spec: v1alpha1.ClusterPolicySpec{
		Cluster:   v1alpha1.ClusterIdentity{Name: scaleCluster, Region: "us-east-1"},
		NodeClass: v1alpha1.NodeClassSpec{Role: "KarpenterNodeRole-scale"},
		// The split the pods were placed in: 3 On-Demand, 7 Spot.
		Distribution: v1alpha1.DistributionSpec{BaseOnDemand: ptr.To[int32](0), OnDemandPercent: ptr.To[int32](scaleOnDemand * 100 / scaleReplicas)},
	}}
	if err := c.Create(ctx, policy); err != nil {
		return nil, err
	}
	onDemandNodes := shape.Nodes * scaleOnDemand / scaleReplicas
	for i := range shape.Nodes {
		capacity := v1alpha1.CapacitySpot
		if i < onDemandNodes {
			capacity = v1alpha1.CapacityOnDemand
		}
		cl.nodes[capacity] = append(cl.nodes[capacity], fmt.Sprintf("ip-10-%d-%d-%d.ec2.internal", i/65536, i/256%256, i%256))
	}
	err := parallel(ctx, shape.Nodes, scaleWorkers, func(ctx context.Context, i int) error {
		capacity, n := v1alpha1.CapacitySpot, i-onDemandNodes
		if i < onDemandNodes {
			capacity, n = v1alpha1.CapacityOnDemand, i
		}
		node := scaleNode(cl.nodes[capacity][n], capacity, i)
		st := node.Status
		if err := c.Create(ctx, node, client.FieldOwner("karpenter")); err != nil {
			return err
		}
		node.Status = st
		return c.Status().Update(ctx, node, client.FieldOwner("kubelet"))
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create the nodes: %w", err)
	}
	cl.deployments = make([]scaleDeployment, shape.deployments())
	err = parallel(ctx, shape.deployments(), scaleWorkers, func(ctx context.Context, i int) error {
		d := scaleDeploymentObject(i, shape)
		st := d.Status
		if err := c.Create(ctx, d, client.FieldOwner("kubectl-client-side-apply")); err != nil {
			return err
		}
		d.Status = st
		if err := c.Status().Update(ctx, d, client.FieldOwner("kube-controller-manager")); err != nil {
			return err
		}
		rs := scaleReplicaSet(d)
		rst := rs.Status
		if err := c.Create(ctx, rs, client.FieldOwner("kube-controller-manager")); err != nil {
			return err
		}
		rs.Status = rst
		if err := c.Status().Update(ctx, rs, client.FieldOwner("kube-controller-manager")); err != nil {
			return err
		}
		cl.deployments[i] = scaleDeployment{namespace: d.Namespace, name: d.Name, hash: rs.Labels["pod-template-hash"], rsUID: rs.UID}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create the Deployments: %w", err)
	}
	cl.pods = make([]scalePod, shape.pods())
	err = parallel(ctx, len(cl.pods), scaleWorkers, func(ctx context.Context, i int) error {
		d, replica := i/scaleReplicas, i%scaleReplicas
		capacity := v1alpha1.CapacitySpot
		if replica < scaleOnDemand {
			capacity = v1alpha1.CapacityOnDemand
		}
		dep := &cl.deployments[d]
		nodes := cl.nodes[capacity]
		name := fmt.Sprintf("%s-%s-%05d", dep.name, dep.hash, replica)
		pod := scalePodObject(dep, name, capacity)
		pod.Spec.NodeName = nodes[(i/scaleReplicas*7+replica)%len(nodes)]
		if err := c.Create(ctx, pod, client.FieldOwner("kube-controller-manager")); err != nil {
			return err
		}
		if err := c.Status().Patch(ctx, pod, runningStatus(pod), client.FieldOwner("kubelet")); err != nil {
			return err
		}
		cl.pods[i] = scalePod{namespace: pod.Namespace, name: pod.Name, deployment: d}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create the pods: %w", err)
	}
	cl.next = len(cl.pods)
	// The webhook configuration config/ ships for pods, reached by URL (the controller
	// sets it and the CA from --webhook-url).
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "ballast-mutating-webhook-configuration"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "pods.distribution.ballast.dev", AdmissionReviewVersions: []string{"v1"},
			SideEffects:    ptr.To(admissionregistrationv1.SideEffectClassNoneOnDryRun),
			FailurePolicy:  ptr.To(admissionregistrationv1.Ignore),
			TimeoutSeconds: ptr.To[int32](3),
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
				v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled,
			}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
				Namespace: "ballast-system", Name: "ballast-webhook-service", Path: ptr.To("/mutate-v1-pod"),
			}},
		}},
	}
	if err := c.Create(ctx, mwc); err != nil {
		return nil, err
	}
	return cl, nil
}

// churn deletes 1% of the pods every second for churnFor and creates as many after
// them, as the ReplicaSet controller replaces deleted pods: each unplaced (the webhook
// places it), bound to a node of the capacity type it was given (as the scheduler
// would) and marked running (as the kubelet would). It returns the pods created and the
// time it took; a second whose work takes longer delays the next.
func churn(ctx context.Context, c client.Client, cl *scaleObjects) (int, time.Duration, error) {
	start := time.Now()
	created := 0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for range int(churnFor / time.Second) {
		gone := make([]scalePod, cl.shape.churnRate())
		names := make([]string, len(gone))
		for i := range gone {
			j := rand.IntN(len(cl.pods))
			gone[i] = cl.pods[j]
			cl.pods[j] = cl.pods[len(cl.pods)-1]
			cl.pods = cl.pods[:len(cl.pods)-1]
			dep := &cl.deployments[gone[i].deployment]
			names[i] = fmt.Sprintf("%s-%s-%05d", dep.name, dep.hash, cl.next)
			cl.next++
		}
		err := parallel(ctx, len(gone), churnWorkers, func(ctx context.Context, i int) error {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: gone[i].namespace, Name: gone[i].name}}
			return client.IgnoreNotFound(c.Delete(ctx, pod, client.GracePeriodSeconds(0)))
		})
		if err != nil {
			return created, time.Since(start), err
		}
		err = parallel(ctx, len(gone), churnWorkers, func(ctx context.Context, i int) error {
			return createRunning(ctx, c, cl, &cl.deployments[gone[i].deployment], names[i])
		})
		if err != nil {
			return created, time.Since(start), err
		}
		for i := range gone {
			cl.pods = append(cl.pods, scalePod{namespace: gone[i].namespace, name: names[i], deployment: gone[i].deployment})
		}
		created += len(gone)
		<-tick.C
	}
	return created, time.Since(start), nil
}

func createRunning(ctx context.Context, c client.Client, cl *scaleObjects, dep *scaleDeployment, name string) error {
	pod := scalePodObject(dep, name, "")
	if err := c.Create(ctx, pod, client.FieldOwner("kube-controller-manager")); err != nil {
		return err
	}
	capacity := pod.Spec.NodeSelector["karpenter.sh/capacity-type"]
	if capacity == "" {
		capacity = v1alpha1.CapacityOnDemand
	}
	cl.mu.Lock()
	nodes := cl.nodes[capacity]
	node := nodes[cl.bound%len(nodes)]
	cl.bound++
	cl.mu.Unlock()
	binding := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}
	if err := c.SubResource("binding").Create(ctx, pod, binding); err != nil {
		return err
	}
	return c.Status().Patch(ctx, pod, runningStatus(pod), client.FieldOwner("kubelet"))
}

// parallel runs f for 0..n-1 on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		})
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return firstErr
}
