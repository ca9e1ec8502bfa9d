package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/test/cluster"
)

var (
	kube      *cluster.Cluster
	suiteTime = time.Now()
)

func TestMain(m *testing.M) {
	ctx := context.Background()
	var err error
	kube, err = cluster.Start(ctx, cluster.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "failed to start the cluster:", err)
		os.Exit(1)
	}
	if err := kube.Client.Create(ctx, cluster.NodePool("default", "10s")); err != nil {
		fmt.Fprintln(os.Stderr, "failed to create the NodePool:", err)
		kube.Stop()
		os.Exit(1)
	}
	code := m.Run()
	report()
	if code != 0 {
		kube.Dump(os.Stderr)
	}
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
	names := make([]string, 0, len(mem))
	var total int64
	for n, b := range mem {
		names = append(names, n)
		total += b
	}
	sort.Strings(names)
	fmt.Printf("component memory (RSS):")
	for _, n := range names {
		fmt.Printf(" %s=%dMiB", n, mem[n]>>20)
	}
	fmt.Printf(" total=%dMiB\n", total>>20)
}
