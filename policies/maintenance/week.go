package maintenance

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

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Minutes in a day and in a week: the UTC week is counted in minutes from Sunday 00:00
// UTC, the resolution of a cron schedule.
const (
	MinutesPerDay  = 24 * 60
	MinutesPerWeek = 7 * MinutesPerDay
)

var weekdays = map[v1alpha1.Weekday]int{
	"Sun": 0, "Mon": 1, "Tue": 2, "Wed": 3, "Thu": 4, "Fri": 5, "Sat": 6,
}

// Span is a stretch of the UTC week: it starts at minute Start, counted from Sunday
// 00:00 UTC, and lasts Length minutes; it may run past the end of the week and wrap.
type Span struct {
	Start, Length int
}

// Schedule is the stretches of the UTC week that start at the same time of day and
// last as long, on one or more days: what one cron budget expresses.
type Schedule struct {
	// Minute is the time of day the stretches start, in minutes after 00:00 UTC.
	Minute int
	// Length is how long each stretch lasts, in minutes.
	Length int
	// Days are the days of the week the stretches start on, sorted; 0 is Sunday.
	Days []int
}

// Error is a window that cannot be laid on the UTC week.
type Error struct {
	// Index is the window's index in the list given.
	Index int
	// Field is the window's field at fault: "timeZone", "start", "end" or "days".
	Field string
	// Err says what is wrong, starting with the window's name.
	Err error
}

// Error returns the message of Err, which names the window.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Allowing returns the windows that allow op, in their order.
func Allowing(windows []v1alpha1.MaintenanceWindow, op v1alpha1.MaintenanceOperation) []v1alpha1.MaintenanceWindow {
	var out []v1alpha1.MaintenanceWindow
	for _, w := range windows {
		if slices.Contains(w.Allow, op) {
			out = append(out, w)
		}
	}
	return out
}

// Locations returns the distinct time zones of the windows, in order of first use; an
// unset zone is UTC.
func Locations(windows []v1alpha1.MaintenanceWindow) ([]*time.Location, error) {
	var out []*time.Location
	seen := map[string]bool{}
	for i, w := range windows {
		if seen[zoneName(w)] {
			continue
		}
		loc, err := location(i, w)
		if err != nil {
			return nil, err
		}
		seen[zoneName(w)] = true
		out = append(out, loc)
	}
	return out, nil
}

func zoneName(w v1alpha1.MaintenanceWindow) string {
	if w.TimeZone == "" {
		return v1alpha1.DefaultWindowTimeZone
	}
	return w.TimeZone
}

func location(i int, w v1alpha1.MaintenanceWindow) (*time.Location, error) {
	zone := zoneName(w)
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, &Error{Index: i, Field: "timeZone", Err: fmt.Errorf("maintenance window %q: unknown time zone %q: %w", w.Name, zone, err)}
	}
	return loc, nil
}

// Place lays every day of every window on the UTC week, using the UTC offset each
// window's time zone has at instant at.
func Place(windows []v1alpha1.MaintenanceWindow, at time.Time) ([]Span, error) {
	var spans []Span
	offsets := map[string]int{} // by zone: loading a zone reads the zone database
	for i, w := range windows {
		offset, ok := offsets[w.TimeZone]
		if !ok {
			loc, err := location(i, w)
			if err != nil {
				return nil, err
			}
			_, offset = at.In(loc).Zone()
			offsets[w.TimeZone] = offset
		}
		if offset%60 != 0 {
			return nil, &Error{Index: i, Field: "timeZone", Err: fmt.Errorf("maintenance window %q: time zone %s is %ds off UTC, not a whole number of minutes", w.Name, zoneName(w), offset)}
		}
		start, err := clockMinutes(w.Start, false)
		if err != nil {
			return nil, &Error{Index: i, Field: "start", Err: fmt.Errorf("maintenance window %q: start: %w", w.Name, err)}
		}
		end, err := clockMinutes(w.End, true)
		if err != nil {
			return nil, &Error{Index: i, Field: "end", Err: fmt.Errorf("maintenance window %q: end: %w", w.Name, err)}
		}
		if end <= start {
			end += MinutesPerDay // the window runs into the next day
		}
		if len(w.Days) == 0 {
			return nil, &Error{Index: i, Field: "days", Err: fmt.Errorf("maintenance window %q has no days", w.Name)}
		}
		for _, d := range w.Days {
			day, ok := weekdays[d]
			if !ok {
				return nil, &Error{Index: i, Field: "days", Err: fmt.Errorf("maintenance window %q: %q is not a day: use Mon, Tue, Wed, Thu, Fri, Sat or Sun", w.Name, d)}
			}
			local := day*MinutesPerDay + start
			spans = append(spans, Span{Start: mod(local-offset/60, MinutesPerWeek), Length: end - start})
		}
	}
	return spans, nil
}

// Blocked returns the schedules of the stretches of the UTC week outside every window,
// with the windows placed as at instant at (see Place): nil when the windows cover the
// whole week. They are ordered by their first day, then time of day, then length.
func Blocked(windows []v1alpha1.MaintenanceWindow, at time.Time) ([]Schedule, error) {
	spans, err := Place(windows, at)
	if err != nil {
		return nil, err
	}
	return Schedules(Complement(spans)), nil
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

// Complement returns the maximal stretches of the week that no span covers, each
// starting where a span ends; nil when the spans cover the whole week.
func Complement(spans []Span) []Span {
	var covered [MinutesPerWeek]bool
	for _, s := range spans {
		for i := range min(s.Length, MinutesPerWeek) {
			covered[(s.Start+i)%MinutesPerWeek] = true
		}
	}
	// Start the scan on a covered minute so that no gap is cut in two at the scan's
	// start; a gap that runs over the end of the week keeps its real start.
	first := slices.Index(covered[:], true)
	if first < 0 {
		return []Span{{Start: 0, Length: MinutesPerWeek}}
	}
	var gaps []Span
	for i := range MinutesPerWeek {
		m := (first + i) % MinutesPerWeek
		if covered[m] {
			continue
		}
		if n := len(gaps); n > 0 && (gaps[n-1].Start+gaps[n-1].Length)%MinutesPerWeek == m {
			gaps[n-1].Length++
			continue
		}
		gaps = append(gaps, Span{Start: m, Length: 1})
	}
	return gaps
}

// Schedules groups spans that start at the same time of day and last as long into
// one schedule with a list of days, ordered by first day, then time of day, then
// length.
func Schedules(spans []Span) []Schedule {
	type key struct{ minute, length int }
	days := map[key][]int{}
	var keys []key
	for _, s := range spans {
		k := key{minute: s.Start % MinutesPerDay, length: s.Length}
		if _, ok := days[k]; !ok {
			keys = append(keys, k)
		}
		days[k] = append(days[k], s.Start/MinutesPerDay)
	}
	out := make([]Schedule, 0, len(keys))
	for _, k := range keys {
		ds := days[k]
		slices.Sort(ds)
		out = append(out, Schedule{Minute: k.minute, Length: k.length, Days: ds})
	}
	slices.SortFunc(out, func(a, b Schedule) int {
		return cmp.Or(cmp.Compare(a.Days[0], b.Days[0]), cmp.Compare(a.Minute, b.Minute), cmp.Compare(a.Length, b.Length))
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

func mod(a, n int) int {
	return ((a % n) + n) % n
}
