package maintenance

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// The reference times validation vouches for: a policy that validates renders at any
// instant from From to To. The span starts with the year this check was introduced,
// so offsets that zones gave up before then (say, a daylight-saving time abolished in
// 2022) do not count against a policy, and runs far enough to cover every scheduled
// change in the time zone database and every order in which the yearly rules of
// different zones can fall (their weekdays repeat every 28 years).
var (
	From = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)
	To   = time.Date(2100, time.January, 1, 0, 0, 0, 0, time.UTC)
)

// maxChanges bounds the offset changes read per zone, far above the two a year of a
// zone with daylight-saving time.
const maxChanges = 1000

// Regime is one combination of UTC offsets the zones are in at the same time.
type Regime struct {
	// At is the first instant of [from, to) the zones have these offsets.
	At time.Time
	// Offsets are the zones' offsets in seconds east of UTC, in the order of the zones.
	Offsets []int
}

// Regimes returns every combination of UTC offsets the zones are in at some instant
// of [from, to), each once, in order of first occurrence. Laying windows in these
// zones on the UTC week at each Regime's At gives every result that laying them at
// any instant of [from, to) can give, since the result depends on the instant only
// through the offsets.
func Regimes(zones []*time.Location, from, to time.Time) []Regime {
	instants := []time.Time{from}
	for _, loc := range zones {
		t := from
		_, offset := t.In(loc).Zone()
		for range maxChanges {
			_, end := t.In(loc).ZoneBounds()
			if end.IsZero() || !end.Before(to) {
				break
			}
			// A change of abbreviation alone does not move the windows.
			if _, o := end.In(loc).Zone(); o != offset {
				instants = append(instants, end)
				offset = o
			}
			t = end
		}
	}
	slices.SortFunc(instants, func(a, b time.Time) int { return a.Compare(b) })
	var out []Regime
	seen := map[string]bool{}
	for _, at := range instants {
		offsets := make([]int, len(zones))
		key := make([]string, len(zones))
		for i, loc := range zones {
			_, offsets[i] = at.In(loc).Zone()
			key[i] = strconv.Itoa(offsets[i])
		}
		if k := strings.Join(key, ","); !seen[k] {
			seen[k] = true
			out = append(out, Regime{At: at.UTC(), Offsets: offsets})
		}
	}
	return out
}
