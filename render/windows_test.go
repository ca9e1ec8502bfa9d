package render

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	clocktesting "k8s.io/utils/clock/testing"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

var (
	winter = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	summer = time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC)
)

// win builds a window; zone "" leaves the time zone unset (UTC).
func win(days, start, end, zone string, allow ...v1alpha1.MaintenanceOperation) v1alpha1.MaintenanceWindow {
	if len(allow) == 0 {
		allow = []v1alpha1.MaintenanceOperation{v1alpha1.OperationConsolidation}
	}
	var ds []v1alpha1.Weekday
	for d := range strings.SplitSeq(days, ",") {
		ds = append(ds, v1alpha1.Weekday(d))
	}
	return v1alpha1.MaintenanceWindow{Name: "w", Days: ds, Start: start, End: end, TimeZone: zone, Allow: allow}
}

// blocked is an expected budget: "schedule/duration".
func blocked(schedule, duration string) string { return schedule + "/" + duration }

func TestCompileWindows(t *testing.T) {
	cases := []struct {
		name       string
		windows    []v1alpha1.MaintenanceWindow
		now        time.Time
		want       []string
		validUntil string
	}{
		{name: "no windows", now: winter},
		{
			name:    "windows without Consolidation compile to nothing",
			windows: []v1alpha1.MaintenanceWindow{win("Mon", "01:00", "02:00", "Europe/Berlin", v1alpha1.OperationPodEviction, v1alpha1.OperationReverseFallback)},
			now:     winter,
		},
		{
			// Mon 09:00-17:00 UTC: blocked from Mon 17:00 to next Mon 09:00, 160h.
			name:    "one UTC window",
			windows: []v1alpha1.MaintenanceWindow{win("Mon", "09:00", "17:00", "UTC")},
			now:     winter,
			want:    []string{blocked("0 17 * * MON", "160h0m0s")},
		},
		{
			// Fri 22:00 - Sat 02:00: blocked Sat 02:00 to Fri 22:00, 6d20h = 164h.
			name:    "window crossing midnight",
			windows: []v1alpha1.MaintenanceWindow{win("Fri", "22:00", "02:00", "")},
			now:     winter,
			want:    []string{blocked("0 2 * * SAT", "164h0m0s")},
		},
		{
			// Sat 23:00 - Sun 01:00 crosses the end of the UTC week: blocked Sun 01:00 to Sat 23:00.
			name:    "window crossing the end of the week",
			windows: []v1alpha1.MaintenanceWindow{win("Sat", "23:00", "01:00", "UTC")},
			now:     winter,
			want:    []string{blocked("0 1 * * SUN", "166h0m0s")},
		},
		{
			// Wed 20:00 - 24:00: blocked Thu 00:00 to Wed 20:00, 164h.
			name:    "window ending at 24:00",
			windows: []v1alpha1.MaintenanceWindow{win("Wed", "20:00", "24:00", "UTC")},
			now:     winter,
			want:    []string{blocked("0 0 * * THU", "164h0m0s")},
		},
		{
			// Start equal to end is a whole day: Tue 06:00 - Wed 06:00, blocked 144h.
			name:    "start equal to end lasts a day",
			windows: []v1alpha1.MaintenanceWindow{win("Tue", "06:00", "06:00", "UTC")},
			now:     winter,
			want:    []string{blocked("0 6 * * WED", "144h0m0s")},
		},
		{
			name: "overlapping windows merge",
			windows: []v1alpha1.MaintenanceWindow{
				win("Mon", "08:00", "12:00", "UTC"),
				win("Mon", "10:00", "14:00", "UTC"),
			},
			now:  winter,
			want: []string{blocked("0 14 * * MON", "162h0m0s")},
		},
		{
			name: "adjacent windows merge",
			windows: []v1alpha1.MaintenanceWindow{
				win("Mon", "08:00", "10:00", "UTC"),
				win("Mon", "10:00", "12:00", "UTC"),
			},
			now:  winter,
			want: []string{blocked("0 12 * * MON", "164h0m0s")},
		},
		{
			// Blocked 06:00-22:00 every day: one schedule for every day.
			name:    "every night",
			windows: []v1alpha1.MaintenanceWindow{win("Sun,Mon,Tue,Wed,Thu,Fri,Sat", "22:00", "06:00", "UTC")},
			now:     winter,
			want:    []string{blocked("0 6 * * *", "16h0m0s")},
		},
		{
			name:    "the whole week: nothing blocked",
			windows: []v1alpha1.MaintenanceWindow{win("Sun,Mon,Tue,Wed,Thu,Fri,Sat", "00:00", "24:00", "UTC")},
			now:     winter,
		},
		{
			// Gaps Mon 11:00-Tue 10:00 and Tue 11:00-Wed 10:00 (23h each) share a schedule;
			// Wed 11:00 to Mon 10:00 is 119h.
			name:    "gaps of the same shape share a schedule",
			windows: []v1alpha1.MaintenanceWindow{win("Mon,Tue,Wed", "10:00", "11:00", "UTC")},
			now:     winter,
			want:    []string{blocked("0 11 * * MON,TUE", "23h0m0s"), blocked("0 11 * * WED", "119h0m0s")},
		},
		{
			// Gaps Mon 12:00-Wed 10:00 (46h) and Wed 12:00-Mon 10:00 (118h).
			name:    "gaps of different lengths",
			windows: []v1alpha1.MaintenanceWindow{win("Wed,Mon", "10:00", "12:00", "UTC")},
			now:     winter,
			want:    []string{blocked("0 12 * * MON", "46h0m0s"), blocked("0 12 * * WED", "118h0m0s")},
		},
		{
			// CET (UTC+1): 22:00-06:00 is 21:00-05:00 UTC, Mon night to Fri night.
			name:       "Berlin in winter",
			windows:    []v1alpha1.MaintenanceWindow{win("Mon,Tue,Wed,Thu,Fri", "22:00", "06:00", "Europe/Berlin")},
			now:        winter,
			want:       []string{blocked("0 5 * * TUE-FRI", "16h0m0s"), blocked("0 5 * * SAT", "64h0m0s")},
			validUntil: "2026-03-29T01:00:00Z",
		},
		{
			// CEST (UTC+2): one hour earlier in UTC.
			name:       "Berlin in summer",
			windows:    []v1alpha1.MaintenanceWindow{win("Mon,Tue,Wed,Thu,Fri", "22:00", "06:00", "Europe/Berlin")},
			now:        summer,
			want:       []string{blocked("0 4 * * TUE-FRI", "16h0m0s"), blocked("0 4 * * SAT", "64h0m0s")},
			validUntil: "2026-10-25T01:00:00Z",
		},
		{
			// One minute before the spring change Berlin is still on CET...
			name:       "Berlin just before the change",
			windows:    []v1alpha1.MaintenanceWindow{win("Mon,Tue,Wed,Thu,Fri", "22:00", "06:00", "Europe/Berlin")},
			now:        time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC),
			want:       []string{blocked("0 5 * * TUE-FRI", "16h0m0s"), blocked("0 5 * * SAT", "64h0m0s")},
			validUntil: "2026-03-29T01:00:00Z",
		},
		{
			// ...and at the change on CEST, valid until the autumn change.
			name:       "Berlin at the change",
			windows:    []v1alpha1.MaintenanceWindow{win("Mon,Tue,Wed,Thu,Fri", "22:00", "06:00", "Europe/Berlin")},
			now:        time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC),
			want:       []string{blocked("0 4 * * TUE-FRI", "16h0m0s"), blocked("0 4 * * SAT", "64h0m0s")},
			validUntil: "2026-10-25T01:00:00Z",
		},
		{
			// EST (UTC-5): 22:00-06:00 is 03:00-11:00 UTC, Tuesday to Saturday.
			name:       "New York in winter",
			windows:    []v1alpha1.MaintenanceWindow{win("Mon,Tue,Wed,Thu,Fri", "22:00", "06:00", "America/New_York")},
			now:        winter,
			want:       []string{blocked("0 11 * * TUE-FRI", "16h0m0s"), blocked("0 11 * * SAT", "64h0m0s")},
			validUntil: "2026-03-08T07:00:00Z",
		},
		{
			// EDT (UTC-4): 02:00-10:00 UTC.
			name:       "New York in summer",
			windows:    []v1alpha1.MaintenanceWindow{win("Mon,Tue,Wed,Thu,Fri", "22:00", "06:00", "America/New_York")},
			now:        summer,
			want:       []string{blocked("0 10 * * TUE-FRI", "16h0m0s"), blocked("0 10 * * SAT", "64h0m0s")},
			validUntil: "2026-11-01T06:00:00Z",
		},
		{
			// IST (UTC+5:30): Tue 02:00-04:30 is Mon 20:30-23:00 UTC. No change ahead.
			name:    "half-hour offset",
			windows: []v1alpha1.MaintenanceWindow{win("Tue", "02:00", "04:30", "Asia/Kolkata")},
			now:     winter,
			want:    []string{blocked("0 23 * * MON", "165h30m0s")},
		},
		{
			// JST (UTC+9): Sun 03:00-05:00 is Sat 18:00-20:00 UTC, the previous UTC week.
			name:    "east of UTC moves into the previous UTC day",
			windows: []v1alpha1.MaintenanceWindow{win("Sun", "03:00", "05:00", "Asia/Tokyo")},
			now:     winter,
			want:    []string{blocked("0 20 * * SAT", "166h0m0s")},
		},
		{
			// PST (UTC-8): Sat 20:00-23:00 is Sun 04:00-07:00 UTC, the next UTC week.
			name:       "west of UTC moves into the next UTC week",
			windows:    []v1alpha1.MaintenanceWindow{win("Sat", "20:00", "23:00", "America/Los_Angeles")},
			now:        winter,
			want:       []string{blocked("0 7 * * SUN", "165h0m0s")},
			validUntil: "2026-03-08T10:00:00Z",
		},
		{
			// AEDT (UTC+11) in January, the southern summer; it ends on 2026-04-05 03:00 local.
			name:       "southern hemisphere",
			windows:    []v1alpha1.MaintenanceWindow{win("Mon", "01:00", "03:00", "Australia/Sydney")},
			now:        winter,
			want:       []string{blocked("0 16 * * SUN", "166h0m0s")},
			validUntil: "2026-04-04T16:00:00Z",
		},
		{
			// Only windows that allow Consolidation decide the validity: the New York
			// change on 2026-03-08 does not matter, the Berlin one on 2026-03-29 does.
			name: "validity from consolidation windows only",
			windows: []v1alpha1.MaintenanceWindow{
				win("Mon", "09:00", "17:00", "America/New_York", v1alpha1.OperationPodEviction),
				win("Mon", "09:00", "17:00", "Europe/Berlin", v1alpha1.OperationConsolidation),
			},
			now:        time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
			want:       []string{blocked("0 16 * * MON", "160h0m0s")},
			validUntil: "2026-03-29T01:00:00Z",
		},
		{
			// Two zones: the earlier change wins.
			name: "earliest change of several zones",
			windows: []v1alpha1.MaintenanceWindow{
				win("Mon", "09:00", "10:00", "America/New_York"),
				win("Mon", "09:00", "10:00", "Europe/Berlin"),
			},
			now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
			// Berlin Mon 08:00-09:00 UTC, New York Mon 14:00-15:00 UTC.
			want:       []string{blocked("0 9 * * MON", "5h0m0s"), blocked("0 15 * * MON", "161h0m0s")},
			validUntil: "2026-03-08T07:00:00Z",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan, err := compileWindows(c.windows, c.now)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, b := range plan.Budgets {
				checkWindowBudget(t, b)
				got = append(got, blocked(*b.Schedule, b.Duration.Duration.String()))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("budgets\n got %q\nwant %q", got, c.want)
			}
			validUntil := ""
			if !plan.ValidUntil.IsZero() {
				validUntil = plan.ValidUntil.Format(time.RFC3339)
			}
			if validUntil != c.validUntil {
				t.Errorf("valid until %q, want %q", validUntil, c.validUntil)
			}
		})
	}
}

// checkWindowBudget checks a compiled budget against Karpenter's CRD and cron parser.
func checkWindowBudget(t *testing.T, b karpv1.Budget) {
	t.Helper()
	if b.Nodes != "0" || !slices.Equal(b.Reasons, windowReasons) {
		t.Errorf("budget %+v must block the consolidation reasons", b)
	}
	if b.Schedule == nil || b.Duration == nil {
		t.Fatalf("budget without schedule or duration: %+v", b)
	}
	if !budgetDuration.MatchString(b.Duration.Duration.String()) {
		t.Errorf("duration %s does not match the CRD pattern", b.Duration.Duration)
	}
	if _, err := cron.ParseStandard("TZ=UTC " + *b.Schedule); err != nil {
		t.Errorf("schedule %q: %v", *b.Schedule, err)
	}
}

func TestCompileWindowsErrors(t *testing.T) {
	cases := []struct {
		name   string
		window v1alpha1.MaintenanceWindow
		want   string
	}{
		{"unknown time zone", win("Mon", "01:00", "02:00", "Mars/Olympus_Mons"), "unknown time zone"},
		{"hour 25", win("Mon", "25:00", "02:00", ""), "not a time of day"},
		{"24:00 as start", win("Mon", "24:00", "02:00", ""), "not a time of day"},
		{"24:01", win("Mon", "01:00", "24:01", ""), "not a time of day"},
		{"minute 60", win("Mon", "01:60", "02:00", ""), "not a time of day"},
		{"no colon", win("Mon", "0100", "02:00", ""), "not a time of day"},
		{"long day name", win("Monday", "01:00", "02:00", ""), "not a day"},
		{"no days", v1alpha1.MaintenanceWindow{Name: "w", Start: "01:00", End: "02:00", Allow: []v1alpha1.MaintenanceOperation{v1alpha1.OperationConsolidation}}, "no days"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := compileWindows([]v1alpha1.MaintenanceWindow{c.window}, winter)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestCronDayList(t *testing.T) {
	cases := []struct {
		days []int
		want string
	}{
		{[]int{0}, "SUN"},
		{[]int{1, 2}, "MON,TUE"},
		{[]int{1, 2, 3}, "MON-WED"},
		{[]int{0, 2, 3, 4, 6}, "SUN,TUE-THU,SAT"},
		{[]int{0, 1, 3, 4, 5, 6}, "SUN,MON,WED-SAT"},
		{[]int{0, 1, 2, 3, 4, 5, 6}, "*"},
	}
	for _, c := range cases {
		if got := cronDayList(c.days); got != c.want {
			t.Errorf("cronDayList(%v) = %q, want %q", c.days, got, c.want)
		}
	}
}

// TestWindowBudgetsMatchLocalTime is the end-to-end check: for random windows in
// zones with odd offsets and daylight saving, at reference times through the year, it
// asks Karpenter's own budget code whether consolidation is allowed at instants over
// the next eight days (or until the rendering's validity ends) and compares with the
// windows read in local time.
func TestWindowBudgetsMatchLocalTime(t *testing.T) {
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney", "Pacific/Chatham", "America/St_Johns"}
	dayNames := []v1alpha1.Weekday{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	rng := rand.New(rand.NewPCG(1, 2))
	clock := func(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }
	for i := range 60 {
		var windows []v1alpha1.MaintenanceWindow
		for range 1 + rng.IntN(3) {
			var days []v1alpha1.Weekday
			for _, d := range dayNames {
				if rng.IntN(3) == 0 {
					days = append(days, d)
				}
			}
			if len(days) == 0 {
				days = []v1alpha1.Weekday{dayNames[rng.IntN(7)]}
			}
			end := clock(rng.IntN(96) * 15)
			if rng.IntN(8) == 0 {
				end = "24:00"
			}
			windows = append(windows, v1alpha1.MaintenanceWindow{
				Name: "w", Days: days, Start: clock(rng.IntN(96) * 15), End: end,
				TimeZone: zones[rng.IntN(len(zones))],
				Allow:    []v1alpha1.MaintenanceOperation{v1alpha1.OperationConsolidation},
			})
		}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(365*24*60)) * time.Minute)
		t.Run(fmt.Sprintf("case %d", i), func(t *testing.T) {
			plan, err := compileWindows(windows, now)
			if err != nil {
				t.Fatal(err)
			}
			np := &karpv1.NodePool{Spec: karpv1.NodePoolSpec{Disruption: karpv1.Disruption{Budgets: plan.Budgets}}}
			end := now.Add(8 * 24 * time.Hour)
			if !plan.ValidUntil.IsZero() && plan.ValidUntil.Before(end) {
				end = plan.ValidUntil
			}
			// Off the minute, so that no sample falls on a window's edge.
			for at := now.Add(17 * time.Second); at.Before(end); at = at.Add(13 * time.Minute) {
				allowed := np.MustGetAllowedDisruptions(clocktesting.NewFakeClock(at), 10, karpv1.DisruptionReasonUnderutilized) > 0
				if want := inWindow(t, windows, at); allowed != want {
					t.Fatalf("at %s (now %s) Karpenter allows consolidation: %v, the windows say %v\nwindows %+v\nbudgets %s",
						at.Format(time.RFC3339), now.Format(time.RFC3339), allowed, want, windows, budgetList(plan.Budgets))
				}
			}
		})
	}
}

// inWindow reads the windows in local time: is instant at inside one of them?
func inWindow(t *testing.T, windows []v1alpha1.MaintenanceWindow, at time.Time) bool {
	t.Helper()
	for _, w := range windows {
		loc, err := time.LoadLocation(w.TimeZone)
		if err != nil {
			t.Fatal(err)
		}
		local := at.In(loc)
		sh, sm := parseClock(t, w.Start)
		eh, em := parseClock(t, w.End)
		for back := 0; back <= 1; back++ {
			day := time.Date(local.Year(), local.Month(), local.Day()-back, 0, 0, 0, 0, loc)
			if !slices.Contains(w.Days, v1alpha1.Weekday(day.Weekday().String()[:3])) {
				continue
			}
			start := time.Date(day.Year(), day.Month(), day.Day(), sh, sm, 0, 0, loc)
			endDay := day.Day()
			if eh*60+em <= sh*60+sm {
				endDay++
			}
			end := time.Date(day.Year(), day.Month(), endDay, eh, em, 0, 0, loc)
			if !at.Before(start) && at.Before(end) {
				return true
			}
		}
	}
	return false
}

func parseClock(t *testing.T, s string) (int, int) {
	t.Helper()
	var h, m int
	if _, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil {
		t.Fatal(err)
	}
	return h, m
}

func budgetList(bs []karpv1.Budget) string {
	var parts []string
	for _, b := range bs {
		parts = append(parts, fmt.Sprintf("%s/%s", *b.Schedule, b.Duration.Duration))
	}
	return strings.Join(parts, " ")
}

// TestWindowBudgetsAreIndependentOfNow checks that rendering at any time between two
// offset changes gives the same budgets, so the output only changes when it must.
func TestWindowBudgetsAreIndependentOfNow(t *testing.T) {
	windows := []v1alpha1.MaintenanceWindow{
		win("Mon,Tue,Wed,Thu,Fri", "22:00", "06:00", "Europe/Berlin"),
		win("Sat", "10:00", "14:00", "America/New_York"),
	}
	first, err := compileWindows(windows, time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC); !first.ValidUntil.Equal(want) {
		t.Fatalf("valid until %s, want %s", first.ValidUntil, want)
	}
	for at := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC); at.Before(first.ValidUntil); at = at.Add(61 * time.Hour) {
		plan, err := compileWindows(windows, at)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := budgetList(plan.Budgets), budgetList(first.Budgets); got != want || !plan.ValidUntil.Equal(first.ValidUntil) {
			t.Fatalf("at %s: budgets %s until %s, want %s until %s", at, got, plan.ValidUntil, want, first.ValidUntil)
		}
	}
}
