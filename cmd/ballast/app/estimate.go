package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// estimateOptions are the flags of ballast estimate.
type estimateOptions struct {
	cluster    string
	scenario   string
	snapshot   string
	kubeconfig string
	context    string
	asIs       bool
	prices     string
	livePrices bool
	output     string
	date       string
	top        int

	// A quick scenario from flags.
	nodes        int
	instanceType string
	spotShare    float64
	podsPerNode  int
	podCPU       string
	podMemory    string
	idle         float64
	minNodes     int

	// changed reports whether a flag was set.
	changed func(name string) bool
}

func newEstimateCommand(s streams) *cobra.Command {
	o := &estimateOptions{output: "text", top: 5, podCPU: "500m", podMemory: "1Gi"}
	cmd := &cobra.Command{
		Use:   "estimate [PATH]",
		Short: "Estimate the monthly cost, savings and Spot share of a cluster under its policy",
		Long: `Estimate prices a cluster under the ClusterPolicy of --cluster in the policy tree at PATH
(default "."): what its nodes cost per month (730 hours), the potential (every node
On-Demand all month, without commitments or scale-down), the savings and what they come
from (Spot, commitments, scale-down), the share of replicas on Spot, and the cost by
namespace. Workloads requesting NVIDIA GPUs (nvidia.com/gpu) are planned on GPU
instance types.

The cluster is described by one of:
  --snapshot FILE   kubectl get nodes,pods -A -o yaml, or -o json (Deployments and
                    StatefulSets may be included). The policy splits the workloads'
                    replicas and plans nodes for them; with --as-is the nodes are priced
                    as they run. The file is read as a stream, keeping only the fields
                    the estimate uses.
  --kubeconfig FILE, --context NAME
                    the cluster itself: its nodes, pods and ReplicaSets, listed 500 at a
                    time (needs list on them), read as a snapshot would be. The
                    kubeconfig is found as kubectl finds it: --kubeconfig, else
                    $KUBECONFIG, else ~/.kube/config; --context alone uses that file.
  --scenario FILE   a scenario (apiVersion estimate.ballast.dev/v1alpha1, kind
                    Scenario; see examples/estimate): node groups as they run, or
                    workloads for the policy to place.
  --nodes N --instance-type TYPE [--spot-share S] [--pods-per-node K --pod-cpu C
  --pod-memory M]   a quick scenario of N identical nodes. Without --spot-share the
                    policy splits the pods' replicas, or without pods the nodes.
--idle F and --min-nodes N add a scheduled scale-down: for the fraction F of the
month only N nodes run.

Prices come from the catalogue built into ballast (approximate list prices; see
cost/prices.yaml for source and date), a file laid over it (--prices, same format),
and the AWS Pricing and EC2 Spot price APIs laid over either (--live-prices, with the
usual AWS credentials; needs pricing:GetProducts and ec2:DescribeSpotPriceHistory).
The report names the prices it used.

Exit status: 0 on success, 1 when the policy tree has errors, 2 on a usage error.`,
		Example: `  ballast estimate examples/policies --cluster prod-us --scenario examples/estimate/prod-us-nodes.yaml
  ballast estimate examples/policies --cluster prod-eu --snapshot examples/estimate/prod-eu-snapshot.yaml --output json
  ballast estimate policies/ --cluster prod-eu --context prod-eu --as-is
  ballast estimate policies/ --cluster dev --nodes 10 --instance-type m6i.xlarge --idle 0.5 --min-nodes 2`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			o.changed = func(name string) bool { return c.Flags().Changed(name) }
			return o.run(c.Context(), s, path, time.Now())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.cluster, "cluster", "", "the cluster whose ClusterPolicy applies (default: the scenario's, or the only one)")
	f.StringVar(&o.scenario, "scenario", "", "a scenario file")
	f.StringVar(&o.snapshot, "snapshot", "", "a snapshot: kubectl get nodes,pods -A -o yaml (or -o json)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "read the cluster from the API server of this kubeconfig (default: $KUBECONFIG, else ~/.kube/config)")
	f.StringVar(&o.context, "context", "", "read the cluster from this kubeconfig context (default: its current context)")
	f.BoolVar(&o.asIs, "as-is", false, "price the snapshot's or scenario's nodes as they run instead of planning them under the policy")
	f.StringVar(&o.prices, "prices", "", "a price file laid over the built-in catalogue (same format as cost/prices.yaml)")
	f.BoolVar(&o.livePrices, "live-prices", false, "fetch current On-Demand and Spot prices from AWS")
	f.StringVarP(&o.output, "output", "o", o.output, "output format: text or json")
	f.StringVar(&o.date, "date", "", "the day (YYYY-MM-DD) commitments are checked for expiry; default today, or the scenario's date")
	f.IntVar(&o.top, "top", o.top, "how many namespaces the text output lists")
	f.IntVar(&o.nodes, "nodes", 0, "quick scenario: number of nodes")
	f.StringVar(&o.instanceType, "instance-type", "", "quick scenario: instance type of the nodes")
	f.Float64Var(&o.spotShare, "spot-share", 0, "quick scenario: share of the nodes on Spot (0-1); default: the policy decides")
	f.IntVar(&o.podsPerNode, "pods-per-node", 0, "quick scenario: pods per node (workload default/app)")
	f.StringVar(&o.podCPU, "pod-cpu", o.podCPU, "quick scenario: CPU request of each pod")
	f.StringVar(&o.podMemory, "pod-memory", o.podMemory, "quick scenario: memory request of each pod")
	f.Float64Var(&o.idle, "idle", 0, "fraction of the month (0-1) the cluster is scaled down")
	f.IntVar(&o.minNodes, "min-nodes", 0, "nodes that keep running while the cluster is scaled down")
	return cmd
}

func (o *estimateOptions) run(ctx context.Context, s streams, path string, now time.Time) error {
	if o.output != "text" && o.output != "json" {
		return usageError(s, "unknown output %q: use text or json", o.output)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	w, source, err := o.workload(ctx, s)
	if err != nil {
		return err
	}
	if o.date != "" {
		d, err := time.Parse(time.DateOnly, o.date)
		if err != nil {
			return usageError(s, "--date %q is not a date: write YYYY-MM-DD", o.date)
		}
		w.Date = d
	} else if w.Date.IsZero() {
		w.Date = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	}
	policy, rules, err := o.policy(s, path, w.Cluster)
	if err != nil {
		return err
	}
	prices, err := o.priceBook(s)
	if err != nil {
		return err
	}
	if o.livePrices {
		region := w.Region
		if region == "" {
			region = policy.Spec.Cluster.Region
		}
		src, err := newPriceSource(ctx, region)
		if err != nil {
			return err
		}
		if err := overlayLivePrices(ctx, src, prices, region, cost.InstanceTypesFor(policy, w, prices), now); err != nil {
			return err
		}
	}
	var r *cost.Report
	if o.asIs {
		if len(w.Nodes) == 0 {
			return usageError(s, "--as-is prices nodes as they run, but %s describes no nodes", source)
		}
		commitments, notes, cerr := cost.CommitmentsFor(policy, w.Date)
		if cerr != nil {
			return fmt.Errorf("cluster %s: %w", policy.Spec.Cluster.Name, cerr)
		}
		r, err = cost.Estimate(w, prices, cost.Options{Region: policy.Spec.Cluster.Region, Commitments: commitments, Notes: notes})
		if r != nil {
			r.Cluster = policy.Spec.Cluster.Name
		}
	} else {
		r, err = cost.EstimateForPolicy(policy, rules, w, prices)
	}
	if err != nil {
		return err
	}
	if o.output == "json" {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return writeEstimate(s.out, r, source, o.top)
}

// workload reads the scenario, the snapshot, the cluster or the quick-scenario flags.
func (o *estimateOptions) workload(ctx context.Context, s streams) (*cost.Workload, string, error) {
	live := o.changed("kubeconfig") || o.changed("context")
	sources := 0
	for _, set := range []bool{o.scenario != "", o.snapshot != "", live, o.changed("nodes") || o.instanceType != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return nil, "", usageError(s, "describe the cluster with one of --scenario FILE, --snapshot FILE, --kubeconfig FILE / --context NAME, or --nodes N --instance-type TYPE")
	}
	var w *cost.Workload
	var source string
	switch {
	case o.scenario != "":
		data, err := os.ReadFile(o.scenario) //nolint:gosec // the user names the file to read
		if err != nil {
			return nil, "", usageError(s, "cannot read %s: %v", o.scenario, err)
		}
		sc, err := cost.ParseScenario(data)
		if err == nil {
			w, err = sc.Workload()
		}
		if err != nil {
			return nil, "", usageError(s, "%s: %v", o.scenario, err)
		}
		source = "scenario " + o.scenario
	case o.snapshot != "":
		f, err := os.Open(o.snapshot) //nolint:gosec // the user names the file to read
		if err != nil {
			return nil, "", usageError(s, "cannot read %s: %v", o.snapshot, err)
		}
		w, err = cost.ReadSnapshot(f)
		_ = f.Close()
		if err != nil {
			return nil, "", usageError(s, "%s: %v", o.snapshot, err)
		}
		source = "snapshot " + o.snapshot
	case live:
		var err error
		if w, source, err = o.readCluster(ctx); err != nil {
			return nil, "", err
		}
	default:
		sc, err := o.quickScenario()
		if err != nil {
			return nil, "", usageError(s, "%v", err)
		}
		if w, err = sc.Workload(); err != nil {
			return nil, "", usageError(s, "%v", err)
		}
		source = fmt.Sprintf("%d x %s", o.nodes, o.instanceType)
	}
	if o.changed("idle") || o.changed("min-nodes") {
		if o.idle < 0 || o.idle > 1 || o.minNodes < 0 {
			return nil, "", usageError(s, "--idle must be between 0 and 1 and --min-nodes not negative")
		}
		if o.changed("idle") {
			w.Schedule.IdleFraction = o.idle
		}
		if o.changed("min-nodes") {
			w.Schedule.MinNodes = o.minNodes
		}
	}
	return w, source, nil
}

// quickScenario turns the --nodes ... flags into a scenario.
func (o *estimateOptions) quickScenario() (*cost.Scenario, error) {
	if o.nodes < 1 || o.instanceType == "" {
		return nil, fmt.Errorf("a quick scenario needs --nodes (at least 1) and --instance-type")
	}
	g := cost.NodeGroup{Count: o.nodes, InstanceType: o.instanceType}
	if o.changed("spot-share") {
		g.SpotShare = ptr.To(o.spotShare)
	}
	if o.podsPerNode > 0 {
		g.Pods = []cost.PodGroup{{Namespace: "default", Workload: "app", Count: o.podsPerNode, CPU: o.podCPU, Memory: o.podMemory}}
	}
	sc := &cost.Scenario{APIVersion: cost.ScenarioAPIVersion, Kind: cost.ScenarioKind}
	sc.Metadata.Name = "flags"
	sc.Spec.Nodes = []cost.NodeGroup{g}
	return sc, nil
}

// policy loads the policy tree and returns the defaulted policy of the cluster.
func (o *estimateOptions) policy(s streams, path, fromWorkload string) (*v1alpha1.ClusterPolicy, []*v1alpha1.WorkloadDistributionRule, error) {
	repo, err := loadPath(path)
	if err != nil {
		return nil, nil, usageError(s, "%v", err)
	}
	findings := repo.Validate()
	if findings.HasErrors() {
		_ = policies.Write(s.err, "text", findings, policies.Rules)
		_, _ = fmt.Fprintln(s.err, "nothing estimated: fix the errors above")
		return nil, nil, exitError{ExitFindings}
	}
	cluster := o.cluster
	if cluster == "" {
		cluster = fromWorkload
	}
	clusters := repo.Clusters()
	if cluster == "" {
		if len(clusters) != 1 {
			return nil, nil, usageError(s, "name the cluster with --cluster (clusters in %s: %s)", path, strings.Join(clusters, ", "))
		}
		cluster = clusters[0]
	}
	policy, rules, err := repo.ForCluster(cluster)
	if err != nil {
		return nil, nil, usageError(s, "%v", err)
	}
	return policy, rules, nil
}

// priceBook is the built-in catalogue with the --prices file laid over it.
func (o *estimateOptions) priceBook(s streams) (*cost.Catalogue, error) {
	c := cost.DefaultCatalogue()
	if o.prices == "" {
		return c, nil
	}
	override, err := cost.LoadCatalogue(o.prices)
	if err != nil {
		return nil, usageError(s, "%v", err)
	}
	c.Merge(override)
	return c, nil
}
