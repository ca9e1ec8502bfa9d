package app

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ballast-dev/ballast/cost"
)

// writeEstimate prints a report as a short table: the figures, the node pools and the
// top namespaces.
func writeEstimate(out io.Writer, r *cost.Report, source string, top int) error {
	how := "planned under the policy"
	if r.Mode == cost.ModeNodes {
		how = "nodes priced as they run"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Cluster %s (%s), %s, %s\n\n", r.Cluster, r.Region, source, how)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Monthly cost\t%s\n", usd(r.MonthlyCost))
	fmt.Fprintf(tw, "On-Demand potential\t%s\n", usd(r.MonthlyPotential))
	saving := ""
	if r.MonthlyPotential > 0 {
		saving = fmt.Sprintf(" (%.1f%%)", 100*r.MonthlySavings/r.MonthlyPotential)
	}
	fmt.Fprintf(tw, "Savings\t%s%s\n", usd(r.MonthlySavings), saving)
	for _, part := range []struct {
		what   string
		amount float64
	}{{"from Spot", r.Savings.Spot}, {"from commitments", r.Savings.Commitments}, {"from scale-down", r.Savings.ScaleDown}} {
		if part.amount != 0 {
			fmt.Fprintf(tw, "  %s\t%s\n", part.what, usd(part.amount))
		}
	}
	if r.MonthlyUnusedCommitment != 0 {
		fmt.Fprintf(tw, "Unused commitment\t%s (paid, not in the cost)\n", usd(r.MonthlyUnusedCommitment))
	}
	if r.Replicas > 0 {
		fmt.Fprintf(tw, "Spot share\t%.1f%% of replicas (%d of %d)\n", 100*r.SpotShare, r.SpotReplicas, r.Replicas)
	} else {
		fmt.Fprintf(tw, "Spot share\t%.1f%% of nodes\n", 100*r.SpotShare)
	}
	nodes := fmt.Sprintf("%d (%d Spot)", r.Nodes, r.SpotNodes)
	if r.IdleNodes != r.Nodes {
		nodes += fmt.Sprintf(", %d while scaled down", r.IdleNodes)
	}
	fmt.Fprintf(tw, "Nodes\t%s\n", nodes)
	if err := tw.Flush(); err != nil {
		return err
	}
	pools := [][]string{{"Pool", "nodes", "monthly"}}
	for _, p := range r.Pools {
		pools = append(pools, []string{p.InstanceType + " " + p.CapacityType, strconv.Itoa(p.Nodes), usd(p.MonthlyCost)})
	}
	b.WriteString("\n")
	table(&b, pools)
	namespaces := [][]string{{"Namespace", "monthly", "savings"}}
	for i, a := range r.Namespaces {
		if i == top {
			namespaces = append(namespaces, []string{fmt.Sprintf("(%d more)", len(r.Namespaces)-top), "", ""})
			break
		}
		namespaces = append(namespaces, []string{a.Namespace, usd(a.MonthlyCost), usd(a.MonthlySavings)})
	}
	b.WriteString("\n")
	table(&b, namespaces)
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
	}
	fmt.Fprintf(&b, "\nPrices: %s.\nA month is %g hours. The potential prices every node On-Demand for the whole month, without commitments or scale-down.\n",
		r.Prices, cost.HoursPerMonth)
	_, err := io.WriteString(out, b.String())
	return err
}

// table writes rows with the first column aligned left and the others right.
func table(b *strings.Builder, rows [][]string) {
	width := map[int]int{}
	for _, row := range rows {
		for i, cell := range row {
			width[i] = max(width[i], len(cell))
		}
	}
	for _, row := range rows {
		line := fmt.Sprintf("%-*s", width[0], row[0])
		for i, cell := range row[1:] {
			line += fmt.Sprintf("  %*s", width[i+1], cell)
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
}

// usd formats dollars with thousands separators and cents, e.g. $12,345.67.
func usd(x float64) string {
	sign := ""
	if x < 0 {
		sign, x = "-", -x
	}
	s := strconv.FormatFloat(x, 'f', 2, 64)
	whole, frac, _ := strings.Cut(s, ".")
	var g []string
	for len(whole) > 3 {
		g = append([]string{whole[len(whole)-3:]}, g...)
		whole = whole[:len(whole)-3]
	}
	g = append([]string{whole}, g...)
	return sign + "$" + strings.Join(g, ",") + "." + frac
}
