package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/plan"
	"github.com/ballast-dev/ballast/policies"
)

// diffOptions are the flags of ballast diff.
type diffOptions struct {
	base    string
	head    string
	cluster string
	source  string
	at      string
	format  string
}

func newDiffCommand(s streams) *cobra.Command {
	o := diffOptions{source: "local", format: "text"}
	cmd := &cobra.Command{
		Use:   "diff --base REF [--head REF] [PATH]",
		Short: "Show how the rendered objects differ between two Git revisions",
		Long: `Diff renders the policy tree at PATH (a directory, default ".") at two revisions of
the Git repository holding it and prints the objects that differ: added (+), changed (~)
with every changed field as "path: old -> new", and removed (-), per cluster.

The head is the working tree (the files on disk, committed or not) unless --head names
a revision. Revisions are anything git rev-parse understands that names a commit
locally: branches, tags, remote-tracking branches (origin/main), hashes, HEAD~1, main^2.
Nothing is fetched; no cluster or credentials are needed. Both sides are rendered with
the same reference time (--time), so maintenance windows do not differ by accident.

Exit status: 0 when nothing differs, 1 when something does, 2 on an error, including
validation errors at either revision (they are printed).`,
		Example: `  ballast diff --base main policies/
  ballast diff --base v1.4.0 --head v1.5.0 policies/
  ballast diff --base HEAD~1 --format json .`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			return runDiff(c.Context(), s, o, path, time.Now())
		},
	}
	cmd.Flags().StringVar(&o.base, "base", "", "the revision to compare with (required)")
	cmd.Flags().StringVar(&o.head, "head", "", "the revision to compare; default: the working tree")
	cmd.Flags().StringVar(&o.cluster, "cluster", "", "compare only this cluster")
	cmd.Flags().StringVar(&o.source, "source", o.source, "value of the ballast.dev/source owner label on both sides")
	cmd.Flags().StringVar(&o.at, "time", "", "reference time (RFC 3339) for maintenance windows and commitment expiry on both sides; default now")
	cmd.Flags().StringVar(&o.format, "format", o.format, "output format: text or json")
	return cmd
}

// diffReport is the json format of ballast diff. Its field names are stable.
type diffReport struct {
	Base    diffRevision  `json:"base"`
	Head    diffRevision  `json:"head"`
	Counts  diffCounts    `json:"counts"`
	Changes []plan.Change `json:"changes"`
}

type diffRevision struct {
	Label  string `json:"label"`
	Commit string `json:"commit,omitempty"`
}

type diffCounts struct {
	Added   int `json:"added"`
	Changed int `json:"changed"`
	Removed int `json:"removed"`
}

func runDiff(ctx context.Context, s streams, o diffOptions, path string, now time.Time) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.base == "" {
		return usageError(s, "--base is required: the revision to compare with, e.g. --base main")
	}
	if o.format != "text" && o.format != "json" {
		return usageError(s, "unknown format %q: use text or json", o.format)
	}
	at, err := referenceTime(o.at, now)
	if err != nil {
		return usageError(s, "%v", err)
	}
	ws, err := openWorkspace(path)
	if err != nil {
		return usageError(s, "%v", err)
	}
	defer func() { _ = ws.Close() }()
	base, head, err := loadSides(ctx, ws, o.base, o.head, at)
	if err != nil {
		return usageError(s, "%v", err)
	}
	if err := checkSides(s, o.cluster, base, head); err != nil {
		return err
	}
	changes, err := diffSides(base, head, o.cluster, o.source, at)
	if err != nil {
		return err
	}
	counts := plan.Count(changes, "")
	if o.format == "json" {
		if changes == nil {
			changes = []plan.Change{}
		}
		r := diffReport{Base: revisionOf(base), Head: revisionOf(head), Changes: changes,
			Counts: diffCounts{Added: counts.Added, Changed: counts.Changed, Removed: counts.Removed}}
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("failed to write the diff: %w", err)
		}
	} else {
		if err := plan.WriteText(s.out, changes); err != nil {
			return err
		}
		if counts.Total() == 0 {
			_, _ = fmt.Fprintf(s.out, "no change: %s and %s render the same objects\n", base.label, head.label)
		} else {
			_, _ = fmt.Fprintf(s.out, "\n%s between %s and %s: %s\n", count(counts.Total(), "object differs", "objects differ"), base.label, head.label, counts)
		}
	}
	if counts.Total() > 0 {
		return exitError{ExitFindings}
	}
	return nil
}

// loadSides resolves and loads the base (required) and the head (the working tree when
// head is empty).
func loadSides(ctx context.Context, ws *workspace, baseRef, headRef string, at time.Time) (*side, *side, error) {
	baseRev, err := ws.resolve(ctx, baseRef)
	if err != nil {
		return nil, nil, err
	}
	var headRev *gitsync.Revision
	if headRef != "" {
		r, err := ws.resolve(ctx, headRef)
		if err != nil {
			return nil, nil, err
		}
		headRev = &r
	}
	base, err := ws.load(ctx, &baseRev, at)
	if err != nil {
		return nil, nil, err
	}
	head, err := ws.load(ctx, headRev, at)
	if err != nil {
		return nil, nil, err
	}
	return base, head, nil
}

// checkSides prints the validation errors of either side and fails when there are any,
// and checks that --cluster names a cluster on at least one side.
func checkSides(s streams, cluster string, sides ...*side) error {
	failed := false
	for _, sd := range sides {
		if !sd.findings.HasErrors() {
			continue
		}
		failed = true
		_, _ = fmt.Fprintf(s.err, "%s has validation errors:\n", sd.label)
		var errs policies.Findings
		for _, f := range sd.findings {
			if f.Severity == policies.SeverityError {
				errs = append(errs, f)
			}
		}
		_ = policies.Write(s.err, "text", errs, policies.Rules)
	}
	if failed {
		_, _ = fmt.Fprintln(s.err, "nothing compared: fix the errors above")
		return exitError{ExitError}
	}
	if cluster != "" {
		for _, sd := range sides {
			for _, c := range sd.repo.Clusters() {
				if c == cluster {
					return nil
				}
			}
		}
		return usageError(s, "no ClusterPolicy for cluster %q at %s or %s", cluster, sides[0].label, sides[len(sides)-1].label)
	}
	return nil
}

// diffSides renders both sides and compares them.
func diffSides(base, head *side, cluster, source string, at time.Time) ([]plan.Change, error) {
	before, err := base.render(cluster, source, at)
	if err != nil {
		return nil, err
	}
	after, err := head.render(cluster, source, at)
	if err != nil {
		return nil, err
	}
	return plan.Diff(before, after), nil
}

func revisionOf(s *side) diffRevision {
	r := diffRevision{Label: s.label}
	if s.rev != nil {
		r.Commit = s.rev.Commit
	}
	return r
}
