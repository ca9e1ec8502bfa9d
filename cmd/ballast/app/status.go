package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// statusNow is the clock ballast status measures ages with; tests set it.
var statusNow = time.Now

// statusOptions are the flags of ballast status.
type statusOptions struct {
	kubeconfig string
	context    string
	cluster    string
	output     string
	top        int
	timeout    time.Duration
}

func newStatusCommand(s streams) *cobra.Command {
	o := &statusOptions{output: "table", top: 10, timeout: 30 * time.Second}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a cluster at a glance: Spot and fallback, cost and savings, the split of every workload",
		Long: `Status reads the ClusterPolicy of a cluster and its WorkloadDistributionRules from the
Kubernetes API and prints what Ballast's controllers last wrote to their status:

  - the cluster: where Spot capacity stands (Available, Short, FallenBack, Returning),
    the replicas on fallback and since when, the nodes and Spot nodes, the share of
    replicas on Spot, the monthly cost all On-Demand (potential), the actual cost and
    the savings with their Spot and commitment parts, the price source and when the
    nodes were priced;
  - every workload the policy or a rule governs: replicas, the desired and observed
    On-Demand / Spot split (fallback replicas in parentheses), the pods by placement
    reason, the governing object and the distributor's message;
  - the namespaces that cost the most.

What a controller has not written yet shows as "-" (-o json leaves it out).

The cluster is found like kubectl finds it: --kubeconfig, else $KUBECONFIG, else
~/.kube/config (or the in-cluster service account), with --context choosing a context.
It needs list on clusterpolicies and workloaddistributionrules (ballast.dev).

Exit status: 0 on success, 2 on a usage error or when the cluster cannot be read.`,
		Example: `  ballast status
  ballast status --context prod --cluster prod-us
  ballast status -o json | jq '.workloads[] | select(.drift > 0)'`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return o.run(c.Context(), s, statusNow())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "path of the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	f.StringVar(&o.context, "context", "", "the kubeconfig context to use (default: its current context)")
	f.StringVar(&o.cluster, "cluster", "", "the ClusterPolicy's cluster name (spec.cluster.name); default: the only ClusterPolicy")
	f.StringVarP(&o.output, "output", "o", o.output, "output format: table or json")
	f.IntVar(&o.top, "top", o.top, "how many namespaces the table lists by cost (0: all)")
	f.DurationVar(&o.timeout, "request-timeout", o.timeout, "how long to wait for the API server")
	return cmd
}

func (o *statusOptions) run(ctx context.Context, s streams, now time.Time) error {
	if o.output != "table" && o.output != "json" {
		return usageError(s, "unknown output %q: use table or json", o.output)
	}
	if o.top < 0 {
		return usageError(s, "--top must not be negative")
	}
	if ctx == nil {
		ctx = context.Background()
	}
	c, where, err := o.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	policy, err := o.policy(ctx, c, where)
	if err != nil {
		return err
	}
	var rules v1alpha1.WorkloadDistributionRuleList
	if err := c.List(ctx, &rules); err != nil {
		return readError("WorkloadDistributionRules", where, err)
	}
	report := newStatusReport(policy, rules.Items)
	if o.output == "json" {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return writeStatus(s.out, report, now, o.top)
}

// client builds a client of Ballast's kinds from the kubeconfig, the way kubectl
// loads it; where names the API server and context for error messages.
func (o *statusOptions) client() (client.Client, string, error) {
	cfg, where, err := loadKubeconfig(o.kubeconfig, o.context, o.timeout)
	if err != nil {
		return nil, "", err
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("failed to reach the API server at %s: %w", where, err)
	}
	return c, where, nil
}

// policy returns the ClusterPolicy of --cluster, or the only one.
func (o *statusOptions) policy(ctx context.Context, c client.Reader, where string) (*v1alpha1.ClusterPolicy, error) {
	var list v1alpha1.ClusterPolicyList
	if err := c.List(ctx, &list); err != nil {
		return nil, readError("ClusterPolicies", where, err)
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("no ClusterPolicy in the cluster at %s: has a PolicySource synced a policy repository yet?", where)
	}
	var choices []string
	for i := range list.Items {
		p := &list.Items[i]
		if o.cluster != "" && p.Spec.Cluster.Name == o.cluster {
			return p, nil
		}
		choices = append(choices, fmt.Sprintf("%s (ClusterPolicy %s)", p.Spec.Cluster.Name, p.Name))
	}
	slices.Sort(choices)
	switch {
	case o.cluster != "":
		return nil, fmt.Errorf("no ClusterPolicy for cluster %q at %s; the clusters are: %s", o.cluster, where, strings.Join(choices, ", "))
	case len(list.Items) > 1:
		return nil, fmt.Errorf("%d ClusterPolicies at %s: choose one with --cluster: %s", len(list.Items), where, strings.Join(choices, ", "))
	}
	return &list.Items[0], nil
}

// readError says why a list failed in terms a user can act on.
func readError(what, where string, err error) error {
	switch {
	case meta.IsNoMatchError(err) || apierrors.IsNotFound(err):
		return fmt.Errorf("the API server at %s does not serve %s (ballast.dev/v1alpha1): is Ballast installed?", where, what)
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return fmt.Errorf("may not list %s at %s (ballast status needs list on them): %w", what, where, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the API server at %s did not answer in time: %w", where, err)
	}
	return fmt.Errorf("failed to list %s at %s: %w", what, where, err)
}

// rulesOf returns the rules that apply in the policy's cluster.
func rulesOf(policy *v1alpha1.ClusterPolicy, rules []v1alpha1.WorkloadDistributionRule) []*v1alpha1.WorkloadDistributionRule {
	var out []*v1alpha1.WorkloadDistributionRule
	for i := range rules {
		if split.AppliesTo(&rules[i], policy.Spec.Cluster.Name) {
			out = append(out, &rules[i])
		}
	}
	return out
}
