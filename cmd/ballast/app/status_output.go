package app

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// StatusReport is what `ballast status -o json` prints (docs/metrics.md describes it).
// It is stable: later versions add fields, never rename or remove them. Money is in USD
// per month of 730 hours; what a controller has not written yet is left out.
type StatusReport struct {
	// Cluster is the ClusterPolicy's spec.cluster.name, Region its region.
	Cluster string `json:"cluster"`
	Region  string `json:"region,omitempty"`
	// Policy is the ClusterPolicy's name.
	Policy string `json:"policy"`
	// Conditions are the ClusterPolicy's conditions.
	Conditions []StatusCondition `json:"conditions,omitempty"`
	// Spot is where Spot capacity stands (the fallback controller's status).
	Spot *SpotReport `json:"spot,omitempty"`
	// Cost is the cluster's cost and savings (the cost controller's status).
	Cost *CostReport `json:"cost,omitempty"`
	// Workloads are the workloads the policy and the cluster's rules govern, by
	// namespace, kind and name.
	Workloads []WorkloadReport `json:"workloads"`
}

// StatusCondition is one condition of the ClusterPolicy.
type StatusCondition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	Reason             string    `json:"reason,omitempty"`
	Message            string    `json:"message,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// SpotReport is where Spot capacity stands for the cluster.
type SpotReport struct {
	// State is Available, Short, FallenBack or Returning.
	State string `json:"state"`
	// Since is when the current state's episode started: the shortage for Short, the
	// fallback for FallenBack and Returning; absent while Available.
	Since *time.Time `json:"since,omitempty"`
	// FallbackReplicas is how many replicas meant for Spot run On-Demand.
	FallbackReplicas int32 `json:"fallbackReplicas"`
	// NextReturnAttempt is the earliest time fallback replicas try Spot again.
	NextReturnAttempt *time.Time `json:"nextReturnAttempt,omitempty"`
	// FailedReturns counts the returns in a row that found Spot short again.
	FailedReturns int32 `json:"failedReturns,omitempty"`
	// Message says what the fallback controller is doing and why.
	Message string `json:"message,omitempty"`
}

// CostReport is the cluster's cost at the current rate.
type CostReport struct {
	// PricedAt is when the nodes were last priced; Prices names the price source
	// ("aws" or "catalogue").
	PricedAt time.Time `json:"pricedAt"`
	Prices   string    `json:"prices"`
	// Nodes and SpotNodes count the priced nodes.
	Nodes     int32 `json:"nodes"`
	SpotNodes int32 `json:"spotNodes"`
	// Replicas and SpotReplicas count the workload pods (DaemonSets not counted);
	// SpotPercent is SpotReplicas as a percentage of Replicas, rounded down.
	Replicas     int32 `json:"replicas"`
	SpotReplicas int32 `json:"spotReplicas"`
	SpotPercent  int32 `json:"spotPercent"`
	// MonthlyPotential is the nodes all On-Demand, MonthlyActual what they cost,
	// MonthlySavings the difference: SpotSavings plus CommitmentSavings.
	MonthlyPotential  *float64 `json:"monthlyPotential,omitempty"`
	MonthlyActual     *float64 `json:"monthlyActual,omitempty"`
	MonthlySavings    *float64 `json:"monthlySavings,omitempty"`
	SpotSavings       *float64 `json:"spotSavings,omitempty"`
	CommitmentSavings *float64 `json:"commitmentSavings,omitempty"`
	// MonthlyUnusedCommitment is commitment paid for and left unused.
	MonthlyUnusedCommitment *float64 `json:"monthlyUnusedCommitment,omitempty"`
	// Namespaces and Workloads are the most costly namespaces and workloads, most
	// costly first.
	Namespaces []CostShareReport `json:"namespaces,omitempty"`
	Workloads  []CostShareReport `json:"workloads,omitempty"`
}

// CostShareReport is one namespace's or workload's share of the cost.
type CostShareReport struct {
	Namespace      string   `json:"namespace"`
	Workload       string   `json:"workload,omitempty"`
	MonthlyCost    *float64 `json:"monthlyCost,omitempty"`
	MonthlySavings *float64 `json:"monthlySavings,omitempty"`
}

// WorkloadReport is the split of one workload as the distributor last saw it.
type WorkloadReport struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	// Replicas the workload asks for.
	Replicas int32 `json:"replicas"`
	// Desired split under the governing rule; Observed split of its pods, Fallback
	// counting the On-Demand pods meant for Spot.
	Desired  SplitReport `json:"desired"`
	Observed SplitReport `json:"observed"`
	// Drift is how many replicas run on the wrong capacity type, fallback replicas
	// counting as Spot: |observed.onDemand - observed.fallback - desired.onDemand|.
	Drift int32 `json:"drift"`
	// Reasons counts its pods by placement reason (base, split, fallback, ...; none
	// for pods Ballast did not place).
	Reasons map[string]int32 `json:"reasons,omitempty"`
	// GovernedBy is the object whose distribution applies and whose status lists
	// the workload.
	GovernedBy ObjectReport `json:"governedBy"`
	// Message says what the distributor is doing about a difference, or what blocks it.
	Message string `json:"message,omitempty"`
	// LastUpdateTime is when the entry last changed.
	LastUpdateTime *time.Time `json:"lastUpdateTime,omitempty"`
}

// SplitReport is a number of replicas per capacity class.
type SplitReport struct {
	OnDemand int32 `json:"onDemand"`
	Spot     int32 `json:"spot"`
	Fallback int32 `json:"fallback"`
}

// ObjectReport names a ClusterPolicy or a WorkloadDistributionRule.
type ObjectReport struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// newStatusReport gathers the report from the policy and the rules of the cluster.
func newStatusReport(policy *v1alpha1.ClusterPolicy, rules []v1alpha1.WorkloadDistributionRule) *StatusReport {
	r := &StatusReport{
		Cluster: policy.Spec.Cluster.Name, Region: policy.Spec.Cluster.Region, Policy: policy.Name,
		Workloads: []WorkloadReport{},
	}
	for _, c := range policy.Status.Conditions {
		r.Conditions = append(r.Conditions, StatusCondition{
			Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message,
			LastTransitionTime: c.LastTransitionTime.UTC(),
		})
	}
	if f := policy.Status.Fallback; f != nil {
		r.Spot = &SpotReport{
			State: string(f.State), FallbackReplicas: f.Replicas, NextReturnAttempt: timeOf(f.NextReturnAttempt),
			FailedReturns: f.FailedReturns, Message: f.Message,
		}
		switch f.State {
		case v1alpha1.FallbackShort:
			r.Spot.Since = timeOf(f.ShortSince)
		case v1alpha1.FallbackFallenBack, v1alpha1.FallbackReturning:
			r.Spot.Since = timeOf(f.FallenBackSince)
		}
	}
	if c := policy.Status.Cost; c != nil {
		r.Cost = &CostReport{
			PricedAt: c.ObservedTime.UTC(), Prices: c.Prices, Nodes: c.Nodes, SpotNodes: c.SpotNodes,
			Replicas: c.Replicas, SpotReplicas: c.SpotReplicas, SpotPercent: c.SpotPercent,
			MonthlyPotential: statusMoney(c.MonthlyPotential), MonthlyActual: statusMoney(c.MonthlyActual),
			MonthlySavings: statusMoney(c.MonthlySavings), SpotSavings: statusMoney(c.SpotSavings),
			CommitmentSavings:       statusMoney(c.CommitmentSavings),
			MonthlyUnusedCommitment: statusMoney(c.MonthlyUnusedCommitment),
			Namespaces:              shares(c.Namespaces),
			Workloads:               shares(c.Workloads),
		}
	}
	add := func(list []v1alpha1.WorkloadPlacement, by ObjectReport) {
		for _, w := range list {
			r.Workloads = append(r.Workloads, workloadReport(w, by))
		}
	}
	add(policy.Status.Workloads, ObjectReport{Kind: "ClusterPolicy", Name: policy.Name})
	for _, rule := range rulesOf(policy, rules) {
		add(rule.Status.Workloads, ObjectReport{Kind: "WorkloadDistributionRule", Namespace: rule.Namespace, Name: rule.Name})
	}
	slices.SortStableFunc(r.Workloads, func(a, b WorkloadReport) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.GovernedBy.Kind, b.GovernedBy.Kind), cmp.Compare(a.GovernedBy.Name, b.GovernedBy.Name))
	})
	return r
}

func workloadReport(w v1alpha1.WorkloadPlacement, by ObjectReport) WorkloadReport {
	drift := w.Observed.OnDemand - w.Observed.Fallback - w.Desired.OnDemand
	if drift < 0 {
		drift = -drift
	}
	return WorkloadReport{
		Namespace: w.Namespace, Kind: w.Kind, Name: w.Name, Replicas: w.Replicas,
		Desired:  SplitReport{OnDemand: w.Desired.OnDemand, Spot: w.Desired.Spot, Fallback: w.Desired.Fallback},
		Observed: SplitReport{OnDemand: w.Observed.OnDemand, Spot: w.Observed.Spot, Fallback: w.Observed.Fallback},
		Drift:    drift, Reasons: w.Reasons, GovernedBy: by, Message: w.Message,
		LastUpdateTime: timeOf(w.LastUpdateTime),
	}
}

func shares(list []v1alpha1.CostShare) []CostShareReport {
	var out []CostShareReport
	for _, s := range list {
		out = append(out, CostShareReport{
			Namespace: s.Namespace, Workload: s.Workload,
			MonthlyCost: statusMoney(s.MonthlyCost), MonthlySavings: statusMoney(s.MonthlySavings),
		})
	}
	return out
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// statusMoney reads a decimal string of the status; nil when it is empty or not a number.
func statusMoney(s string) *float64 {
	x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return nil
	}
	return &x
}

// writeStatus prints the report as tables: the cluster, the workloads, the namespaces.
func writeStatus(out io.Writer, r *StatusReport, now time.Time, top int) error {
	var b strings.Builder
	title := "Cluster " + r.Cluster
	if r.Region != "" {
		title += " (" + r.Region + ")"
	}
	fmt.Fprintf(&b, "%s, ClusterPolicy %s\n\n", title, r.Policy)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, c := range r.Conditions {
		line := c.Status
		if c.Reason != "" {
			line += " (" + c.Reason + ")"
		}
		if c.Message != "" {
			line += ": " + oneLine(c.Message)
		}
		fmt.Fprintf(tw, "%s\t%s\n", c.Type, line)
	}
	spot, fallback := "-", "-"
	if s := r.Spot; s != nil {
		spot = s.State
		if s.Since != nil {
			spot += " since " + when(*s.Since, now)
		}
		if s.Message != "" {
			spot += ": " + oneLine(s.Message)
		}
		fallback = fmt.Sprintf("%d replicas", s.FallbackReplicas)
		if s.NextReturnAttempt != nil && s.FallbackReplicas > 0 {
			fallback += ", next return to Spot " + when(*s.NextReturnAttempt, now)
		}
		if s.FailedReturns > 0 {
			fallback += fmt.Sprintf(" (%d failed returns)", s.FailedReturns)
		}
	}
	fmt.Fprintf(tw, "Spot\t%s\n", spot)
	fmt.Fprintf(tw, "Fallback\t%s\n", fallback)
	if c := r.Cost; c != nil {
		fmt.Fprintf(tw, "Nodes\t%d (%d Spot)\n", c.Nodes, c.SpotNodes)
		fmt.Fprintf(tw, "Spot share\t%d%% of replicas (%d of %d)\n", c.SpotPercent, c.SpotReplicas, c.Replicas)
		fmt.Fprintf(tw, "Potential\t%s/mo (every node On-Demand)\n", usdOrDash(c.MonthlyPotential))
		fmt.Fprintf(tw, "Actual\t%s/mo\n", usdOrDash(c.MonthlyActual))
		savings := usdOrDash(c.MonthlySavings) + "/mo"
		if c.MonthlySavings != nil && c.MonthlyPotential != nil && *c.MonthlyPotential > 0 {
			savings += fmt.Sprintf(" (%.1f%%)", 100**c.MonthlySavings / *c.MonthlyPotential)
		}
		savings += fmt.Sprintf(": Spot %s, commitments %s", usdOrDash(c.SpotSavings), usdOrDash(c.CommitmentSavings))
		fmt.Fprintf(tw, "Savings\t%s\n", savings)
		if c.MonthlyUnusedCommitment != nil && *c.MonthlyUnusedCommitment != 0 {
			fmt.Fprintf(tw, "Unused commitment\t%s/mo (paid, not in the actual cost)\n", usd(*c.MonthlyUnusedCommitment))
		}
		prices := cmp.Or(c.Prices, "-")
		if !c.PricedAt.IsZero() {
			prices += ", priced " + when(c.PricedAt, now)
		}
		fmt.Fprintf(tw, "Prices\t%s\n", prices)
	} else {
		for _, k := range []string{"Nodes", "Spot share", "Potential", "Actual", "Savings", "Prices"} {
			fmt.Fprintf(tw, "%s\t-\n", k)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	b.WriteString("\nWorkloads\n")
	if len(r.Workloads) == 0 {
		b.WriteString("  none reported yet\n")
	} else {
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAMESPACE\tKIND\tNAME\tREPLICAS\tDESIRED OD/SPOT\tOBSERVED OD/SPOT (FALLBACK)\tREASONS\tGOVERNED BY\tMESSAGE")
		for _, w := range r.Workloads {
			by := "ClusterPolicy/" + w.GovernedBy.Name
			if w.GovernedBy.Kind != "ClusterPolicy" {
				by = "WorkloadDistributionRule/" + w.GovernedBy.Name
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d/%d\t%d/%d (%d)\t%s\t%s\t%s\n",
				w.Namespace, w.Kind, w.Name, w.Replicas, w.Desired.OnDemand, w.Desired.Spot,
				w.Observed.OnDemand, w.Observed.Spot, w.Observed.Fallback, reasons(w.Reasons), by,
				cmp.Or(oneLine(w.Message), "-"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	b.WriteString("\nTop namespaces by cost\n")
	if r.Cost == nil || len(r.Cost.Namespaces) == 0 {
		b.WriteString("  -\n")
	} else {
		rows := [][]string{{"NAMESPACE", "COST/MO", "SAVINGS/MO"}}
		for i, n := range r.Cost.Namespaces {
			if top > 0 && i == top {
				rows = append(rows, []string{fmt.Sprintf("(%d more)", len(r.Cost.Namespaces)-top), "", ""})
				break
			}
			rows = append(rows, []string{n.Namespace, usdOrDash(n.MonthlyCost), usdOrDash(n.MonthlySavings)})
		}
		table(&b, rows)
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// when prints a time with how long ago (or how far ahead) it is.
func when(t, now time.Time) string {
	d := now.Sub(t).Round(time.Second)
	rel := shortDuration(d) + " ago"
	if d < 0 {
		rel = "in " + shortDuration(-d)
	}
	return t.UTC().Format(time.RFC3339) + " (" + rel + ")"
}

// shortDuration prints d in at most two units: 45s, 3m20s, 2h5m, 3d4h.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

func reasons(m map[string]int32) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, ",")
}

func usdOrDash(x *float64) string {
	if x == nil {
		return "-"
	}
	return usd(*x)
}

// oneLine keeps a message on its table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
