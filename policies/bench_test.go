package policies

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/policies/policytest"
)

func TestBenchRepositoryIsClean(t *testing.T) {
	repo, err := Load(policytest.Repository(100, 10), ".", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Rules) != 1000 || len(repo.ClusterPolicies) != 2 {
		t.Fatalf("%d rules, %d policies", len(repo.Rules), len(repo.ClusterPolicies))
	}
	if fs := repo.Validate(); len(fs) != 0 {
		t.Errorf("the benchmark repository must be valid, so the benchmark measures the whole validation: %v", fs[0])
	}
}

func BenchmarkLoadValidate(b *testing.B) {
	fsys := policytest.Repository(100, 10)
	b.ReportAllocs()
	for b.Loop() {
		repo, err := Load(fsys, ".", "")
		if err != nil {
			b.Fatal(err)
		}
		if fs := repo.Validate(); len(fs) != 0 {
			b.Fatal(fs[0])
		}
	}
}

// manyZones are time zones with daylight-saving time on different days.
var manyZones = []string{
	"Europe/Berlin", "Europe/London", "Europe/Dublin", "America/New_York", "America/St_Johns",
	"America/Santiago", "America/Havana", "America/Asuncion", "Asia/Gaza", "Asia/Beirut",
	"Australia/Sydney", "Australia/Adelaide", "Australia/Lord_Howe", "Pacific/Chatham",
	"Pacific/Auckland", "Africa/Casablanca", "Antarctica/Troll", "America/Scoresbysund",
	"Pacific/Easter", "America/Miquelon", "Atlantic/Azores", "Europe/Chisinau",
}

// BenchmarkValidateWindowsInManyZones measures the worst case of the budget count
// check: 50 windows in 22 zones that change their offsets on different days, so that
// the combinations of offsets over the years are many.
func BenchmarkValidateWindowsInManyZones(b *testing.B) {
	var doc strings.Builder
	doc.WriteString(basePolicy + "  maintenanceWindows:\n")
	for i := range 50 {
		fmt.Fprintf(&doc, "    - {name: w%d, days: [Mon], start: \"%02d:00\", end: \"%02d:30\", timeZone: %s, allow: [Consolidation]}\n",
			i, i%24, i%24, manyZones[i%len(manyZones)])
	}
	data := []byte(doc.String())
	b.ReportAllocs()
	for b.Loop() {
		repo := LoadBytes("p.yaml", data)
		if fs := repo.Validate(); fs.HasErrors() {
			b.Fatal(fs[0])
		}
	}
}

// BenchmarkValidateTree measures `ballast validate` of a tree on disk (load and
// validate) at the sizes of policytest.ScaleSizes; rules of one namespace are the case
// where overlap detection has the most pairs to consider.
func BenchmarkValidateTree(b *testing.B) {
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
				repo, err := Load(fsys, ".", "policies")
				if err != nil {
					b.Fatal(err)
				}
				if len(repo.Rules) != size.Rules {
					b.Fatalf("%d rules, want %d", len(repo.Rules), size.Rules)
				}
				if fs := repo.Validate(); len(fs) != 0 {
					b.Fatal(fs[0])
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
