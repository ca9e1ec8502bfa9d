package policies

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones resolve the same on every machine, with or without a zoneinfo database.

	"github.com/ballast-dev/ballast/policies/maintenance"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

var (
	startPattern = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	endPattern   = regexp.MustCompile(`^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$`)
	sloppyTime   = regexp.MustCompile(`^([0-9]{1,2})(?::?([0-9]{2}))?$`)
)

var weekdays = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

func (v *validator) windows(d *Document, s *v1alpha1.ClusterPolicySpec) {
	v.windowList(d, "spec.maintenanceWindows", s.MaintenanceWindows, s, false)
}

// windowList checks the maintenance windows at field. A node pool's windows (pool) can
// only allow Consolidation: bin-packing and reverse fallback act on the default supply.
func (v *validator) windowList(d *Document, field string, windows []v1alpha1.MaintenanceWindow, s *v1alpha1.ClusterPolicySpec, pool bool) {
	v.maxItems(d, field, len(windows), 50, "maintenance windows are")
	names := map[string]int{}
	for i := range windows {
		w := &windows[i]
		f := fmt.Sprintf("%s[%d]", field, i)
		if !clusterNamePattern.MatchString(w.Name) {
			v.errorf(d, f+".name", RuleInvalidValue, "%q is not a valid window name: use lower-case letters, digits and '-', e.g. weeknights", w.Name)
		} else if first, ok := names[w.Name]; ok {
			v.errorf(d, f+".name", RuleDuplicateName, "window %q is already defined by %s[%d]: give each window its own name", w.Name, field, first)
		} else {
			names[w.Name] = i
		}
		switch {
		case len(w.Days) == 0:
			v.errorf(d, f+".days", RuleMissingField, "a window needs at least one day: write e.g. days: [Mon, Tue, Wed, Thu, Fri]")
		case len(w.Days) > 7:
			v.errorf(d, f+".days", RuleTooManyItems, "%d days are listed; a week has 7", len(w.Days))
		}
		for j, day := range w.Days {
			v.weekday(d, fmt.Sprintf("%s.days[%d]", f, j), string(day))
		}
		startOK := v.clock(d, f+".start", w.Start, startPattern)
		endOK := v.clock(d, f+".end", w.End, endPattern)
		if startOK && endOK && w.Start == w.End {
			v.errorf(d, f+".end", RuleInvalidWindow, "the window ends when it starts (%s), so it never opens: for a whole day write start: \"00:00\" and end: \"24:00\"", w.Start)
		}
		v.timeZone(d, f+".timeZone", w.TimeZone)
		if len(w.Allow) == 0 {
			v.errorf(d, f+".allow", RuleMissingField, "a window must allow at least one operation: write e.g. allow: [Consolidation]")
		}
		for j, op := range w.Allow {
			field := fmt.Sprintf("%s.allow[%d]", f, j)
			v.enum(d, field, string(op), string(v1alpha1.OperationConsolidation), string(v1alpha1.OperationPodEviction), string(v1alpha1.OperationReverseFallback))
			switch {
			case pool && (op == v1alpha1.OperationPodEviction || op == v1alpha1.OperationReverseFallback):
				v.errorf(d, field, RuleInvalidValue, "a node pool's window can only allow Consolidation: %s acts on the default supply only; allow it in spec.maintenanceWindows", op)
			case op == v1alpha1.OperationPodEviction && (s.BinPacking.PodEviction == nil || !s.BinPacking.PodEviction.Enabled):
				v.warnf(d, field, RuleIneffectiveWindow, "the window allows PodEviction, but binPacking.podEviction is not enabled: enable it, or remove PodEviction here")
			case op == v1alpha1.OperationReverseFallback && s.Spot.Enabled != nil && !*s.Spot.Enabled:
				v.warnf(d, field, RuleIneffectiveWindow, "the window allows ReverseFallback, but Spot is disabled, so nothing falls back or returns: remove ReverseFallback here")
			}
		}
	}
}

func (v *validator) weekday(d *Document, field, day string) {
	if slices.Contains(weekdays, day) {
		return
	}
	for _, w := range weekdays {
		if len(day) >= 3 && strings.EqualFold(day[:3], w) {
			v.errorf(d, field, RuleInvalidValue, "%q is not allowed: write the three-letter day %s", day, w)
			return
		}
	}
	v.errorf(d, field, RuleInvalidValue, "%q is not a day: write one of %s", day, strings.Join(weekdays, ", "))
}

// clock checks an HH:MM time and reports whether it is valid.
func (v *validator) clock(d *Document, field, value string, pattern *regexp.Regexp) bool {
	if pattern.MatchString(value) {
		return true
	}
	hint := `write HH:MM on a 24-hour clock in quotes, e.g. "22:00"`
	if m := sloppyTime.FindStringSubmatch(value); m != nil {
		h, _ := strconv.Atoi(m[1])
		mins := "00"
		if m[2] != "" {
			mins = m[2]
		}
		if fixed := fmt.Sprintf("%02d:%s", h, mins); pattern.MatchString(fixed) {
			hint = fmt.Sprintf("write %q", fixed)
		}
	}
	if value == "24:00" {
		hint = `a window starts at "00:00" at the latest; "24:00" is only allowed as an end`
	}
	v.errorf(d, field, RuleInvalidValue, "%q is not a time: %s", value, hint)
	return false
}

// zoneResult is the cached verdict on a time zone name.
type zoneResult struct {
	sev Severity
	msg string
}

// fixedZones are zone names that exist but have a fixed offset, which users write when
// they mean a place that observes daylight-saving time.
var fixedZones = map[string]string{"EST": "America/New_York", "MST": "America/Denver", "HST": "Pacific/Honolulu"}

// zoneAbbreviations maps abbreviations that are not zone names to a zone they often mean.
var zoneAbbreviations = map[string]string{
	"CEST": "Europe/Berlin", "MEST": "Europe/Berlin", "EEST": "Europe/Athens", "WEST": "Europe/Lisbon",
	"BST": "Europe/London", "IST": "Asia/Kolkata", "EDT": "America/New_York", "CST": "America/Chicago",
	"CDT": "America/Chicago", "MDT": "America/Denver", "PST": "America/Los_Angeles", "PDT": "America/Los_Angeles",
	"AKST": "America/Anchorage", "JST": "Asia/Tokyo", "KST": "Asia/Seoul", "AEST": "Australia/Sydney",
	"AEDT": "Australia/Sydney", "NZST": "Pacific/Auckland", "SGT": "Asia/Singapore",
}

var etcGMT = regexp.MustCompile(`^Etc/GMT([+-])([0-9]+)$`)

func (v *validator) timeZone(d *Document, field, tz string) {
	if tz == "" {
		return
	}
	res, ok := v.zones[tz]
	if !ok {
		res = checkTimeZone(tz)
		v.zones[tz] = res
	}
	if res.msg != "" {
		v.add(d, res.sev, field, RuleInvalidTimeZone, "%s", res.msg)
	}
}

func checkTimeZone(tz string) zoneResult {
	const hint = "write an IANA time zone name such as Europe/Berlin, America/New_York or UTC"
	if tz == "Local" {
		return zoneResult{SeverityError, "Local is the zone of whichever machine runs Ballast: " + hint}
	}
	if alt, ok := fixedZones[tz]; ok {
		return zoneResult{SeverityWarning, fmt.Sprintf("%s has a fixed offset and no daylight-saving time: if you mean the local time of a place, write its zone, e.g. %s", tz, alt)}
	}
	if m := etcGMT.FindStringSubmatch(tz); m != nil {
		sign := map[string]string{"+": "-", "-": "+"}[m[1]]
		return zoneResult{SeverityWarning, fmt.Sprintf("%s means UTC%s%s (the sign of Etc/GMT zones is inverted) with no daylight-saving time: write the zone of a place, e.g. Europe/Berlin", tz, sign, m[2])}
	}
	if _, err := time.LoadLocation(tz); err == nil && !strings.HasPrefix(tz, "/") {
		return zoneResult{}
	}
	if alt, ok := zoneAbbreviations[strings.ToUpper(tz)]; ok {
		return zoneResult{SeverityError, fmt.Sprintf("%q is an abbreviation, not a time zone: write the zone of a place, e.g. %s", tz, alt)}
	}
	for _, alt := range []string{strings.ToUpper(tz), titleZone(tz)} {
		if _, err := time.LoadLocation(alt); err == nil && alt != tz {
			return zoneResult{SeverityError, fmt.Sprintf("%q is not a time zone: did you mean %q? (zone names are case-sensitive)", tz, alt)}
		}
	}
	return zoneResult{SeverityError, fmt.Sprintf("%q is not a time zone: %s", tz, hint)}
}

// titleZone capitalises each word of a zone name: america/new_york -> America/New_York.
func titleZone(tz string) string {
	b := []byte(strings.ToLower(tz))
	for i := range b {
		if (i == 0 || strings.ContainsRune("/_-", rune(b[i-1]))) && b[i] >= 'a' && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

// maxNodePoolBudgets is how many disruption budgets Karpenter's NodePool schema accepts.
const maxNodePoolBudgets = 50

// compiledBudgets checks what render makes of the windows that allow Consolidation:
// laid on the UTC week with the offsets their zones have at the reference time, they
// must leave room for the user's budgets among the 50 a NodePool takes. The reference
// time is whenever the policy is rendered, so every combination of offsets the zones
// take from maintenance.From to maintenance.To is checked, and the worst reported.
func (v *validator) compiledBudgets(d *Document, s *v1alpha1.ClusterPolicySpec) {
	// Without budgets of its own a policy gets the default one (see Default).
	v.compiledBudgetsOf(d, "spec.maintenanceWindows", s.MaintenanceWindows, max(1, len(s.BinPacking.DisruptionBudgets)), "disruption budget of binPacking", "disruption budgets of binPacking")
	for i := range s.NodePools {
		np := &s.NodePools[i]
		v.compiledBudgetsOf(d, fmt.Sprintf("spec.nodePools[%d].maintenanceWindows", i), np.MaintenanceWindows, len(np.Spec.Disruption.Budgets), "disruption budget of the pool", "disruption budgets of the pool")
	}
}

// compiledBudgetsOf checks the windows at field, which render adds to own budgets.
func (v *validator) compiledBudgetsOf(d *Document, field string, all []v1alpha1.MaintenanceWindow, own int, one, many string) {
	var windows []v1alpha1.MaintenanceWindow
	var index []int // index[i] is the index in the list at field of windows[i]
	for i, w := range all {
		if slices.Contains(w.Allow, v1alpha1.OperationConsolidation) {
			windows = append(windows, w)
			index = append(index, i)
		}
	}
	if len(windows) == 0 {
		return
	}
	zones, err := maintenance.Locations(windows)
	if err != nil {
		v.windowError(d, field, index, err)
		return
	}
	worst, at := -1, maintenance.Regime{}
	regimes := maintenance.Regimes(zones, maintenance.From, maintenance.To)
	for _, r := range regimes {
		blocked, err := maintenance.Blocked(windows, r.At)
		if err != nil {
			v.windowError(d, field, index, err)
			return
		}
		if len(blocked) > worst {
			worst, at = len(blocked), r
		}
	}
	if own+worst <= maxNodePoolBudgets {
		return
	}
	v.errorf(d, field, RuleTooManyItems,
		"the windows that allow Consolidation compile to %d UTC budgets that block consolidation outside them%s; with %s that makes %d disruption budgets, more than the %d a Karpenter NodePool accepts: merge windows (windows with the same hours share budgets across days) or remove disruption budgets",
		worst, regimeText(zones, regimes, at), countText(own, one, many), own+worst, maxNodePoolBudgets)
}

// regimeText says when the offsets of a regime are in force, naming the zones whose
// offset changes during the year, for a message about that regime.
func regimeText(zones []*time.Location, all []maintenance.Regime, r maintenance.Regime) string {
	if len(all) < 2 {
		return ""
	}
	var moving []string
	for i, loc := range zones {
		if slices.ContainsFunc(all, func(o maintenance.Regime) bool { return o.Offsets[i] != r.Offsets[i] }) {
			moving = append(moving, fmt.Sprintf("%s is %s", loc, utcOffset(r.Offsets[i])))
		}
	}
	return fmt.Sprintf(" in the weeks when %s (as on %s)", strings.Join(firstN(moving, 3), ", "), r.At.Format(time.DateOnly))
}

// utcOffset writes an offset in seconds east of UTC as UTC+5:45, UTC-4 or UTC.
func utcOffset(seconds int) string {
	if seconds == 0 {
		return "UTC"
	}
	sign := "+"
	if seconds < 0 {
		sign, seconds = "-", -seconds
	}
	h, m := seconds/3600, seconds%3600/60
	if m == 0 {
		return fmt.Sprintf("UTC%s%d", sign, h)
	}
	return fmt.Sprintf("UTC%s%d:%02d", sign, h, m)
}

func countText(n int, one, many string) string {
	if n == 1 {
		return "the " + one
	}
	return fmt.Sprintf("the %d %s", n, many)
}

// windowError reports a window that cannot be laid on the UTC week; index maps the
// error's window to its index in spec.maintenanceWindows.
func (v *validator) windowError(d *Document, list string, index []int, err error) {
	var we *maintenance.Error
	if !errors.As(err, &we) || we.Index >= len(index) {
		v.errorf(d, list, RuleInvalidWindow, "%v", err)
		return
	}
	field := fmt.Sprintf("%s[%d].%s", list, index[we.Index], we.Field)
	if we.Field == "timeZone" {
		v.errorf(d, field, RuleInvalidTimeZone, "%v: Karpenter's cron schedules have whole minutes; write a zone with whole-minute offsets", we.Err)
		return
	}
	v.errorf(d, field, RuleInvalidWindow, "%v", we.Err)
}

// budgets checks disruption budgets as Karpenter's NodePool schema would.
func (v *validator) budgets(d *Document, field string, budgets []v1alpha1.DisruptionBudget) {
	v.maxItems(d, field, len(budgets), 20, "disruption budgets are")
	for i, b := range budgets {
		f := fmt.Sprintf("%s[%d]", field, i)
		if !budgetNodesPattern.MatchString(b.Nodes) {
			v.errorf(d, f+".nodes", RuleInvalidValue, "%q is not a node budget: write a count such as \"5\" or a percentage from 0%% to 100%% such as \"10%%\"", b.Nodes)
		}
		for j, r := range b.Reasons {
			v.enum(d, fmt.Sprintf("%s.reasons[%d]", f, j), string(r), "Underutilized", "Empty", "Drifted")
		}
		switch {
		case b.Schedule != "" && b.Duration == "":
			v.errorf(d, f+".schedule", RuleIncompleteBudget, "a budget with a schedule needs a duration: add e.g. duration: 8h")
		case b.Schedule == "" && b.Duration != "":
			v.errorf(d, f+".duration", RuleIncompleteBudget, "a budget with a duration needs a schedule (UTC cron), e.g. schedule: \"0 22 * * *\"; for local times use maintenanceWindows")
		}
		if b.Schedule != "" {
			if err := checkCron(b.Schedule); err != nil {
				v.errorf(d, f+".schedule", RuleInvalidSchedule, "%q is not a schedule: %v", b.Schedule, err)
			}
		}
		if b.Duration != "" {
			n, err := b.Duration.Parse()
			switch {
			case err != nil:
				v.errorf(d, f+".duration", RuleInvalidDuration, "%v", err)
			case n <= 0:
				v.errorf(d, f+".duration", RuleInvalidDuration, "a budget lasting 0 never applies: write a positive duration, e.g. 8h")
			case n%time.Minute != 0:
				v.errorf(d, f+".duration", RuleInvalidDuration, "Karpenter budgets last whole minutes: write e.g. %dm", (n+time.Minute-1)/time.Minute)
			}
		}
	}
}

// cronMacros are the schedule macros Karpenter accepts.
var cronMacros = []string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}

type cronField struct {
	name   string
	lo, hi int
	names  []string // names[i] stands for lo+i
	hint   string
}

var cronFields = []cronField{
	{name: "minute", lo: 0, hi: 59, hint: "0-59"},
	{name: "hour", lo: 0, hi: 23, hint: "0-23 (UTC)"},
	{name: "day of month", lo: 1, hi: 31, hint: "1-31"},
	{name: "month", lo: 1, hi: 12, names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}, hint: "1-12 or JAN-DEC"},
	{name: "day of week", lo: 0, hi: 6, names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}, hint: "0-6 (Sunday is 0) or SUN-SAT"},
}

// checkCron checks a standard 5-field cron expression (or a macro such as @daily) the
// way Karpenter's parser reads it, and says which field is wrong.
func checkCron(expr string) error {
	if strings.HasPrefix(expr, "@") {
		if slices.Contains(cronMacros, expr) {
			return nil
		}
		return fmt.Errorf("write a 5-field cron expression or one of %s", strings.Join(cronMacros, ", "))
	}
	parts := strings.Fields(expr)
	if len(parts) != 5 {
		return fmt.Errorf("a cron expression has 5 fields (minute hour day-of-month month day-of-week), e.g. \"0 22 * * 1-5\"; this has %d", len(parts))
	}
	for i, p := range parts {
		if err := cronFields[i].check(p); err != nil {
			return err
		}
	}
	return nil
}

func (f cronField) check(s string) error {
	for item := range strings.SplitSeq(s, ",") {
		rng, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			if n, err := strconv.Atoi(step); err != nil || n < 1 {
				return fmt.Errorf("the %s step %q must be a positive whole number", f.name, step)
			}
		}
		if rng == "*" || rng == "?" { // Karpenter's parser reads ? as * in every field.
			continue
		}
		a, b, isRange := strings.Cut(rng, "-")
		lo, err := f.value(a)
		if err != nil {
			return err
		}
		if isRange {
			hi, err := f.value(b)
			if err != nil {
				return err
			}
			if hi < lo {
				return fmt.Errorf("the %s range %q runs backwards: write the smaller value first", f.name, rng)
			}
		}
	}
	return nil
}

func (f cronField) value(s string) (int, error) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.lo + i, nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < f.lo || n > f.hi {
		return 0, fmt.Errorf("%s %q is out of range: write %s", f.name, s, f.hint)
	}
	return n, nil
}

// expiry checks a commitment's YYYY-MM-DD end date, and whether it has passed by
// Options.Today.
func (v *validator) expiry(d *Document, field, date string) {
	if date == "" {
		return
	}
	if !datePattern.MatchString(date) {
		v.errorf(d, field, RuleInvalidValue, "%q is not a date: write YYYY-MM-DD in quotes, e.g. \"2027-06-30\"", date)
		return
	}
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		v.errorf(d, field, RuleInvalidValue, "%q is not a calendar date: check the month and the day", date)
		return
	}
	if v.opts.Today.IsZero() {
		return
	}
	y, m, day := v.opts.Today.Date()
	if today := time.Date(y, m, day, 0, 0, 0, 0, time.UTC); t.Before(today) {
		v.warnf(d, field, RuleExpiredCommitment, "this commitment expired on %s: remove it, or Ballast keeps filling capacity you no longer have a discount for", date)
	}
}
