package v1alpha1

import (
	"fmt"
	"slices"
	"time"
)

// Bounds returns the window's start and end times of day in minutes and its length:
// an end at or before the start runs into the next day, and "24:00" is midnight at the
// end of the day.
func (w MaintenanceWindow) Bounds() (start, length time.Duration, err error) {
	var sh, sm, eh, em int
	if _, err := fmt.Sscanf(w.Start, "%d:%d", &sh, &sm); err != nil {
		return 0, 0, fmt.Errorf("window %s: start %q is not HH:MM", w.Name, w.Start)
	}
	if _, err := fmt.Sscanf(w.End, "%d:%d", &eh, &em); err != nil {
		return 0, 0, fmt.Errorf("window %s: end %q is not HH:MM", w.Name, w.End)
	}
	start = time.Duration(sh)*time.Hour + time.Duration(sm)*time.Minute
	end := time.Duration(eh)*time.Hour + time.Duration(em)*time.Minute
	if end <= start {
		end += 24 * time.Hour
	}
	return start, end - start, nil
}

var weekdays = map[Weekday]time.Weekday{
	"Sun": time.Sunday, "Mon": time.Monday, "Tue": time.Tuesday, "Wed": time.Wednesday,
	"Thu": time.Thursday, "Fri": time.Friday, "Sat": time.Saturday,
}

// Active reports whether t falls inside the window, read in the window's time zone: an
// occurrence starts on each of its days at Start local time and lasts until End (the
// next day when End is not after Start).
func (w MaintenanceWindow) Active(t time.Time) (bool, error) {
	zone := w.TimeZone
	if zone == "" {
		zone = DefaultWindowTimeZone
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return false, fmt.Errorf("window %s: %w", w.Name, err)
	}
	start, length, err := w.Bounds()
	if err != nil {
		return false, err
	}
	local := t.In(loc)
	// An occurrence that covers t started today or yesterday (local dates).
	for back := 0; back <= 1; back++ {
		day := time.Date(local.Year(), local.Month(), local.Day()-back, 0, 0, 0, 0, loc)
		if !slices.ContainsFunc(w.Days, func(d Weekday) bool { return weekdays[d] == day.Weekday() }) {
			continue
		}
		h, m := int(start/time.Hour), int(start%time.Hour/time.Minute)
		begin := time.Date(day.Year(), day.Month(), day.Day(), h, m, 0, 0, loc)
		end := begin.Add(length)
		if !t.Before(begin) && t.Before(end) {
			return true, nil
		}
	}
	return false, nil
}

// OperationAllowed reports whether an operation may run at t: always when no window
// allows it, otherwise only inside a window that does. A window that cannot be read
// (an unknown time zone) allows nothing.
func OperationAllowed(windows []MaintenanceWindow, op MaintenanceOperation, t time.Time) bool {
	restricted := false
	for _, w := range windows {
		if !slices.Contains(w.Allow, op) {
			continue
		}
		restricted = true
		if ok, err := w.Active(t); err == nil && ok {
			return true
		}
	}
	return !restricted
}
