package devenv

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kwokcloud "sigs.k8s.io/karpenter/kwok/cloudprovider"
	kwokoptions "sigs.k8s.io/karpenter/kwok/options"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// hoursPerMonth is the month the cost figures use (as ballast estimate does).
const hoursPerMonth = 730

// priceLabel is the hourly price kwok's provider puts on each node it launches.
const priceLabel = "eks-node-viewer/instance-price"

// View is one snapshot of the environment, for the live view and for scripts (-o json).
type View struct {
	Time     time.Time      `json:"time"`
	Cluster  string         `json:"cluster"`
	Revision string         `json:"appliedRevision,omitempty"`
	Nodes    []NodeGroup    `json:"nodes"`
	Work     []WorkloadView `json:"workloads"`
	Fallback FallbackView   `json:"fallback"`
	Cost     CostView       `json:"cost"`
}

// NodeGroup counts the nodes of one pool, capacity type and instance type.
type NodeGroup struct {
	Pool         string  `json:"pool"`
	CapacityType string  `json:"capacityType"`
	InstanceType string  `json:"instanceType"`
	Count        int     `json:"count"`
	HourlyPrice  float64 `json:"hourlyPrice"`
}

// WorkloadView is one workload's desired and observed split.
type WorkloadView struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Replicas  int32  `json:"replicas"`
	// Desired is what its rule asks for (split.Rule.Target).
	Desired split.Counts `json:"desired"`
	// Observed counts running replicas by their node's capacity type; Fallback the
	// On-Demand ones on fallback; Pending those not running.
	Observed split.Counts   `json:"observed"`
	Fallback int32          `json:"fallback"`
	Pending  int32          `json:"pending"`
	Reasons  map[string]int `json:"reasons"`
	Source   string         `json:"rule"`
}

// FallbackView is the fallback state.
type FallbackView struct {
	State    string `json:"state"`
	Replicas int32  `json:"replicas"`
	// Kept of them stay On-Demand, each keeping a node that covers a commitment busy.
	Kept    int32  `json:"kept,omitempty"`
	Message string `json:"message,omitempty"`
}

// CostView is what the nodes cost: actual at their prices, potential if every node
// were On-Demand, per month.
type CostView struct {
	ActualMonthly    float64 `json:"actualMonthly"`
	PotentialMonthly float64 `json:"potentialMonthly"`
	SavingsMonthly   float64 `json:"savingsMonthly"`
	SavingsPercent   float64 `json:"savingsPercent"`
}

// Snapshot reads the cluster.
func (e *Env) Snapshot(ctx context.Context) (*View, error) {
	return Snapshot(ctx, e.Kube.Client, e.Cluster)
}

// onDemandPrices are the On-Demand prices of kwok's catalogue by instance type.
var onDemandPrices = func() map[string]float64 {
	out := map[string]float64{}
	types, err := kwokcloud.ConstructInstanceTypes(kwokoptions.ToContext(context.Background(), &kwokoptions.Options{}))
	if err != nil {
		return out
	}
	for _, it := range types {
		for _, o := range it.Offerings {
			if o.CapacityType() == karpv1.CapacityTypeOnDemand && (out[it.Name] == 0 || o.Price < out[it.Name]) {
				out[it.Name] = o.Price
			}
		}
	}
	return out
}()

// Snapshot reads the nodes, the workloads of opted-in namespaces and the fallback
// state of a cluster.
func Snapshot(ctx context.Context, c client.Reader, cluster string) (*View, error) {
	v := &View{Time: time.Now().UTC(), Cluster: cluster}
	var nodes corev1.NodeList
	if err := c.List(ctx, &nodes, client.HasLabels{karpv1.NodePoolLabelKey}); err != nil {
		return nil, err
	}
	groups := map[NodeGroup]int{}
	capacity := map[string]string{}
	for _, n := range nodes.Items {
		l := n.Labels
		capacity[n.Name] = l[karpv1.CapacityTypeLabelKey]
		price, _ := strconv.ParseFloat(l[priceLabel], 64)
		g := NodeGroup{Pool: l[karpv1.NodePoolLabelKey], CapacityType: l[karpv1.CapacityTypeLabelKey], InstanceType: l[corev1.LabelInstanceTypeStable], HourlyPrice: price}
		groups[g]++
		v.Cost.ActualMonthly += price * hoursPerMonth
		od := price
		if p, ok := onDemandPrices[g.InstanceType]; ok && g.CapacityType != karpv1.CapacityTypeOnDemand {
			od = p
		}
		v.Cost.PotentialMonthly += od * hoursPerMonth
	}
	for g, n := range groups {
		g.Count = n
		v.Nodes = append(v.Nodes, g)
	}
	slices.SortFunc(v.Nodes, func(a, b NodeGroup) int {
		return cmp.Or(strings.Compare(a.Pool, b.Pool), strings.Compare(a.CapacityType, b.CapacityType), strings.Compare(a.InstanceType, b.InstanceType))
	})
	v.Cost.SavingsMonthly = v.Cost.PotentialMonthly - v.Cost.ActualMonthly
	if v.Cost.PotentialMonthly > 0 {
		v.Cost.SavingsPercent = 100 * v.Cost.SavingsMonthly / v.Cost.PotentialMonthly
	}

	var policies v1alpha1.ClusterPolicyList
	if err := c.List(ctx, &policies); err != nil {
		return nil, err
	}
	var policy *v1alpha1.ClusterPolicy
	for i := range policies.Items {
		if policies.Items[i].Spec.Cluster.Name == cluster {
			policy = &policies.Items[i]
		}
	}
	v.Fallback.State = string(v1alpha1.FallbackAvailable)
	if policy != nil && policy.Status.Fallback != nil {
		f := policy.Status.Fallback
		v.Fallback = FallbackView{State: string(f.State), Replicas: f.Replicas, Kept: f.Kept, Message: f.Message}
	}
	var sources v1alpha1.PolicySourceList
	if err := c.List(ctx, &sources); err == nil {
		for _, s := range sources.Items {
			if s.Spec.Cluster == cluster {
				v.Revision = s.Status.LastAppliedRevision
			}
		}
	}
	if policy == nil {
		return v, nil
	}
	var namespaces corev1.NamespaceList
	if err := c.List(ctx, &namespaces, client.MatchingLabels{v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled}); err != nil {
		return nil, err
	}
	for _, ns := range namespaces.Items {
		if err := workloadsIn(ctx, c, policy, ns.Name, capacity, v); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(v.Work, func(a, b WorkloadView) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	return v, nil
}

func workloadsIn(ctx context.Context, c client.Reader, policy *v1alpha1.ClusterPolicy, ns string, capacity map[string]string, v *View) error {
	var deps appsv1.DeploymentList
	if err := c.List(ctx, &deps, client.InNamespace(ns)); err != nil {
		return err
	}
	var rules v1alpha1.WorkloadDistributionRuleList
	if err := c.List(ctx, &rules, client.InNamespace(ns)); err != nil {
		return err
	}
	ruleRefs := make([]*v1alpha1.WorkloadDistributionRule, len(rules.Items))
	for i := range rules.Items {
		ruleRefs[i] = &rules.Items[i]
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return err
	}
	for _, d := range deps.Items {
		rule, err := split.Resolve(policy, ruleRefs, split.Workload{Namespace: ns, Name: d.Name, Labels: d.Labels, Annotations: d.Annotations})
		if err != nil {
			continue
		}
		replicas := int32(1)
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		w := WorkloadView{Namespace: ns, Kind: "Deployment", Name: d.Name, Replicas: replicas, Desired: rule.Target(replicas),
			Reasons: map[string]int{}, Source: rule.Source}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			continue
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if !sel.Matches(labels.Set(p.Labels)) || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			reason := p.Annotations["ballast.dev/reason"]
			if reason == "" {
				reason = "unplaced"
			}
			w.Reasons[reason]++
			if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning {
				w.Pending++
				continue
			}
			w.Observed.Add(capacity[p.Spec.NodeName])
			if reason == string(split.ReasonFallback) {
				w.Fallback++
			}
		}
		v.Work = append(v.Work, w)
	}
	return nil
}

// Write prints the view as the live view's text.
func (v *View) Write(w io.Writer) {
	fmt.Fprintf(w, "Ballast dev — cluster %s — %s", v.Cluster, v.Time.Local().Format("15:04:05"))
	if v.Revision != "" {
		fmt.Fprintf(w, " — applied %s", shortRevision(v.Revision))
	}
	fmt.Fprintf(w, "\n\nSpot: %s", v.Fallback.State)
	if v.Fallback.Replicas > 0 {
		fmt.Fprintf(w, " (%d replicas on fallback)", v.Fallback.Replicas)
	}
	if v.Fallback.Message != "" {
		fmt.Fprintf(w, " — %s", v.Fallback.Message)
	}
	fmt.Fprintf(w, "\nCost: $%.0f/month actual, $%.0f/month all On-Demand, saving $%.0f (%.0f%%)\n\n",
		v.Cost.ActualMonthly, v.Cost.PotentialMonthly, v.Cost.SavingsMonthly, v.Cost.SavingsPercent)
	fmt.Fprintf(w, "%-28s %-10s %-22s %5s %9s\n", "NODEPOOL", "CAPACITY", "INSTANCE TYPE", "NODES", "$/HOUR")
	for _, g := range v.Nodes {
		fmt.Fprintf(w, "%-28s %-10s %-22s %5d %9.4f\n", g.Pool, g.CapacityType, g.InstanceType, g.Count, g.HourlyPrice)
	}
	fmt.Fprintf(w, "\n%-28s %4s %-12s %-12s %8s %7s  %s\n", "WORKLOAD", "REPL", "DESIRED", "OBSERVED", "FALLBACK", "PENDING", "REASONS")
	for _, wl := range v.Work {
		reasons := make([]string, 0, len(wl.Reasons))
		for _, r := range slices.Sorted(maps.Keys(wl.Reasons)) {
			reasons = append(reasons, fmt.Sprintf("%s=%d", r, wl.Reasons[r]))
		}
		fmt.Fprintf(w, "%-28s %4d %-12s %-12s %8d %7d  %s\n", wl.Namespace+"/"+wl.Name, wl.Replicas,
			fmt.Sprintf("%d OD/%d S", wl.Desired.OnDemand, wl.Desired.Spot), fmt.Sprintf("%d OD/%d S", wl.Observed.OnDemand, wl.Observed.Spot),
			wl.Fallback, wl.Pending, strings.Join(reasons, " "))
	}
}

func shortRevision(r string) string {
	if i := strings.Index(r, ":"); i >= 0 && len(r) > i+13 {
		return r[:i+13]
	}
	return r
}
