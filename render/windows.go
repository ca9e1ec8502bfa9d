package render

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	// The IANA time zone database is compiled in so that windows resolve the same way
	// on hosts without one (distroless images) as on a workstation.
	_ "time/tzdata"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Karpenter evaluates disruption budgets as UTC cron schedules, and the most restrictive
// active budget wins. A time-zoned maintenance window that allows Consolidation is
// therefore compiled the other way round: the windows are laid out on one UTC week,
// and every stretch of the week outside all of them gets a budget of zero nodes for the
// consolidation reasons (Empty, Underutilized). Inside a window only the user's own
// budgets apply.
//
// Each window is placed with the UTC offset its time zone has at the reference time.
// The result is exact until that offset next changes (a daylight-saving transition),
// which is when the budgets must be rendered again; compileWindows reports that instant.

const (
	minutesPerDay  = 24 * 60
	minutesPerWeek = 7 * minutesPerDay
	// transitionHorizon is how far ahead an offset change of a window's zone is looked for.
	transitionHorizon = 366 * 24 * time.Hour
)

// windowReasons are the disruption reasons that maintenance windows gate. Drift and
// repair are not consolidation and stay governed by the user's budgets alone.
var windowReasons = []karpv1.DisruptionReason{karpv1.DisruptionReasonEmpty, karpv1.DisruptionReasonUnderutilized}

var weekdays = map[v1alpha1.Weekday]int{
	"Sun": 0, "Mon": 1, "Tue": 2, "Wed": 3, "Thu": 4, "Fri": 5, "Sat": 6,
}

var cronDays = [7]string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}

// span is a stretch of the UTC week: it starts at minute start, counted from Sunday
// 00:00 UTC, and lasts length minutes; it may run past the end of the week and wrap.
type span struct {
	start, length int
}

// windowPlan is what the maintenance windows compile to.
type windowPlan struct {
	// Budgets block consolidation outside the windows; empty when consolidation is
	// allowed at any time.
	Budgets []karpv1.Budget
	// ValidUntil is the next change of UTC offset of the time zone of a window that
	// allows Consolidation, after the reference time and within a year; zero when there
	// is none. It is set even when the windows cover the whole week, since windows in
	// zones that shift differently may not cover it after the change.
	ValidUntil time.Time
}

// compileWindows compiles the windows that allow Consolidation into Karpenter budgets
// valid at now. Without such a window consolidation is unrestricted and the plan is
// empty.
func compileWindows(windows []v1alpha1.MaintenanceWindow, now time.Time) (windowPlan, error) {
	var consolidation []v1alpha1.MaintenanceWindow
	for _, w := range windows {
		if slices.Contains(w.Allow, v1alpha1.OperationConsolidation) {
			consolidation = append(consolidation, w)
		}
	}
	if len(consolidation) == 0 {
		return windowPlan{}, nil
	}
	allowed, locations, err := windowSpans(consolidation, now)
	if err != nil {
		return windowPlan{}, err
	}
	return windowPlan{
		Budgets:    blockingBudgets(complement(allowed)),
		ValidUntil: nextOffsetChange(locations, now),
	}, nil
}

// windowSpans places every day of every window on the UTC week, using the offset each
// window's zone has at now. It returns the spans and the distinct zones involved.
func windowSpans(windows []v1alpha1.MaintenanceWindow, now time.Time) ([]span, []*time.Location, error) {
	var spans []span
	var locations []*time.Location
	seen := map[string]bool{}
	for _, w := range windows {
		zone := w.TimeZone
		if zone == "" {
			zone = v1alpha1.DefaultWindowTimeZone
		}
		loc, err := time.LoadLocation(zone)
		if err != nil {
			return nil, nil, fmt.Errorf("maintenance window %q: unknown time zone %q: %w", w.Name, zone, err)
		}
		if !seen[loc.String()] {
			seen[loc.String()] = true
			locations = append(locations, loc)
		}
		_, offset := now.In(loc).Zone()
		if offset%60 != 0 {
			return nil, nil, fmt.Errorf("maintenance window %q: time zone %s is %ds off UTC, not a whole number of minutes", w.Name, zone, offset)
		}
		start, err := clockMinutes(w.Start, false)
		if err != nil {
			return nil, nil, fmt.Errorf("maintenance window %q: start: %w", w.Name, err)
		}
		end, err := clockMinutes(w.End, true)
		if err != nil {
			return nil, nil, fmt.Errorf("maintenance window %q: end: %w", w.Name, err)
		}
		if end <= start {
			end += minutesPerDay // the window runs into the next day
		}
		if len(w.Days) == 0 {
			return nil, nil, fmt.Errorf("maintenance window %q has no days", w.Name)
		}
		for _, d := range w.Days {
			day, ok := weekdays[d]
			if !ok {
				return nil, nil, fmt.Errorf("maintenance window %q: %q is not a day: use Mon, Tue, Wed, Thu, Fri, Sat or Sun", w.Name, d)
			}
			local := day*minutesPerDay + start
			spans = append(spans, span{start: mod(local-offset/60, minutesPerWeek), length: end - start})
		}
	}
	return spans, locations, nil
}

// clockMinutes parses HH:MM into minutes after midnight; "24:00" only when allowMidnight.
func clockMinutes(s string, allowMidnight bool) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	if ok && len(hh) == 2 && len(mm) == 2 {
		h, errH := strconv.Atoi(hh)
		m, errM := strconv.Atoi(mm)
		if errH == nil && errM == nil && h >= 0 && m >= 0 && m < 60 {
			if h < 24 || (allowMidnight && h == 24 && m == 0) {
				return h*60 + m, nil
			}
		}
	}
	return 0, fmt.Errorf("%q is not a time of day: write HH:MM on a 24-hour clock", s)
}

// complement returns the maximal stretches of the week that no span covers, each
// starting where a span ends; nil when the spans cover the whole week.
func complement(spans []span) []span {
	var covered [minutesPerWeek]bool
	for _, s := range spans {
		for i := range min(s.length, minutesPerWeek) {
			covered[(s.start+i)%minutesPerWeek] = true
		}
	}
	// Start the scan on a covered minute so that no gap is cut in two at the scan's
	// start; a gap that runs over the end of the week keeps its real start.
	first := slices.Index(covered[:], true)
	if first < 0 {
		return []span{{start: 0, length: minutesPerWeek}}
	}
	var gaps []span
	for i := 0; i < minutesPerWeek; i++ {
		m := (first + i) % minutesPerWeek
		if covered[m] {
			continue
		}
		if n := len(gaps); n > 0 && (gaps[n-1].start+gaps[n-1].length)%minutesPerWeek == m {
			gaps[n-1].length++
			continue
		}
		gaps = append(gaps, span{start: m, length: 1})
	}
	return gaps
}

// blockingBudgets turns gaps into zero-node budgets for the consolidation reasons. Gaps
// that start at the same time of day and last as long share one cron schedule with a
// list of days. Budgets are ordered by their first day, then time of day, then length.
func blockingBudgets(gaps []span) []karpv1.Budget {
	type key struct{ minute, length int }
	days := map[key][]int{}
	var keys []key
	for _, g := range gaps {
		k := key{minute: g.start % minutesPerDay, length: g.length}
		if _, ok := days[k]; !ok {
			keys = append(keys, k)
		}
		days[k] = append(days[k], g.start/minutesPerDay)
	}
	for _, k := range keys {
		slices.Sort(days[k])
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(days[a][0], days[b][0]), cmp.Compare(a.minute, b.minute), cmp.Compare(a.length, b.length))
	})
	budgets := make([]karpv1.Budget, 0, len(keys))
	for _, k := range keys {
		schedule := fmt.Sprintf("%d %d * * %s", k.minute%60, k.minute/60, cronDayList(days[k]))
		budgets = append(budgets, karpv1.Budget{
			Nodes:    "0",
			Reasons:  slices.Clone(windowReasons),
			Schedule: &schedule,
			Duration: &metav1.Duration{Duration: time.Duration(k.length) * time.Minute},
		})
	}
	return budgets
}

// cronDayList writes sorted, distinct days of the week (0 = Sunday) as a cron
// day-of-week field: "*" for every day, runs of three or more days as ranges.
func cronDayList(days []int) string {
	if len(days) == 7 {
		return "*"
	}
	var parts []string
	for i := 0; i < len(days); {
		j := i
		for j+1 < len(days) && days[j+1] == days[j]+1 {
			j++
		}
		switch {
		case j-i >= 2:
			parts = append(parts, cronDays[days[i]]+"-"+cronDays[days[j]])
		case j > i:
			parts = append(parts, cronDays[days[i]], cronDays[days[j]])
		default:
			parts = append(parts, cronDays[days[i]])
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// nextOffsetChange returns the earliest instant after now, within transitionHorizon, at
// which one of the zones changes its UTC offset; zero when none does. A change of zone
// abbreviation alone does not move the windows and is skipped.
func nextOffsetChange(locations []*time.Location, now time.Time) time.Time {
	var next time.Time
	limit := now.Add(transitionHorizon)
	for _, loc := range locations {
		_, offset := now.In(loc).Zone()
		t := now
		for range 64 {
			_, end := t.In(loc).ZoneBounds()
			if end.IsZero() || end.After(limit) {
				break
			}
			if _, o := end.In(loc).Zone(); o != offset {
				if next.IsZero() || end.Before(next) {
					next = end
				}
				break
			}
			t = end
		}
	}
	if next.IsZero() {
		return time.Time{}
	}
	return next.UTC()
}

func mod(a, n int) int {
	return ((a % n) + n) % n
}
