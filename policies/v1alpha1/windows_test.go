package v1alpha1

import (
	"testing"
	"time"
)

func TestWindowActive(t *testing.T) {
	nights := MaintenanceWindow{Name: "nights", Days: []Weekday{"Mon", "Tue", "Wed", "Thu", "Fri"}, Start: "22:00", End: "06:00", TimeZone: "Europe/Berlin", Allow: []MaintenanceOperation{OperationPodEviction}}
	weekend := MaintenanceWindow{Name: "weekend", Days: []Weekday{"Sat", "Sun"}, Start: "00:00", End: "24:00", TimeZone: "America/New_York", Allow: []MaintenanceOperation{OperationConsolidation}}
	utc := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	for _, tc := range []struct {
		name string
		w    MaintenanceWindow
		at   time.Time
		want bool
	}{
		// 2026-01-12 is a Monday. Berlin is UTC+1 in January.
		{"monday 22:30 Berlin", nights, utc("2026-01-12T21:30:00Z"), true},
		{"monday 21:59 Berlin", nights, utc("2026-01-12T20:59:00Z"), false},
		{"tuesday 05:59 Berlin (Monday's window)", nights, utc("2026-01-13T04:59:00Z"), true},
		{"tuesday 06:00 Berlin", nights, utc("2026-01-13T05:00:00Z"), false},
		{"saturday 03:00 Berlin (Friday's window)", nights, utc("2026-01-17T02:00:00Z"), true},
		{"sunday 03:00 Berlin (no Saturday window)", nights, utc("2026-01-18T02:00:00Z"), false},
		// July: Berlin is UTC+2, so 22:30 local is 20:30 UTC.
		{"summer monday 22:30 Berlin", nights, utc("2026-07-13T20:30:00Z"), true},
		{"summer monday 21:30 Berlin", nights, utc("2026-07-13T19:30:00Z"), false},
		// New York is UTC-5 in January: Saturday 00:00 local is 05:00 UTC.
		{"friday 23:59 New York", weekend, utc("2026-01-17T04:59:00Z"), false},
		{"saturday 00:00 New York", weekend, utc("2026-01-17T05:00:00Z"), true},
		{"sunday 23:59 New York", weekend, utc("2026-01-19T04:59:00Z"), true},
		{"monday 00:00 New York", weekend, utc("2026-01-19T05:00:00Z"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.w.Active(tc.at)
			if err != nil || got != tc.want {
				t.Fatalf("Active(%s) = %v, %v; want %v", tc.at, got, err, tc.want)
			}
		})
	}
	windows := []MaintenanceWindow{nights, weekend}
	if !OperationAllowed(windows, OperationReverseFallback, utc("2026-01-12T12:00:00Z")) {
		t.Error("an operation no window mentions must be allowed at any time")
	}
	if OperationAllowed(windows, OperationPodEviction, utc("2026-01-12T12:00:00Z")) {
		t.Error("pod eviction must wait for its window")
	}
	if !OperationAllowed(windows, OperationPodEviction, utc("2026-01-12T21:30:00Z")) {
		t.Error("pod eviction must run inside its window")
	}
}
