package app

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/render"
)

type renderOptions struct {
	cluster string
	out     string
	source  string
	at      string
	target  string
}

func newRenderCommand(s streams) *cobra.Command {
	o := renderOptions{}
	cmd := &cobra.Command{
		Use:   "render [PATH]",
		Short: "Render a policy tree into Karpenter and Ballast objects",
		Long: `Render validates the policy tree at PATH (default ".") and prints, for every cluster
(or the one named by --cluster), its EC2NodeClass, NodePools, ClusterPolicy and
WorkloadDistributionRules as a YAML stream. Nothing is rendered when validation finds
an error, including a NodePool or EC2NodeClass that Karpenter's own CRDs would refuse
(karpenter-rejects). Output is deterministic: the same tree and reference time give the same bytes.`,
		Example: `  ballast render examples/policies
  ballast render examples/policies --cluster prod-eu --out rendered/`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			return o.run(s, path)
		},
	}
	cmd.Flags().StringVar(&o.cluster, "cluster", "", "render only this cluster")
	cmd.Flags().StringVar(&o.out, "out", "", "write one file per cluster, DIR/<cluster>.yaml, instead of stdout")
	cmd.Flags().StringVar(&o.source, "source", "local", "value of the ballast.dev/source owner label")
	cmd.Flags().StringVar(&o.at, "time", "", "reference time (RFC 3339) for maintenance windows; default now")
	cmd.Flags().StringVar(&o.target, "target", "aws", "the cloud to render for: aws, or kwok (Karpenter's kwok provider, for `ballast dev` and tests)")
	return cmd
}

func (o renderOptions) run(s streams, path string) error {
	now := time.Now()
	if o.at != "" {
		t, err := time.Parse(time.RFC3339, o.at)
		if err != nil {
			return usageError(s, "--time %q is not an RFC 3339 time such as 2026-11-23T12:00:00Z", o.at)
		}
		now = t
	}
	if o.target != string(render.TargetAWS) && o.target != string(render.TargetKwok) {
		return usageError(s, "--target %q: write aws or kwok", o.target)
	}
	repo, err := loadPath(path)
	if err != nil {
		return usageError(s, "%v", err)
	}
	// Objects Karpenter would refuse are never printed: validation checks them.
	findings := repo.ValidateWith(policies.Options{CheckRendered: karpenterCheck(now)})
	if findings.HasErrors() {
		_ = policies.Write(s.err, "text", findings, policies.Rules)
		_, _ = fmt.Fprintln(s.err, "nothing rendered: fix the errors above")
		return exitError{ExitFindings}
	}
	for _, f := range findings {
		if f.Severity == policies.SeverityWarning {
			_, _ = fmt.Fprintln(s.err, f)
		}
	}
	clusters := repo.Clusters()
	if o.cluster != "" {
		if _, _, err := repo.ForCluster(o.cluster); err != nil {
			return usageError(s, "%v", err)
		}
		clusters = []string{o.cluster}
	}
	if len(clusters) == 0 {
		return usageError(s, "%s holds no ClusterPolicy: nothing to render", path)
	}
	// Take what each cluster renders from first: the policy tree's YAML nodes, most
	// of its memory, are not needed to render, and can be freed meanwhile.
	inputs := make([]render.Input, len(clusters))
	for i, cluster := range clusters {
		policy, rules, err := repo.ForCluster(cluster)
		if err != nil {
			return err
		}
		inputs[i] = render.Input{Policy: policy, Rules: rules, Source: o.source, Now: now, Target: render.Target(o.target)}
	}
	var all bytes.Buffer
	for i, cluster := range clusters {
		objs, err := render.Render(inputs[i])
		inputs[i] = render.Input{}
		if err != nil {
			return fmt.Errorf("failed to render cluster %s: %w", cluster, err)
		}
		data, err := render.Marshal(objs)
		if err != nil {
			return fmt.Errorf("failed to serialise cluster %s: %w", cluster, err)
		}
		if o.out != "" {
			if err := os.MkdirAll(o.out, 0o755); err != nil {
				return fmt.Errorf("failed to create %s: %w", o.out, err)
			}
			file := filepath.Join(o.out, cluster+".yaml")
			if err := os.WriteFile(file, data, 0o644); err != nil { //nolint:gosec // manifests are not secret
				return fmt.Errorf("failed to write %s: %w", file, err)
			}
			_, _ = fmt.Fprintf(s.err, "wrote %s (%d objects)\n", file, len(objs))
			continue
		}
		if i > 0 {
			all.WriteString("---\n")
		}
		all.Write(data)
	}
	_, err = s.out.Write(all.Bytes())
	return err
}
