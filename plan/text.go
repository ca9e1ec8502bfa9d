package plan

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Counts are how many objects were added, changed and removed.
type Counts struct {
	Added, Changed, Removed int
}

// Count counts changes, of one cluster when cluster is not empty.
func Count(changes []Change, cluster string) Counts {
	var c Counts
	for _, ch := range changes {
		if cluster != "" && ch.Cluster != cluster {
			continue
		}
		switch ch.Action {
		case Added:
			c.Added++
		case Changed:
			c.Changed++
		case Removed:
			c.Removed++
		}
	}
	return c
}

// Total is the number of objects that differ.
func (c Counts) Total() int { return c.Added + c.Changed + c.Removed }

// String is e.g. "2 changed, 1 added", or "no change".
func (c Counts) String() string {
	var parts []string
	for _, p := range []struct {
		n    int
		verb string
	}{{c.Changed, "changed"}, {c.Added, "added"}, {c.Removed, "removed"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.verb))
		}
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, ", ")
}

// WriteText writes changes for a terminal: a heading per cluster, a line per object
// (+ added, ~ changed, - removed) and an indented line per changed field, "path: old ->
// new".
func WriteText(w io.Writer, changes []Change) error {
	bw := bufio.NewWriter(w)
	cluster := ""
	for i, ch := range changes {
		if i == 0 || ch.Cluster != cluster {
			if i > 0 {
				_, _ = bw.WriteString("\n")
			}
			cluster = ch.Cluster
			_, _ = fmt.Fprintf(bw, "cluster %s:\n", cluster)
		}
		_, _ = fmt.Fprintf(bw, "  %s %s\n", ch.Action.Symbol(), ch.Key)
		for _, f := range ch.Fields {
			_, _ = fmt.Fprintf(bw, "      %s: %s -> %s\n", f.Path, FormatValue(f.Old), FormatValue(f.New))
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("failed to write the diff: %w", err)
	}
	return nil
}
