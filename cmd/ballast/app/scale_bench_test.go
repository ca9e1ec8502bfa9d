package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

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
	// scaleChildEnv carries a child process's configuration (scaleChild).
	scaleChildEnv = "BALLAST_SCALE_CHILD"
	// scaleProfileEnv, when set, is a directory the children write their heap profile
	// to once steady (trimmed.pprof, whole.pprof), and the CPU profile of the churn
	// (trimmed-churn-cpu.pprof, whole-churn-cpu.pprof).
	scaleProfileEnv = "BALLAST_SCALE_HEAP_PROFILE"
	// scaleCacheEnv=trimmed or whole runs that child only.
	scaleCacheEnv = "BALLAST_SCALE_CACHE"
	scalePrefix   = "ballast-scale: "
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
// It runs the controller twice, each time in a child process of its own (this test
// binary again, so that its heap and RSS are the controller's alone), with the flags a
// cluster would give it, webhook included (the API server calls it for every pod
// created): once with the trimmed cache (the default) and once with --trim-cache=false
// (whole objects). Each child waits until the cost controller has priced every node and
// every controller's queue is empty, forces a garbage collection, and reports the heap
// in use (runtime.MemStats.HeapInuse, and per pod), its RSS (/proc/self/status VmRSS)
// and its peak RSS (VmHWM); then its CPU (getrusage) while idle for 10 seconds, and
// while 1% of the pods churn: every second for 30 seconds, 200 pods are deleted and 200
// created (placed by the webhook, bound to a node of their capacity type, marked
// running), reported as CPU seconds per second with the churn rate achieved.
//
// It takes 10-20 minutes on two cores; run it alone (one iteration is all it does):
//
//	go test -run '^$' -bench BenchmarkControllerAtScale -benchtime 1x -timeout 60m ./cmd/ballast/app/
//
// BALLAST_SCALE_NODES=N builds a cluster of N nodes and 10N pods instead (the figures of
// docs/performance.md for other sizes). With BALLAST_SCALE_HEAP_PROFILE=DIR the children write their heap profiles there
// (go tool pprof -top DIR/trimmed.pprof) and their CPU profiles of the churn
// (DIR/trimmed-churn-cpu.pprof); BALLAST_SCALE_CACHE=trimmed (or whole) runs
// that child alone.
func BenchmarkControllerAtScale(b *testing.B) {
	if raw := os.Getenv(scaleChildEnv); raw != "" {
		scaleChild(b, raw)
		return
	}
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

	results := map[string]scaleResult{}
	for b.Loop() {
		for _, trimmed := range []bool{true, false} {
			if only := os.Getenv(scaleCacheEnv); only != "" && only != (scaleResult{Trimmed: trimmed}).name() {
				continue
			}
			r, err := runScaleChild(b, c, cl, kubeconfig, trimmed)
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
		b.ReportMetric(mib(r.Steady.SettledRSS), name+"-settled-rss-MiB")
		b.ReportMetric(mib(r.Churn.HWM), name+"-peak-rss-MiB")
		b.ReportMetric(r.Steady.CPU/r.Steady.Seconds, name+"-idle-cpu-s/s")
		b.ReportMetric(r.Churn.CPU/r.Churn.Seconds, name+"-churn-cpu-s/s")
		b.ReportMetric(r.ChurnRate, name+"-churn-pods/s")
		b.Logf("%-7s RSS %6.1f MiB anonymous + %6.1f MiB of the binary; the Go runtime holds %6.1f MiB, heap idle %6.1f MiB of which %6.1f MiB released; RSS %6.1f MiB once the free memory is returned",
			name, mib(r.Steady.RSSAnon), mib(r.Steady.RSSFile), mib(r.Steady.Sys), mib(r.Steady.HeapIdle), mib(r.Steady.HeapReleased), mib(r.Steady.SettledRSS))
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

// scaleResult is what one child measured.
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

// scaleSample is one measurement of the child process.
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
	// SettledRSS is the RSS once the free memory is returned to the system.
	SettledRSS uint64
	// Busy are the queues that were not empty when the wait gave up, and their depth.
	Busy map[string]float64 `json:",omitempty"`
}

// scaleChildConfig is what the parent tells a child.
type scaleChildConfig struct {
	Trimmed    bool
	Nodes      int
	Kubeconfig string
	Port       int
	Dir        string
}

// runScaleChild runs one child and churns the cluster while it measures.
func runScaleChild(b *testing.B, c client.Client, cl *scaleObjects, kubeconfig string, trimmed bool) (scaleResult, error) {
	res := scaleResult{Trimmed: trimmed}
	raw, err := json.Marshal(scaleChildConfig{Trimmed: trimmed, Nodes: cl.shape.Nodes, Kubeconfig: kubeconfig, Port: freePort(b), Dir: b.TempDir()})
	if err != nil {
		return res, err
	}
	cmd := exec.CommandContext(b.Context(), os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkControllerAtScale$", "-test.benchtime=1x", "-test.timeout=0")
	cmd.Env = append(os.Environ(), scaleChildEnv+"="+string(raw))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return res, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() {
		// Measured: the child need not stop gracefully.
		_ = cmd.Process.Kill()
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	next := func(what string, into *scaleSample) error {
		for lines.Scan() {
			rest, ok := strings.CutPrefix(lines.Text(), scalePrefix+what+" ")
			if ok {
				return json.Unmarshal([]byte(rest), into)
			}
			if strings.HasPrefix(lines.Text(), scalePrefix) {
				return fmt.Errorf("child: %s", lines.Text())
			}
		}
		if err := lines.Err(); err != nil {
			return fmt.Errorf("failed to read the child's output: %w", err)
		}
		return fmt.Errorf("the child (trimmed %v) stopped before reporting %s:\n%s", trimmed, what, tail(stderr.String(), 40))
	}
	if err := next("steady", &res.Steady); err != nil {
		return res, err
	}
	if _, err := io.WriteString(stdin, "churn\n"); err != nil {
		return res, err
	}
	created, elapsed, err := churn(b.Context(), c, cl)
	if err != nil {
		return res, err
	}
	res.ChurnRate = float64(created) / elapsed.Seconds()
	if _, err := io.WriteString(stdin, "done\n"); err != nil {
		return res, err
	}
	if err := next("churn", &res.Churn); err != nil {
		return res, err
	}
	_ = stdin.Close()
	return res, nil
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(all[max(len(all)-lines, 0):], "\n")
}

// scaleChild is the child process: `ballast controller` in this process, measured.
func scaleChild(b *testing.B, raw string) {
	var cfg scaleChildConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		b.Fatal(err)
	}
	fail := func(format string, args ...any) {
		fmt.Printf(scalePrefix+"error "+format+"\n", args...)
		b.Fatalf(format, args...)
	}
	b.Setenv("KUBECONFIG", cfg.Kubeconfig)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	restCfg, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		fail("%v", err)
	}
	c, err := client.New(restCfg, client.Options{Scheme: controlplane.Scheme})
	if err != nil {
		fail("%v", err)
	}
	// The last child's figures go, so that this one waits for its own.
	policy := &v1alpha1.ClusterPolicy{ObjectMeta: metav1.ObjectMeta{Name: scaleCluster}}
	if err := c.Status().Patch(ctx, policy, client.RawPatch(types.MergePatchType, []byte(`{"status":{"cost":null}}`))); err != nil {
		fail("%v", err)
	}
	var errOut lockedBuffer
	done := make(chan int, 1)
	start := time.Now()
	go func() {
		done <- MainContext(ctx, []string{"controller", "--cluster", scaleCluster, "--namespace", "ballast-system",
			"--metrics-addr", "0", "--health-addr", "0", "--webhook-port", strconv.Itoa(cfg.Port),
			"--webhook-url", fmt.Sprintf("https://127.0.0.1:%d", cfg.Port), "--cert-dir", filepath.Join(cfg.Dir, "certs"),
			"--source-dir", filepath.Join(cfg.Dir, "sources"), "--log-level", "error", "--trim-cache=" + strconv.FormatBool(cfg.Trimmed),
		}, nil, io.Discard, &errOut)
	}()
	quiet, busy, err := waitSteady(ctx, c, cfg.Nodes, done)
	if err != nil {
		fail("%v\n%s", err, tail(errOut.String(), 40))
	}
	steady := sample()
	steady.QueuesQuiet, steady.Busy = quiet, busy
	// What the RSS comes down to once the runtime has returned the memory it holds
	// free (it does so by itself over minutes).
	debug.FreeOSMemory()
	steady.SettledRSS = sample().RSS
	steady.Ready = time.Since(start).Seconds()
	// profile creates DIR/<cache><suffix>.pprof when scaleProfileEnv names a DIR.
	profile := func(suffix string) *os.File {
		dir := os.Getenv(scaleProfileEnv)
		if dir == "" {
			return nil
		}
		f, err := os.Create(filepath.Join(dir, cacheName(cfg.Trimmed)+suffix+".pprof"))
		if err != nil {
			fail("%v", err)
		}
		return f
	}
	if f := profile(""); f != nil {
		if err := pprof.WriteHeapProfile(f); err != nil {
			fail("%v", err)
		}
		_ = f.Close()
	}
	cpu0 := cpuSeconds()
	time.Sleep(idleFor)
	steady.CPU, steady.Seconds = cpuSeconds()-cpu0, idleFor.Seconds()
	report("steady", steady)

	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "churn" {
		fail("no churn signal")
	}
	cpu0, t0 := cpuSeconds(), time.Now()
	cpuProfile := profile("-churn-cpu")
	if cpuProfile != nil {
		if err := pprof.StartCPUProfile(cpuProfile); err != nil {
			fail("%v", err)
		}
	}
	if !in.Scan() || in.Text() != "done" {
		fail("no end of churn")
	}
	if cpuProfile != nil {
		pprof.StopCPUProfile()
		_ = cpuProfile.Close()
	}
	cpu1, seconds := cpuSeconds(), time.Since(t0).Seconds()
	churned := sample()
	churned.CPU, churned.Seconds = cpu1-cpu0, seconds
	report("churn", churned)
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		fail("the controller did not stop")
	}
}

// cacheName names a child's cache in its profiles' file names.
func cacheName(trimmed bool) string {
	if trimmed {
		return "trimmed"
	}
	return "whole"
}

func report(what string, s scaleSample) {
	data, _ := json.Marshal(s)
	fmt.Println(scalePrefix + what + " " + string(data))
}

// waitSteady waits until the cost controller has priced every node (so the caches
// hold the whole cluster) and then until every controller's queue has been empty for
// 5 seconds, for at most 3 minutes (a controller that requeues work periodically keeps
// its queue busy); it reports whether the queues went quiet.
func waitSteady(ctx context.Context, c client.Client, nodes int, exited <-chan int) (bool, map[string]float64, error) {
	deadline := time.Now().Add(20 * time.Minute)
	var priced time.Time
	quiet := 0
	for time.Now().Before(deadline) {
		select {
		case code := <-exited:
			return false, nil, fmt.Errorf("the controller exited with %d", code)
		case <-time.After(time.Second):
		}
		if priced.IsZero() {
			var p v1alpha1.ClusterPolicy
			if err := c.Get(ctx, client.ObjectKey{Name: scaleCluster}, &p); err != nil {
				return false, nil, err
			}
			if p.Status.Cost == nil || p.Status.Cost.Nodes != int32(nodes) { //nolint:gosec // small
				continue
			}
			priced = time.Now()
		}
		depth, busy, err := queueDepth()
		if err != nil {
			return false, nil, err
		}
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
func queueDepth() (float64, map[string]float64, error) {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return 0, nil, err
	}
	var depth float64
	busy := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "workqueue_depth" {
			continue
		}
		for _, m := range f.GetMetric() {
			depth += m.GetGauge().GetValue()
			if v := m.GetGauge().GetValue(); v > 0 {
				for _, l := range m.GetLabel() {
					if l.GetName() == "name" {
						busy[l.GetValue()] = v
					}
				}
			}
		}
	}
	return depth, busy, nil
}

// sample forces a garbage collection and reads the heap in use, the RSS and the peak
// RSS.
func sample() scaleSample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := scaleSample{HeapInuse: ms.HeapInuse, Sys: ms.Sys, HeapIdle: ms.HeapIdle, HeapReleased: ms.HeapReleased}
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	if live[0].Value.Kind() == metrics.KindUint64 {
		s.HeapLive = live[0].Value.Uint64()
	}
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return s
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, value, _ := strings.Cut(line, ":")
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			s.RSS = kb << 10
		case "VmHWM":
			s.HWM = kb << 10
		case "RssAnon":
			s.RSSAnon = kb << 10
		case "RssFile":
			s.RSSFile = kb << 10
		}
	}
	return s
}

// cpuSeconds is the user and system CPU time of this process.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
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
