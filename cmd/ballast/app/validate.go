package app

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/redact"
)

// validateOptions are the flags of ballast validate.
type validateOptions struct {
	format string
	today  string
}

func newValidateCommand(s streams) *cobra.Command {
	o := validateOptions{format: "text"}
	cmd := &cobra.Command{
		Use:   "validate [PATH]",
		Short: "Check a policy tree and report every problem at file:line:column",
		Long: `Validate loads every .yaml and .yml file under PATH (a directory, default ".", or
one file) and checks the Ballast policy documents in it: structure, the API server's
schema rules, and what no schema can express (overlapping rules, limits too small for
the base On-Demand replicas, a Spot supply too narrow for spot-to-spot consolidation, ...).
Each valid ClusterPolicy is then rendered, and its NodePools and EC2NodeClass are checked
against Karpenter's own CRDs (OpenAPI constraints and CEL rules, offline): a rule they
break is a karpenter-rejects error at the policy field it comes from. A Karpenter
NodePool or EC2NodeClass in the tree is a karpenter-object warning: it is not Ballast
policy (try ballast import).
Files are named relative to the working directory, as PATH/<file>. Only regular files
and symbolic links to regular files inside PATH are read; a FIFO, socket or device, a
link that dangles, loops or leads out of PATH, or a file that cannot be read is one
unreadable-file finding, and the rest of the tree is still checked.

Exit status: 0 when there is no error or warning, 1 when there is, 2 on a usage error.`,
		Example: `  ballast validate policies/
  ballast validate --format github policies/    # annotations in a GitHub Actions job
  ballast validate --format sarif . > ballast.sarif`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			return runValidate(s, o, path, time.Now())
		},
	}
	cmd.Flags().StringVar(&o.format, "format", o.format, "output format: "+strings.Join(policies.Formats, ", "))
	cmd.Flags().StringVar(&o.today, "today", "", "the date (YYYY-MM-DD) expired commitments are checked against; defaults to today (UTC)")
	return cmd
}

// usageError prints a usage problem and exits with ExitError.
func usageError(s streams, format string, args ...any) error {
	_, _ = fmt.Fprintf(s.err, "Error: %s\n", redact.String(fmt.Sprintf(format, args...)))
	return exitError{ExitError}
}

func runValidate(s streams, o validateOptions, path string, now time.Time) error {
	if !slices.Contains(policies.Formats, o.format) {
		return usageError(s, "unknown format %q: use one of %s", o.format, strings.Join(policies.Formats, ", "))
	}
	today := now.UTC()
	if o.today != "" {
		t, err := time.Parse(time.DateOnly, o.today)
		if err != nil {
			return usageError(s, "--today %q is not a date: write YYYY-MM-DD", o.today)
		}
		today = t
	}
	repo, err := loadPath(path)
	if err != nil {
		return usageError(s, "%v", err)
	}
	// Each cluster's Karpenter objects are rendered at now and checked against
	// Karpenter's own CRDs.
	findings := repo.ValidateWith(policies.Options{Today: today, CheckRendered: karpenterCheck(now)})
	failing := findings.Count(policies.SeverityError)+findings.Count(policies.SeverityWarning) > 0
	if err := policies.Write(s.out, o.format, findings, policies.Rules); err != nil {
		return fmt.Errorf("failed to write the findings: %w", err)
	}
	if failing {
		return exitError{ExitFindings}
	}
	if o.format == "text" {
		_, _ = io.WriteString(s.out, okLine(repo, findings)+"\n")
	}
	if len(repo.ClusterPolicies)+len(repo.Rules) == 0 {
		_, _ = fmt.Fprintf(s.err, "warning: no Ballast policy documents found in %s\n", path)
	}
	return nil
}

// loadPath loads a directory tree, or a single file whatever its extension, naming
// files in findings as path/<relative path>. A tree is read by policies.Load's rules:
// only regular files inside it, and links to them; anything else is an
// unreadable-file finding.
func loadPath(path string) (*policies.Repository, error) {
	info, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist", path)
		}
		return nil, fmt.Errorf("failed to read %s: %w", path, err)
	}
	display := filepath.ToSlash(filepath.Clean(path))
	if info.IsDir() {
		tree, err := openWorkTree(path)
		if err != nil {
			return nil, err
		}
		defer func() { _ = tree.Close() }()
		return policies.Load(tree, ".", display)
	}
	// A file named on the command line is read whatever it is, as cat would: the user
	// chose it (process substitution, <(...), is a pipe).
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to open %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	// One byte more than the loader accepts, so that it reports an oversized file.
	data, err := io.ReadAll(io.LimitReader(f, policies.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", path, err)
	}
	return policies.LoadBytes(display, data), nil
}

// okLine confirms a clean validation: what was checked, in how many files.
func okLine(repo *policies.Repository, findings policies.Findings) string {
	files := map[string]bool{}
	for _, f := range findings {
		files[f.File] = true
	}
	for _, p := range repo.ClusterPolicies {
		files[p.File] = true
	}
	for _, r := range repo.Rules {
		files[r.File] = true
	}
	for _, d := range repo.Ignored {
		files[d.File] = true
	}
	return fmt.Sprintf("ok: %s, %s in %s",
		count(len(repo.ClusterPolicies), "cluster policy", "cluster policies"),
		count(len(repo.Rules), "rule", "rules"),
		count(len(files), "file", "files"))
}

func count(n int, one, other string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, other)
}
