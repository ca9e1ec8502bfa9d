package plan

import (
	"fmt"
	"html"
	"strings"

	"github.com/ballast-dev/ballast/policies"
)

// maxValueLength bounds one value in a field table; longer values are cut.
const maxValueLength = 300

// section is a part of the Markdown with shorter variants, used when the whole does not
// fit: variants[0] is the full text, each next one shorter, the last may be empty.
type section struct {
	variants []string
	level    int
}

func (s *section) text() string { return s.variants[min(s.level, len(s.variants)-1)] }

// Markdown renders the plan: a one-line summary first, a table of clusters, notes, then
// folded details (validation findings, the changed fields of every object, the Spot
// pools of each strategy, how the cost was estimated) and a footer. When maxLen > 0
// and the whole is longer than maxLen bytes, details are shortened (field tables
// first, last cluster first), then left out, and a note says so; the summary, the
// table and the footer are always kept.
func Markdown(p Plan, maxLen int) string {
	sections := []*section{
		{variants: []string{headline(p) + "\n"}},
		{variants: []string{table(p)}},
		{variants: []string{notes(p)}},
		{variants: findingsVariants(p.Findings)},
	}
	for _, c := range p.Clusters {
		if v := clusterVariants(p.Changes, c.Name); v != nil {
			sections = append(sections, &section{variants: v})
		}
	}
	for _, c := range p.Clusters {
		if c.SpotPools != nil {
			sections = append(sections, &section{variants: spotVariants(c.Name, c.SpotPools)})
		}
	}
	sections = append(sections, &section{variants: []string{costDetails(p), ""}})
	footer := ""
	if p.Footer != "" {
		footer = "<sub>" + p.Footer + "</sub>\n"
	}
	join := func() string {
		var b strings.Builder
		for _, s := range sections {
			if t := s.text(); t != "" {
				b.WriteString(t)
				b.WriteString("\n")
			}
		}
		return b.String()
	}
	out := join() + footer
	if maxLen <= 0 || len(out) <= maxLen {
		return out
	}
	omitted := fmt.Sprintf("_Details were shortened to fit the comment size limit (%d bytes); run `ballast plan` for the whole plan._\n\n", maxLen)
	for level := 1; level < 3; level++ {
		for i := len(sections) - 1; i >= 3; i-- {
			if s := sections[i]; len(s.variants) > level {
				s.level = level
				if out = join() + omitted + footer; len(out) <= maxLen {
					return out
				}
			}
		}
	}
	return cut(out, maxLen)
}

// cut shortens s to maxLen bytes at a line boundary.
func cut(s string, maxLen int) string {
	if len(s) <= maxLen {
		return s
	}
	s = strings.ToValidUTF8(s[:maxLen], "")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[:i+1]
	}
	return s
}

// headline is the one-line summary.
func headline(p Plan) string {
	var parts []string
	if len(p.Clusters) == 1 {
		parts = append(parts, clusterLine(p, p.Clusters[0], "→"))
	} else {
		parts = append(parts, overall(p))
	}
	if n := p.Findings.Count(policies.SeverityError); n > 0 {
		parts = append(parts, "**"+plural(n, "validation error", "validation errors")+"**")
	}
	if n := p.Findings.Count(policies.SeverityWarning); n > 0 {
		parts = append(parts, plural(n, "warning", "warnings"))
	}
	return "**Ballast plan:** " + strings.Join(parts, "; ")
}

// Summary is the plan's summary as plain text, one line per cluster, for terminals
// and logs.
func Summary(p Plan) []string {
	if len(p.Clusters) == 0 {
		return []string{overall(p)}
	}
	lines := make([]string, 0, len(p.Clusters))
	for _, c := range p.Clusters {
		lines = append(lines, clusterLine(p, c, "->"))
	}
	return lines
}

// clusterLine is e.g. "prod-eu: 2 objects changed, cost $12,340 → $10,120/month (-18%),
// Spot share 45% → 62%".
func clusterLine(p Plan, c Cluster, arrow string) string {
	parts := []string{objectsPhrase(p, c)}
	b, a := c.Before, c.After
	switch {
	case b != nil && a != nil && money(b.Monthly) == money(a.Monthly):
		parts = append(parts, fmt.Sprintf("cost %s/month (unchanged)", money(a.Monthly)))
	case b != nil && a != nil:
		parts = append(parts, fmt.Sprintf("cost %s %s %s/month (%s)", money(b.Monthly), arrow, money(a.Monthly), relative(b.Monthly, a.Monthly)))
	case a != nil:
		parts = append(parts, fmt.Sprintf("cost %s/month", money(a.Monthly)))
	case b != nil:
		parts = append(parts, fmt.Sprintf("cost was %s/month", money(b.Monthly)))
	}
	switch {
	case b != nil && a != nil:
		parts = append(parts, "Spot share "+fromTo(percent(b.SpotShare), percent(a.SpotShare), arrow))
	case a != nil:
		parts = append(parts, "Spot share "+percent(a.SpotShare))
	}
	return c.Name + ": " + strings.Join(parts, ", ")
}

func objectsPhrase(p Plan, c Cluster) string {
	n := Count(p.Changes, c.Name)
	switch {
	case p.Base == "":
		return "no base to compare with"
	case !c.InBase && c.InHead:
		return "new cluster, " + plural(n.Added, "object", "objects") + " added"
	case c.InBase && !c.InHead:
		return "cluster removed, " + plural(n.Removed, "object", "objects") + " removed"
	case n.Total() == 0:
		return "no change"
	case n.Total() == n.Changed:
		return plural(n.Changed, "object", "objects") + " changed"
	default:
		return plural(n.Total(), "object differs", "objects differ") + " (" + n.String() + ")"
	}
}

// overall summarises several clusters: objects that differ and the total cost of the
// clusters estimated at both revisions.
func overall(p Plan) string {
	n := Count(p.Changes, "")
	affected := map[string]bool{}
	for _, ch := range p.Changes {
		affected[ch.Cluster] = true
	}
	var s string
	switch {
	case len(p.Clusters) == 0:
		s = "no ClusterPolicy at either revision"
	case p.Base == "":
		s = plural(len(p.Clusters), "cluster", "clusters") + ", no base to compare with"
	case n.Total() == 0:
		s = "no change in " + plural(len(p.Clusters), "cluster", "clusters")
	default:
		s = fmt.Sprintf("%s in %d of %s", plural(n.Total(), "object differs", "objects differ"), len(affected), plural(len(p.Clusters), "cluster", "clusters"))
	}
	var before, after float64
	estimated := 0
	for _, c := range p.Clusters {
		if c.Before != nil && c.After != nil {
			before += c.Before.Monthly
			after += c.After.Monthly
			estimated++
		}
	}
	if estimated == 0 {
		return s
	}
	s += ", cost " + fromTo(money(before), money(after), "→") + "/month"
	if money(before) == money(after) {
		s += " (unchanged)"
	} else if r := relative(before, after); r != "" {
		s += " (" + r + ")"
	}
	if estimated < len(p.Clusters) {
		s += fmt.Sprintf(" for the %s estimated", plural(estimated, "cluster", "clusters"))
	}
	return s
}

func table(p Plan) string {
	if len(p.Clusters) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| Cluster | Objects | Monthly cost | Savings vs On-Demand | Spot share | Nodes |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, c := range p.Clusters {
		objects := Count(p.Changes, c.Name).String()
		if p.Base == "" {
			objects = "—"
		}
		cost, savings, spot, nodes := "—", "—", "—", "—"
		bf, af := c.Before, c.After
		switch {
		case bf != nil && af != nil:
			cost = fromTo(money(bf.Monthly), money(af.Monthly), "→")
			if money(bf.Monthly) == money(af.Monthly) {
				cost += " (unchanged)"
			} else if r := relative(bf.Monthly, af.Monthly); r != "" {
				cost += " (" + r + ")"
			}
			savings = fromTo(money(bf.Savings), money(af.Savings), "→")
			spot = fromTo(percent(bf.SpotShare), percent(af.SpotShare), "→")
			nodes = fromTo(fmt.Sprint(bf.Nodes), fmt.Sprint(af.Nodes), "→")
		case af != nil:
			cost, savings, spot, nodes = money(af.Monthly), money(af.Savings), percent(af.SpotShare), fmt.Sprint(af.Nodes)
		case bf != nil:
			cost, savings, spot, nodes = money(bf.Monthly)+" → —", money(bf.Savings)+" → —", percent(bf.SpotShare)+" → —", fmt.Sprint(bf.Nodes)+" → —"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", cell(c.Name), objects, cost, savings, spot, nodes)
	}
	return b.String()
}

func notes(p Plan) string {
	var b strings.Builder
	for _, n := range p.Notes {
		b.WriteString("> " + escapeText(n) + "\n")
	}
	return b.String()
}

func findingsVariants(findings policies.Findings) []string {
	if len(findings) == 0 {
		return []string{""}
	}
	open := ""
	if findings.HasErrors() {
		open = " open"
	}
	head := fmt.Sprintf("<details%s><summary>Validation: %s</summary>\n\n", open, html.EscapeString(policies.Summary(findings)))
	var b strings.Builder
	b.WriteString(head)
	for _, f := range findings {
		field := ""
		if f.Field != "" {
			field = " " + code(f.Field) + ":"
		}
		fmt.Fprintf(&b, "- %s **%s** [%s]%s %s\n", code(f.Position.String()), f.Severity, escapeText(f.Rule), field, escapeText(f.Message))
	}
	b.WriteString("\n</details>\n")
	short := head + "Run `ballast validate` to see them.\n\n</details>\n"
	return []string{b.String(), short}
}

// clusterVariants are the folded details of one cluster's changed objects: with field
// tables, with the object list only, or nothing. Nil when the cluster has no change.
func clusterVariants(changes []Change, cluster string) []string {
	var mine []Change
	for _, ch := range changes {
		if ch.Cluster == cluster {
			mine = append(mine, ch)
		}
	}
	if len(mine) == 0 {
		return nil
	}
	head := fmt.Sprintf("<details><summary><b>%s</b>: %s</summary>\n\n", html.EscapeString(cluster), Count(mine, "").String())
	var full, brief strings.Builder
	full.WriteString(head)
	brief.WriteString(head)
	for _, ch := range mine {
		line := fmt.Sprintf("%s %s %s", ch.Action.Symbol(), ch.Kind, code(ch.ID()))
		// The symbol as code: "- + x" would start a nested list.
		fmt.Fprintf(&brief, "- %s %s %s\n", code(ch.Action.Symbol()), ch.Kind, code(ch.ID()))
		if ch.Action != Changed {
			fmt.Fprintf(&full, "**%s** (%s)\n\n", line, ch.Action)
			continue
		}
		fmt.Fprintf(&full, "**%s**\n\n| Field | Before | After |\n|---|---|---|\n", line)
		for _, f := range ch.Fields {
			fmt.Fprintf(&full, "| %s | %s | %s |\n", cell(code(f.Path)), cell(valueCode(f.Old)), cell(valueCode(f.New)))
		}
		full.WriteString("\n")
	}
	full.WriteString("</details>\n")
	brief.WriteString("\n</details>\n")
	return []string{full.String(), brief.String(), ""}
}

// spotVariants are the folded details of a cluster's Spot pools: the two strategies
// side by side in a table, or the chosen types in one line, or nothing.
func spotVariants(cluster string, sp *SpotPools) []string {
	other := "CostOptimized"
	if sp.Strategy == other {
		other = "LeastInterrupted"
	}
	types := plural(sp.Supply, "instance type", "instance types")
	var summary string
	if sp.Strategy == "LeastInterrupted" {
		summary = fmt.Sprintf("LeastInterrupted offers %d of %s", len(sp.Chosen), types)
	} else {
		summary = fmt.Sprintf("%s offers all %s (%s would offer %d)", sp.Strategy, types, other, len(sp.Chosen))
	}
	head := fmt.Sprintf("<details><summary>Spot pools of <b>%s</b>: %s</summary>\n\n", html.EscapeString(cluster), summary)
	var note string
	if sp.Note != "" {
		note = escapeText(sp.Note) + "\n\n"
	}
	if sp.Supply == 0 {
		return []string{head + note + "The price catalogue knows no instance type the policy allows for Spot.\n\n</details>\n", ""}
	}
	li := fmt.Sprintf("only the %s of its column, best first by Spot placement score less interruption history (the Spot price "+
		"per vCPU breaks ties), at most %d of one instance family so that one family being reclaimed cannot take the whole "+
		"supply, one of the largest size so that every pod fits, and every zone", plural(len(sp.Chosen), "type", "types"), sp.PerFamily)
	co := fmt.Sprintf("every type of the supply, of which Karpenter buys the cheapest per vCPU first (the first %d shown)", len(sp.Cheapest))
	explain := "LeastInterrupted's Spot NodePool offers " + li + ". Under CostOptimized it would offer " + co + "."
	if sp.Strategy == "CostOptimized" {
		explain = "CostOptimized's Spot NodePool offers " + co + ". Under LeastInterrupted it would offer " + li + "."
	}

	var full strings.Builder
	full.WriteString(head + note)
	columns := [2]string{"LeastInterrupted", "CostOptimized"}
	lists := [2][]SpotPool{sp.Chosen, sp.Cheapest}
	if sp.Strategy == "CostOptimized" {
		columns[0], columns[1] = columns[1], columns[0]
		lists[0], lists[1] = lists[1], lists[0]
	}
	fmt.Fprintf(&full, "| # | %s (the policy's) | Placement score | Spot $/vCPU-hour | %s | Placement score | Spot $/vCPU-hour |\n", columns[0], columns[1])
	full.WriteString("|---|---|---|---|---|---|---|\n")
	for i := range max(len(lists[0]), len(lists[1])) {
		fmt.Fprintf(&full, "| %d | %s | %s |\n", i+1, poolCells(lists[0], i), poolCells(lists[1], i))
	}
	full.WriteString("\n" + explain + "\n\n</details>\n")

	chosen := make([]string, len(sp.Chosen))
	for i, p := range sp.Chosen {
		chosen[i] = code(p.InstanceType)
	}
	brief := head + note + "LeastInterrupted offers " + strings.Join(chosen, ", ") + "; CostOptimized offers every type of the supply.\n\n</details>\n"
	return []string{full.String(), brief, ""}
}

// poolCells are the three cells of pools[i] in a Spot pools table, empty past the end.
func poolCells(pools []SpotPool, i int) string {
	if i >= len(pools) {
		return " |  | "
	}
	p := pools[i]
	score, price := "unknown", "—"
	if p.Placement > 0 {
		score = fmt.Sprint(p.Placement)
	}
	if p.PricePerVCPU > 0 {
		price = fmt.Sprintf("$%.4f", p.PricePerVCPU)
	}
	return code(p.InstanceType) + " | " + score + " | " + price
}

func costDetails(p Plan) string {
	var b strings.Builder
	listed := false
	for _, c := range p.Clusters {
		if c.CostSource == "" && c.CostNote == "" && c.Before == nil && c.After == nil {
			continue
		}
		listed = true
		line := "- **" + escapeText(c.Name) + "**"
		if c.CostSource != "" {
			line += ": workload from " + code(c.CostSource)
		}
		if c.After != nil {
			line += fmt.Sprintf("; at the head %s nodes, %s/month against %s all On-Demand", fmt.Sprint(c.After.Nodes), money(c.After.Monthly), money(c.After.Potential))
		}
		if c.CostNote != "" {
			sep := ". "
			if c.CostSource == "" && c.After == nil {
				sep = ": "
			}
			line += sep + escapeText(c.CostNote)
		}
		b.WriteString(line + "\n")
	}
	if !listed {
		return ""
	}
	prices := ""
	if p.Prices != "" {
		prices = " Prices: " + escapeText(p.Prices) + "."
	}
	return "<details><summary>How the cost was estimated</summary>\n\n" + b.String() +
		"\nMonthly figures use 730 hours. Savings are what the same nodes would cost On-Demand, every one running all month " +
		"without commitments or scale-down, minus what they cost." + prices + "\n\n</details>\n"
}

// code is s as a Markdown code span, with a fence longer than any backtick run in s.
func code(s string) string {
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return fence + pad + s + pad + fence
}

// valueCode is a field value as a code span, cut to maxValueLength; "(none)" stays
// plain text.
func valueCode(v any) string {
	if v == nil {
		return "_(none)_"
	}
	s := FormatValue(v)
	if len(s) > maxValueLength {
		s = strings.ToValidUTF8(s[:maxValueLength], "") + "…"
	}
	return code(s)
}

// cell makes s safe in a table cell: no line breaks, pipes escaped (GitHub, GitLab and
// Gitea honour \| inside code spans in tables).
func cell(s string) string {
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// escapeText keeps text from being read as HTML.
func escapeText(s string) string {
	return strings.NewReplacer("<", "&lt;", ">", "&gt;", "\n", " ").Replace(s)
}
