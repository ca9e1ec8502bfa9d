package render_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/policies/policytest"
	"github.com/ballast-dev/ballast/render"
)

// BenchmarkLoadValidateRender measures the whole offline pipeline (what `ballast
// render` and every controller sync do) on a repository of 2 clusters and 1,000 rules.
func BenchmarkLoadValidateRender(b *testing.B) {
	fsys := policytest.Repository(100, 10)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		repo, err := policies.Load(fsys, ".", "")
		if err != nil {
			b.Fatal(err)
		}
		if findings := repo.Validate(); findings.HasErrors() {
			b.Fatal(findings)
		}
		objects := 0
		for _, cluster := range repo.Clusters() {
			policy, rules, err := repo.ForCluster(cluster)
			if err != nil {
				b.Fatal(err)
			}
			objs, err := render.Render(render.Input{Policy: policy, Rules: rules, Source: "bench", Now: now})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := render.Marshal(objs); err != nil {
				b.Fatal(err)
			}
			objects += len(objs)
		}
		if objects < 1000 {
			b.Fatalf("rendered %d objects", objects)
		}
	}
}

// BenchmarkRenderTree measures `ballast render` of a tree on disk (load, validate,
// render and marshal every cluster) at the sizes of policytest.ScaleSizes.
func BenchmarkRenderTree(b *testing.B) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, size := range policytest.ScaleSizes {
		b.Run(size.String(), func(b *testing.B) {
			dir := benchDir(b, "trees", size.String())
			if err := policytest.WriteRepository(dir, size); err != nil {
				b.Fatal(err)
			}
			fsys := os.DirFS(dir)
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				repo, err := policies.Load(fsys, ".", "policies")
				if err != nil {
					b.Fatal(err)
				}
				if findings := repo.Validate(); findings.HasErrors() {
					b.Fatal(findings)
				}
				// As ballast render does: the inputs first, so that the tree's YAML nodes
				// can be freed while rendering.
				var inputs []render.Input
				for _, cluster := range repo.Clusters() {
					policy, clusterRules, err := repo.ForCluster(cluster)
					if err != nil {
						b.Fatal(err)
					}
					inputs = append(inputs, render.Input{Policy: policy, Rules: clusterRules, Source: "bench", Now: now})
				}
				rules := 0
				for i := range inputs {
					objs, err := render.Render(inputs[i])
					if err != nil {
						b.Fatal(err)
					}
					rules += len(inputs[i].Rules)
					inputs[i] = render.Input{}
					if _, err := render.Marshal(objs); err != nil {
						b.Fatal(err)
					}
				}
				if rules < size.Rules {
					b.Fatalf("rendered %d rules, want at least %d", rules, size.Rules)
				}
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}

// cpuTime is the CPU time (user and system, all threads) the process has used.
// Benchmarks report it per operation besides wall time, which on a shared machine
// says as much about the other loads as about the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchDir is where a benchmark writes what it generates: a temporary directory, or
// $BALLAST_BENCH_DIR/elems..., kept for measuring the ballast command on the same
// input (see docs/performance.md).
func benchDir(b *testing.B, elems ...string) string {
	root := os.Getenv("BALLAST_BENCH_DIR")
	if root == "" {
		return b.TempDir()
	}
	dir := filepath.Join(append([]string{root}, elems...)...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return dir
}
