package maintenance

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

func TestComplement(t *testing.T) {
	cases := []struct {
		name  string
		spans []Span
		want  []Span
	}{
		{"nothing covered", nil, []Span{{0, MinutesPerWeek}}},
		{"everything covered", []Span{{0, MinutesPerWeek}}, nil},
		{"one span", []Span{{60, 60}}, []Span{{120, MinutesPerWeek - 60}}},
		{"wrapping span", []Span{{MinutesPerWeek - 30, 60}}, []Span{{30, MinutesPerWeek - 60}}},
		{"gap wrapping the end of the week", []Span{{100, 10}, {200, 10}}, []Span{{110, 90}, {210, MinutesPerWeek - 110}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Complement(c.spans); !slices.Equal(got, c.want) {
				t.Errorf("Complement(%v) = %v, want %v", c.spans, got, c.want)
			}
		})
	}
}

func TestSchedules(t *testing.T) {
	// Mon and Tue 11:00 for 23h share a schedule; Wed 11:00 lasts 119h; Sun 05:00 1h.
	gaps := []Span{
		{Start: 3*MinutesPerDay + 11*60, Length: 119 * 60},
		{Start: 1*MinutesPerDay + 11*60, Length: 23 * 60},
		{Start: 5 * 60, Length: 60},
		{Start: 2*MinutesPerDay + 11*60, Length: 23 * 60},
	}
	want := []Schedule{
		{Minute: 5 * 60, Length: 60, Days: []int{0}},
		{Minute: 11 * 60, Length: 23 * 60, Days: []int{1, 2}},
		{Minute: 11 * 60, Length: 119 * 60, Days: []int{3}},
	}
	got := Schedules(gaps)
	if !slices.EqualFunc(got, want, func(a, b Schedule) bool {
		return a.Minute == b.Minute && a.Length == b.Length && slices.Equal(a.Days, b.Days)
	}) {
		t.Errorf("Schedules = %v, want %v", got, want)
	}
	if Schedules(nil) != nil {
		t.Error("no gaps must give no schedules")
	}
}

func TestPlaceErrorsNameTheField(t *testing.T) {
	ok := v1alpha1.MaintenanceWindow{Name: "ok", Days: []v1alpha1.Weekday{"Mon"}, Start: "01:00", End: "02:00"}
	cases := []struct {
		name  string
		bad   func(w *v1alpha1.MaintenanceWindow)
		field string
	}{
		{"zone", func(w *v1alpha1.MaintenanceWindow) { w.TimeZone = "Mars/Olympus_Mons" }, "timeZone"},
		{"start", func(w *v1alpha1.MaintenanceWindow) { w.Start = "24:00" }, "start"},
		{"end", func(w *v1alpha1.MaintenanceWindow) { w.End = "1:00" }, "end"},
		{"no days", func(w *v1alpha1.MaintenanceWindow) { w.Days = nil }, "days"},
		{"day", func(w *v1alpha1.MaintenanceWindow) { w.Days = []v1alpha1.Weekday{"Monday"} }, "days"},
		// Amsterdam was 19m32s ahead of UTC until 1937.
		{"seconds offset", func(w *v1alpha1.MaintenanceWindow) { w.TimeZone = "Europe/Amsterdam" }, "timeZone"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := ok
			c.bad(&bad)
			_, err := Place([]v1alpha1.MaintenanceWindow{ok, bad}, time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC))
			var we *Error
			if !errors.As(err, &we) || we.Index != 1 || we.Field != c.field {
				t.Fatalf("error %v, want a window error for [1].%s", err, c.field)
			}
		})
	}
}

func TestRegimes(t *testing.T) {
	load := func(names ...string) []*time.Location {
		var out []*time.Location
		for _, n := range names {
			loc, err := time.LoadLocation(n)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, loc)
		}
		return out
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		zones []string
		want  []string // "at offsets..."
	}{
		{"no daylight saving", []string{"UTC", "Asia/Kathmandu"}, []string{"2026-01-01T00:00:00Z [0 20700]"}},
		{"one zone", []string{"Europe/Berlin"}, []string{"2026-01-01T00:00:00Z [3600]", "2026-03-29T01:00:00Z [7200]"}},
		{
			// New York moves on 8 March, London on 29 March; back on 25 October and
			// 1 November: three combinations.
			"zones that change on different days", []string{"Europe/London", "America/New_York"},
			[]string{"2026-01-01T00:00:00Z [0 -18000]", "2026-03-08T07:00:00Z [0 -14400]", "2026-03-29T01:00:00Z [3600 -14400]"},
		},
		{
			// Lord Howe moves by half an hour, Chatham by an hour from 12:45 ahead; back to
			// both in summer time on 3 October, a combination already seen.
			"odd offsets", []string{"Australia/Lord_Howe", "Pacific/Chatham"},
			[]string{"2026-01-01T00:00:00Z [39600 49500]", "2026-04-04T14:00:00Z [39600 45900]", "2026-04-04T15:00:00Z [37800 45900]", "2026-09-26T14:00:00Z [37800 49500]"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, r := range Regimes(load(c.zones...), from, to) {
				got = append(got, r.At.Format(time.RFC3339)+" "+fmt.Sprint(r.Offsets))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("regimes\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestRegimesCoverEveryInstant checks the promise of Regimes: the offsets at any
// instant of the span are those of one of the regimes.
func TestRegimesCoverEveryInstant(t *testing.T) {
	var zones []*time.Location
	for _, n := range []string{"America/St_Johns", "Australia/Lord_Howe", "Pacific/Chatham", "Africa/Casablanca", "America/Santiago", "Europe/Dublin"} {
		loc, err := time.LoadLocation(n)
		if err != nil {
			t.Fatal(err)
		}
		zones = append(zones, loc)
	}
	regimes := Regimes(zones, From, To)
	seen := map[string]bool{}
	for _, r := range regimes {
		seen[fmt.Sprint(r.Offsets)] = true
	}
	for at := From; at.Before(To); at = at.Add(97*time.Hour + 13*time.Minute) {
		offsets := make([]int, len(zones))
		for i, loc := range zones {
			_, offsets[i] = at.In(loc).Zone()
		}
		if !seen[fmt.Sprint(offsets)] {
			t.Fatalf("at %s the offsets are %v, which no regime has", at, offsets)
		}
	}
	t.Logf("%d regimes", len(regimes))
}
