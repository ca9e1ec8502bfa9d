// Command benchtable reads `go test -bench` output on stdin and prints every figure as
// one Markdown table: a row per benchmark and metric (ns/op, B/op, allocs/op and the
// figures benchmarks report themselves: latency ratios, MB/s, RSS, reaction times),
// under the machine the benchmarks ran on. `make bench` pipes its run through it; the
// raw output is kept beside it for benchstat.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
)

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

// row is one figure of one benchmark.
type row struct {
	pkg, name, unit string
	value           float64
}

func run(in io.Reader, out io.Writer) error {
	r := benchfmt.NewReader(in, "stdin")
	var rows []row
	machine := map[string]string{}
	var order []string
	for r.Scan() {
		switch rec := r.Result().(type) {
		case *benchfmt.Result:
			for _, c := range rec.Config {
				if c.File && (c.Key == "goos" || c.Key == "goarch" || c.Key == "cpu") {
					if _, ok := machine[c.Key]; !ok {
						order = append(order, c.Key)
					}
					machine[c.Key] = string(c.Value)
				}
			}
			name := strings.TrimPrefix(string(rec.Name.Full()), "Benchmark")
			for _, v := range rec.Values {
				unit, value := v.Unit, v.Value
				if v.OrigUnit != "" {
					// As the benchmark wrote it, not as benchfmt normalises it.
					unit, value = v.OrigUnit, v.OrigValue
				}
				rows = append(rows, row{pkg: rec.GetConfig("pkg"), name: name, unit: unit, value: value})
			}
		case *benchfmt.SyntaxError:
			// Test logs between results are not benchmark lines.
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("no benchmark results on stdin")
	}
	w := bufio.NewWriter(out)
	var parts []string
	for _, k := range order {
		parts = append(parts, k+": "+machine[k])
	}
	fmt.Fprintf(w, "\n%s\n\n| package | benchmark | figure | value |\n|---|---|---|---|\n", strings.Join(parts, ", "))
	for _, x := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", strings.TrimPrefix(x.pkg, "github.com/ballast-dev/ballast/"), x.name, x.unit, format(x.value))
	}
	return w.Flush()
}

// format prints a figure with three significant digits, without exponent.
func format(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1000 || v <= -1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
