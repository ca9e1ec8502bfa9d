package main

import (
	"strings"
	"testing"
)

// TestTable: standard and custom figures of `go test -bench` output become rows under
// the machine's description; log lines between results are skipped; no result is an
// error.
func TestTable(t *testing.T) {
	in := `goos: linux
goarch: amd64
pkg: github.com/ballast-dev/ballast/controllers/distribution
cpu: AMD EPYC
BenchmarkAdmission/replicas=1-2   	       1	  2061437 ns/op	         1.21 p50-ratio	    12.5 with-p99-ms
    bench_test.go:99: a log line
pkg: github.com/ballast-dev/ballast/cost
BenchmarkSnapshot/yaml-2   	       3	 1234567890 ns/op	  62.00 MB/s	 1024 B/op	 12 allocs/op
PASS
`
	var out strings.Builder
	if err := run(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"goos: linux, goarch: amd64, cpu: AMD EPYC",
		"| controllers/distribution | Admission/replicas=1-2 | p50-ratio | 1.21 |",
		"| controllers/distribution | Admission/replicas=1-2 | with-p99-ms | 12.5 |",
		"| cost | Snapshot/yaml-2 | ns/op | 1234567890 |",
		"| cost | Snapshot/yaml-2 | MB/s | 62 |",
		"| cost | Snapshot/yaml-2 | allocs/op | 12 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if err := run(strings.NewReader("PASS\n"), &out); err == nil {
		t.Error("no error without results")
	}
}
