package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/localcluster"
)

var (
	kube *localcluster.Cluster
	// ballast is the real controller binary, running as its own ServiceAccount.
	ballast   *localcluster.Ballast
	suiteTime = time.Now()
)

func TestMain(m *testing.M) {
	ctx := context.Background()
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	var err error
	// Karpenter retries a Spot offering that ran out of capacity after this long (3m in
	// the AWS provider); Ballast is told the same.
	kube, err = localcluster.Start(ctx, localcluster.Options{KarpenterEnv: []string{"BALLAST_UNAVAILABLE_TTL=" + unavailableTTL}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "failed to start the cluster:", err)
		os.Exit(1)
	}
	// The smoke tests' pool is tainted so that only their pods (which tolerate it) use
	// it, and pods the distributor tests leave unplaced cannot.
	if err := kube.Client.Create(ctx, localcluster.WithTaint(localcluster.NodePool("default", "10s"), smokeTaint)); err != nil {
		fmt.Fprintln(os.Stderr, "failed to create the NodePool:", err)
		kube.Stop()
		os.Exit(1)
	}
	if err := firstRunningPod(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		kube.Dump(os.Stderr)
		kube.Stop()
		os.Exit(1)
	}
	if err := setupBallast(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "failed to start Ballast:", err)
		kube.Dump(os.Stderr)
		kube.Stop()
		os.Exit(1)
	}
	code := m.Run()
	report()
	if code != 0 {
		kube.Dump(os.Stderr)
		fmt.Fprintf(os.Stderr, "--- ballast controller (last 60 lines)\n%s\n", ballast.Log(60))
	}
	ballast.Stop()
	sqsServer.Stop()
	kube.Stop()
	os.Exit(code)
}

// report prints the figures the harness is judged by: start-up timings and the memory
// of each component after the suite.
func report() {
	fmt.Printf("cluster timings:")
	for _, k := range []string{"binaries", "apiserver-ready", "cluster-ready", "first-running-pod"} {
		if d, ok := kube.Timings[k]; ok {
			fmt.Printf(" %s=%s", k, d.Round(100*time.Millisecond))
		}
	}
	fmt.Println()
	mem := kube.Memory()
	total := printSorted("component memory (RSS):", mem, func(b int64) string { return fmt.Sprintf("%dMiB", b>>20) })
	fmt.Printf(" total=%dMiB\n", total>>20)
	// Where the suite's processor time went: the machine has two cores for every suite.
	cpu := kube.CPU()
	cpu["ballast"] = ballast.CPU()
	var self syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	cpu["tests"] = time.Duration(self.Utime.Nano() + self.Stime.Nano())
	sum := printSorted("component CPU:", cpu, func(d time.Duration) string { return d.Round(time.Second).String() })
	fmt.Printf(" total=%s in %s\n", sum.Round(time.Second), time.Since(suiteTime).Round(time.Second))
}

// printSorted prints the title and each name=value by name, and returns the values' sum.
func printSorted[V int64 | time.Duration](title string, values map[string]V, format func(V) string) V {
	fmt.Print(title)
	var sum V
	for _, n := range slices.Sorted(maps.Keys(values)) {
		fmt.Printf(" %s=%s", n, format(values[n]))
		sum += values[n]
	}
	return sum
}

// firstRunningPod measures the time from the suite's start to the first pod Running on
// a node Karpenter launched.
func firstRunningPod(ctx context.Context) error {
	ns, err := kube.NewNamespace(ctx, "first")
	if err != nil {
		return err
	}
	if err := kube.Client.Create(ctx, smokeDeployment(ns, "first", 1, "100m", nil)); err != nil {
		return err
	}
	if _, err := kube.WaitPodsRunning(ctx, ns, appSelector("first"), 1, 3*time.Minute); err != nil {
		return err
	}
	kube.Timings["first-running-pod"] = time.Since(suiteTime)
	return kube.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
}
