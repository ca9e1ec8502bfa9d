package app

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ballast-dev/ballast/redact"
)

// Exit codes shared by every command.
const (
	ExitOK       = 0
	ExitFindings = 1
	ExitError    = 2
)

// exitError carries an exit code out of a command without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// streams are where a command reads and writes.
type streams struct {
	in  io.Reader
	out io.Writer
	err io.Writer
}

// Main runs the command line with args and returns the process exit code.
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	return MainContext(context.Background(), args, in, out, errOut)
}

// MainContext is Main with a context that ends long-running commands (controller).
func MainContext(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	s := streams{in: in, out: out, err: errOut}
	root := newRootCommand(s)
	root.SetArgs(args)
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	err := root.ExecuteContext(ctx)
	var ee exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	default:
		// Errors may quote URLs and servers' replies: never a credential.
		_, _ = fmt.Fprintf(errOut, "Error: %s\n", redact.String(err.Error()))
		return ExitError
	}
}

func newRootCommand(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "ballast",
		Short: "GitOps cost orchestration for Kubernetes on AWS with Karpenter",
		Long: `Ballast keeps orchestration policy (Spot / On-Demand split, fallback, commitments,
bin packing, maintenance windows) as YAML in Git, validates it, renders it into Karpenter
NodePools and EC2NodeClasses and applies it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
	}
	// --version is a flag of Ballast's own rather than cobra's: cobra prints a custom
	// version line through text/template, and a reachable template execution (a
	// reflective method lookup) makes the linker keep every exported method of every
	// type ever held in an interface: a third of the binary (CONTRIBUTING.md, "Binary
	// size").
	showVersion := root.Flags().BoolP("version", "v", false, "version for ballast")
	root.RunE = func(c *cobra.Command, _ []string) error {
		if *showVersion {
			_, err := fmt.Fprintf(s.out, "ballast %s\n", Build())
			return err
		}
		return c.Help()
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		_, _ = fmt.Fprintf(s.err, "Error: %s\n%s", redact.String(err.Error()), c.UsageString())
		return exitError{ExitError}
	})
	root.AddCommand(
		newVersionCommand(s),
		newValidateCommand(s),
		newRenderCommand(s),
		newDiffCommand(s),
		newPlanCommand(s),
		newEstimateCommand(s),
		newImportCommand(s),
		newStatusCommand(s),
		newControllerCommand(s),
		newDevCommand(s),
	)
	return root
}
