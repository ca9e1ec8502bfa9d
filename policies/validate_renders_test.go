package policies

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ballast-dev/ballast/policies/maintenance"
)

// These cases are policies that render used to refuse although validation accepted
// them; each must now be a finding.

func TestValidateWhatRenderRefuses(t *testing.T) {
	runValidateCases(t, []validateCase{
		{name: "volume size in Gi above 59000Gi", spec: "    blockDevices:\n      - {deviceName: /dev/xvda, volumeSize: 59001Gi}\n",
			want: []string{"error out-of-range spec.nodeClass.blockDevices[0].volumeSize"}, contains: "write 63352G instead"},
		{name: "volume size in bytes just below 64T", spec: "    blockDevices:\n      - {deviceName: /dev/xvda, volumeSize: \"63999999999999\"}\n",
			want: []string{"error out-of-range spec.nodeClass.blockDevices[0].volumeSize"}, contains: "write 64T instead"},
		{
			// The schema's pattern leaves out 18Ti, and 18432Gi is written 18Ti.
			name: "volume size of 18Ti", spec: "    blockDevices:\n      - {deviceName: /dev/xvda, volumeSize: 18432Gi}\n",
			want: []string{"error out-of-range spec.nodeClass.blockDevices[0].volumeSize"}, contains: "write 19792G instead",
		},
		{name: "volume sizes that can be written", spec: "    blockDevices:\n" +
			"      - {deviceName: /dev/xvda, volumeSize: 59000Gi}\n      - {deviceName: /dev/xvdb, volumeSize: 64T}\n" +
			"      - {deviceName: /dev/xvdc, volumeSize: 63000G}\n      - {deviceName: /dev/xvdd, volumeSize: 58Ti}\n" +
			"      - {deviceName: /dev/xvde, volumeSize: 17Ti}\n      - {deviceName: /dev/xvdf, volumeSize: 1500Mi}\n"},
		{name: "supply values that are not label values", spec: "  instances:\n    categories: [" + strings.Repeat("c", 64) + "]\n    families: [m6-]\n    include: [m6i.large-]\n    exclude: [-m5.large]\n    zones: [\"eu-west-1a b\"]\n",
			want:     []string{"error invalid-value spec.instances.categories[0]", "error invalid-value spec.instances.families[0]", "error invalid-value spec.instances.include[0]", "error invalid-value spec.instances.exclude[0]", "error invalid-value spec.instances.zones[0]"},
			contains: "not a label value"},
		{name: "memory range without a whole MiB", spec: "  instances:\n    memory: {min: 1500Ki, max: 1600Ki}\n",
			want: []string{"error empty-supply spec.instances.memory.min"}, contains: "whole MiB"},
		{name: "memory range of one MiB", spec: "  instances:\n    memory: {min: 1024Ki, max: 1Mi}\n"},
		{name: "memory beyond int64 bytes", spec: "  instances:\n    memory: {min: 1Gi, max: 100Ei}\n",
			want: []string{"error out-of-range spec.instances.memory.max"}},
		{name: "durations too long for int64 nanoseconds", spec: "  spot:\n    fallback:\n      after: 106752d\n  binPacking:\n    consolidateAfter: 2562048h\n    expireAfter: 300000000h\n    disruptionBudgets:\n      - {nodes: \"0\", schedule: \"@daily\", duration: 153722868m}\n",
			want:     []string{"error invalid-duration spec.spot.fallback.after", "error invalid-duration spec.binPacking.consolidateAfter", "error invalid-duration spec.binPacking.expireAfter", "error invalid-duration spec.binPacking.disruptionBudgets[0].duration"},
			contains: "too long"},
		{name: "longest duration", spec: "  binPacking:\n    expireAfter: 106751d\n"},
	})
}

// utcWindows returns n maintenance windows in UTC that compile to n budgets: each
// opens on its own day at its own time, so no two gaps between them share a schedule.
func utcWindows(n int) string {
	var b strings.Builder
	b.WriteString("  maintenanceWindows:\n")
	days := []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	for i := range n {
		m := 10 * i
		fmt.Fprintf(&b, "    - {name: w%d, days: [%s], start: \"%02d:%02d\", end: \"%02d:%02d\", allow: [Consolidation]}\n",
			i, days[i%7], m/60, m%60, (m+5)/60, (m+5)%60)
	}
	return b.String()
}

// budgets returns n disruption budgets.
func budgets(n int) string {
	var b strings.Builder
	b.WriteString("  binPacking:\n    disruptionBudgets:\n")
	for range n {
		b.WriteString("      - {nodes: \"1\"}\n")
	}
	return b.String()
}

// seasonalWindows returns pairs of windows, one in UTC and one in London. With
// winterGaps, London's opens an hour after the UTC one ends: adjacent to it in summer,
// when the pair compiles to one gap, and an hour apart in winter, a gap of its own.
// Otherwise London's ends when the UTC one starts in winter and an hour before in
// summer.
func seasonalWindows(pairs int, winterGaps bool) string {
	var b strings.Builder
	b.WriteString("  maintenanceWindows:\n")
	days := []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	clock := func(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }
	for i := range pairs {
		utc, london := 50*i, 50*i+120
		if !winterGaps {
			utc, london = 50*i+60, 50*i
		}
		fmt.Fprintf(&b, "    - {name: utc-%d, days: [%s], start: \"%s\", end: \"%s\", allow: [Consolidation]}\n", i, days[i%7], clock(utc), clock(utc+60))
		fmt.Fprintf(&b, "    - {name: london-%d, days: [%s], start: \"%s\", end: \"%s\", timeZone: Europe/London, allow: [Consolidation]}\n", i, days[i%7], clock(london), clock(london+60))
	}
	return b.String()
}

func TestValidateCompiledBudgets(t *testing.T) {
	runValidateCases(t, []validateCase{
		{name: "49 windows and the default budget", spec: utcWindows(49)},
		{name: "49 windows and 2 budgets", spec: utcWindows(49) + budgets(2),
			want:     []string{"error too-many-items spec.maintenanceWindows"},
			contains: "compile to 49 UTC budgets that block consolidation outside them; with the 2 disruption budgets of binPacking that makes 51"},
		{name: "30 windows and 20 budgets", spec: utcWindows(30) + budgets(20)},
		{name: "31 windows and 20 budgets", spec: utcWindows(31) + budgets(20), want: []string{"error too-many-items spec.maintenanceWindows"}},
		{name: "windows that do not allow Consolidation compile to nothing",
			spec: strings.ReplaceAll(utcWindows(50), "allow: [Consolidation]", "allow: [ReverseFallback]") + budgets(20)},
		{name: "too many only in winter", spec: seasonalWindows(25, true),
			want:     []string{"error too-many-items spec.maintenanceWindows"},
			contains: "compile to 50 UTC budgets that block consolidation outside them in the weeks when Europe/London is UTC (as on 2026-01-01); with the disruption budget of binPacking that makes 51"},
		{name: "too many only in summer", spec: seasonalWindows(25, false),
			want:     []string{"error too-many-items spec.maintenanceWindows"},
			contains: "in the weeks when Europe/London is UTC+1 (as on 2026-03-29)"},
		{name: "seasonal windows that fit", spec: seasonalWindows(24, true) + budgets(2)},
	})
}

// TestWindowErrorPointsAtTheWindow checks that an error of package maintenance, which
// counts only the windows that allow Consolidation, is reported at the window's own
// index. (No zone has had an offset of seconds since 1972, so no policy reaches this.)
func TestWindowErrorPointsAtTheWindow(t *testing.T) {
	repo := LoadBytes("p.yaml", []byte(basePolicy+"  maintenanceWindows:\n"+
		"    - {name: a, days: [Mon], start: \"01:00\", end: \"02:00\", allow: [PodEviction]}\n"+
		"    - {name: b, days: [Mon], start: \"01:00\", end: \"02:00\", timeZone: Europe/Amsterdam, allow: [Consolidation]}\n"))
	d := repo.ClusterPolicies[0].Document
	v := &validator{repo: repo, broken: map[*Document]bool{}}
	v.windowError(d, "spec.maintenanceWindows", []int{1}, &maintenance.Error{Index: 0, Field: "timeZone", Err: errors.New(`maintenance window "b": time zone Europe/Amsterdam is 1172s off UTC, not a whole number of minutes`)})
	if got := keys(v.findings); !slices.Equal(got, []string{"error invalid-time-zone spec.maintenanceWindows[1].timeZone"}) {
		t.Errorf("findings %q", got)
	}
	if f := v.findings[0]; f.Line != 13 {
		t.Errorf("finding at line %d, want 13 (the window's timeZone): %v", f.Line, f)
	}
}
