package app

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/plan"
	"github.com/ballast-dev/ballast/policies"
)

// planOptions are the flags of ballast plan.
type planOptions struct {
	base, head, cluster, source, at string
	noMergeBase                     bool
	scenario, snapshot, prices      string
	placementScores                 string
	comment                         commentOptions
}

func newPlanCommand(s streams) *cobra.Command {
	o := planOptions{source: "local"}
	cmd := &cobra.Command{
		Use:   "plan [--base REF] [--head REF] [PATH] [--comment github|gitlab|gitea]",
		Short: "Validate, diff and estimate the cost of a policy change, as Markdown",
		Long: `Plan shows what a change to the policy tree at PATH (default ".") does, as Markdown
for a pull request: a one-line summary, a table per cluster (objects that differ, monthly
cost, savings against On-Demand, Spot share, nodes, before -> after), then folded details:
validation findings, the changed fields of every rendered object, how the cost was
estimated.

The head is the working tree unless --head names a revision. The base is --base, else
the merge request's base in CI (CI_MERGE_REQUEST_DIFF_BASE_SHA on GitLab, origin/ +
GITHUB_BASE_REF on GitHub and Gitea); without one, the plan shows the head alone. Like a
pull request's diff, the head is compared with the merge base of the base and the head
(--no-merge-base compares with the base itself).

Cost: each cluster's workload comes from --scenario or --snapshot (one cluster: use
--cluster when the tree has several), else from the file the ClusterPolicy's annotation
` + plan.ScenarioAnnotation + ` names (relative to the ClusterPolicy's file, read at
the head). The same workload is priced under the base's and the head's policy, so the
difference is the policy's doing. Without a workload, the plan has no cost figures.

With --comment, the Markdown is also kept as one comment on the pull request: found
again by a hidden marker (<!-- ballast-plan ... -->; ballast-plan:CLUSTER with
--cluster) and the token's own user, edited in place, left alone when it already says
the same about the same commit, and never overwritten by a run of an older head: a
commit the comment's commit descends from, else an earlier commit time, else (same
commit) a lower --run. Repository, number, API URL and run default from GitHub Actions,
GitLab CI and Gitea Actions variables. Tokens come only from GITHUB_TOKEN, GITLAB_TOKEN
or GITEA_TOKEN and are never printed.

Exit status: 0 when the plan was made, 1 when the head has validation errors, 2 on an
error (including a comment that could not be written).`,
		Example: `  ballast plan --base main policies/
  ballast plan --base main --cluster prod-eu --scenario scenarios/prod-eu.yaml policies/
  ballast plan --comment github policies/      # in a pull_request workflow`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			ctx := c.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return runPlan(ctx, s, o, path, time.Now(), os.Getenv)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.base, "base", "", "the revision to compare with; default: the merge request's base in CI, else none")
	f.StringVar(&o.head, "head", "", "the revision to plan; default: the working tree")
	f.BoolVar(&o.noMergeBase, "no-merge-base", false, "compare with the base itself, not with the merge base of base and head")
	f.StringVar(&o.cluster, "cluster", "", "plan only this cluster")
	f.StringVar(&o.scenario, "scenario", "", "a cost scenario file (estimate.ballast.dev/v1alpha1 Scenario) for the cluster")
	f.StringVar(&o.snapshot, "snapshot", "", "a snapshot of the cluster's nodes and pods (kubectl get nodes,pods -A -o yaml)")
	f.StringVar(&o.prices, "prices", "", "a price catalogue file laid over the built-in one")
	f.StringVar(&o.placementScores, "placement-scores", "", "Spot placement scores (YAML or JSON: instance type or family: 1-10) to rank the Spot pools by")
	f.StringVar(&o.source, "source", o.source, "value of the ballast.dev/source owner label on both sides")
	f.StringVar(&o.at, "time", "", "reference time (RFC 3339) for maintenance windows and commitment expiry; default now")
	o.comment.addFlags(f)
	cmd.MarkFlagsMutuallyExclusive("scenario", "snapshot")
	return cmd
}

func runPlan(ctx context.Context, s streams, o planOptions, path string, now time.Time, env func(string) string) error {
	o.comment.cluster = o.cluster
	if err := o.comment.check(); err != nil {
		return usageError(s, "%v", err)
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
	p, head, err := buildPlan(ctx, s, ws, o, at, env)
	if err != nil {
		return err
	}
	p.Footer = footer(p)

	if o.comment.forge == "" {
		_, _ = fmt.Fprint(s.out, plan.Markdown(*p, 0))
	} else if err := postPlan(ctx, s, o.comment, p, head, env); err != nil {
		return err
	}
	if head.findings.HasErrors() {
		return exitError{ExitFindings}
	}
	return nil
}

// buildPlan loads both sides, diffs them and estimates their cost.
func buildPlan(ctx context.Context, s streams, ws *workspace, o planOptions, at time.Time, env func(string) string) (*plan.Plan, *side, error) {
	var headRev *gitsync.Revision
	if o.head != "" {
		r, err := ws.resolve(ctx, o.head)
		if err != nil {
			return nil, nil, usageError(s, "%v", err)
		}
		headRev = &r
	}
	head, err := ws.load(ctx, headRev, at)
	if err != nil {
		return nil, nil, usageError(s, "%v", err)
	}
	p := &plan.Plan{Head: headLabel(ctx, ws, head), Findings: head.findings}

	base, note, err := planBase(ctx, ws, o, headRev, at, env)
	if err != nil {
		return nil, nil, usageError(s, "%v", err)
	}
	if note != "" {
		p.Notes = append(p.Notes, note)
	}
	if head.missing {
		p.Notes = append(p.Notes, fmt.Sprintf("%s does not exist at the head.", ws.display))
	}
	headOK := !head.findings.HasErrors()
	baseOK := base != nil && !base.findings.HasErrors()
	switch {
	case base == nil:
	case !baseOK:
		p.Notes = append(p.Notes, fmt.Sprintf("The base %s has validation errors: there is nothing valid to compare with.", base.label))
	default:
		p.Base = base.label
	}
	if !headOK {
		p.Notes = append(p.Notes, "The head has validation errors: Ballast would apply nothing until they are fixed.")
	}

	clusters := unionClusters(o.cluster, base, head)
	if o.cluster != "" && len(clusters) == 0 {
		return nil, nil, usageError(s, "no ClusterPolicy for cluster %q at the head or the base", o.cluster)
	}
	if (o.scenario != "" || o.snapshot != "") && o.cluster == "" && len(clusters) > 1 {
		return nil, nil, usageError(s, "--scenario and --snapshot describe one cluster: name it with --cluster (the tree has %d)", len(clusters))
	}
	if baseOK && headOK {
		changes, err := diffSides(base, head, o.cluster, o.source, at)
		if err != nil {
			return nil, nil, err
		}
		p.Changes = changes
	}
	est, err := newEstimator(o)
	if err != nil {
		return nil, nil, usageError(s, "%v", err)
	}
	scores, err := loadPlacementScores(o.placementScores)
	if err != nil {
		return nil, nil, usageError(s, "%v", err)
	}
	for _, name := range clusters {
		c := plan.Cluster{Name: name, InHead: hasCluster(head, name), InBase: base != nil && hasCluster(base, name)}
		var sides [2]*side
		if baseOK {
			sides[0] = base
		}
		if headOK {
			sides[1] = head
		}
		est.estimate(&c, sides[0], sides[1])
		if c.Before != nil || c.After != nil {
			p.Prices = est.prices.String()
		}
		if headOK && c.InHead {
			if policy, _, err := head.repo.ForCluster(name); err == nil {
				c.SpotPools = spotPools(policy, est.prices, scores, at)
			}
		}
		p.Clusters = append(p.Clusters, c)
	}
	return p, head, nil
}

// planBase resolves and loads the base: --base, else the CI merge request's base,
// moved to the merge base with the head unless --no-merge-base. It returns nil without
// a base, and a note for the plan when the merge base cannot be found.
func planBase(ctx context.Context, ws *workspace, o planOptions, headRev *gitsync.Revision, at time.Time, env func(string) string) (*side, string, error) {
	ref := o.base
	if ref == "" {
		switch {
		case env("CI_MERGE_REQUEST_DIFF_BASE_SHA") != "":
			ref = env("CI_MERGE_REQUEST_DIFF_BASE_SHA")
		case env("GITHUB_BASE_REF") != "":
			ref = "origin/" + env("GITHUB_BASE_REF")
		default:
			return nil, "No base revision: the plan shows the head alone (pass --base).", nil
		}
	}
	rev, err := ws.resolve(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	note := ""
	if !o.noMergeBase {
		headCommit := ""
		if headRev != nil {
			headCommit = headRev.Commit
		} else if h, err := ws.git.Resolve(ctx, "HEAD"); err == nil {
			headCommit = h.Commit
		}
		if headCommit != "" {
			mb, err := ws.git.MergeBase(ctx, rev.Commit, headCommit)
			switch {
			case gitsync.IsNotFound(err):
				note = fmt.Sprintf("No merge base of %s and the head in this clone (shallow?): compared with %s itself, so changes on %s since the branch point show reversed. Fetch the whole history (fetch-depth: 0, GIT_DEPTH: 0) to fix.", ref, ref, ref)
			case err != nil:
				return nil, "", err
			case mb.Commit != rev.Commit:
				mb.Name = "merge base with " + ref
				rev = mb
			}
		}
	}
	base, err := ws.load(ctx, &rev, at)
	return base, note, err
}

// headLabel names the head: its revision, or the working tree and the commit it is on.
func headLabel(ctx context.Context, ws *workspace, head *side) string {
	if head.rev != nil || ws.git == nil {
		return head.label
	}
	if h, err := ws.git.Resolve(ctx, "HEAD"); err == nil {
		return "working tree at " + h.Short()
	}
	return head.label
}

func footer(p *plan.Plan) string {
	base := p.Base
	if base == "" {
		base = "none"
	}
	return fmt.Sprintf("Ballast %s · base %s · head %s", Version(), escapeFooter(base), escapeFooter(p.Head))
}

func escapeFooter(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '<' || r == '>' {
			continue
		}
		out = append(out, r)
	}
	return string(out)
}

func unionClusters(only string, sides ...*side) []string {
	var names []string
	for _, sd := range sides {
		if sd == nil {
			continue
		}
		for _, c := range sd.repo.Clusters() {
			if only == "" || c == only {
				names = append(names, c)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func hasCluster(sd *side, name string) bool {
	return slices.Contains(sd.repo.Clusters(), name)
}

// clusterDoc returns the document of the cluster's ClusterPolicy.
func clusterDoc(sd *side, name string) *policies.ClusterPolicyDoc {
	if sd == nil {
		return nil
	}
	for _, p := range sd.repo.ClusterPolicies {
		if p.Policy.Spec.Cluster.Name == name {
			return p
		}
	}
	return nil
}
