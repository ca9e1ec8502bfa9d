package render

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/maintenance"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Karpenter evaluates disruption budgets as UTC cron schedules, and the most restrictive
// active budget wins. A time-zoned maintenance window that allows Consolidation is
// therefore compiled the other way round: the windows are laid out on one UTC week,
// and every stretch of the week outside all of them gets a budget of zero nodes for the
// consolidation reasons (Empty, Underutilized). Inside a window only the user's own
// budgets apply.
//
// Each window is placed with the UTC offset its time zone has at the reference time
// (package maintenance lays the windows on the week; validation uses the same code to
// check every offset the zones take). The result is exact until that offset next
// changes (a daylight-saving transition), which is when the budgets must be rendered
// again; compileWindows reports that instant.

// transitionHorizon is how far ahead an offset change of a window's zone is looked for.
const transitionHorizon = 366 * 24 * time.Hour

// windowReasons are the disruption reasons that maintenance windows gate. Drift and
// repair are not consolidation and stay governed by the user's budgets alone.
var windowReasons = []karpv1.DisruptionReason{karpv1.DisruptionReasonEmpty, karpv1.DisruptionReasonUnderutilized}

var cronDays = [7]string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}

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
	consolidation := maintenance.Allowing(windows, v1alpha1.OperationConsolidation)
	if len(consolidation) == 0 {
		return windowPlan{}, nil
	}
	blocked, err := maintenance.Blocked(consolidation, now)
	if err != nil {
		return windowPlan{}, err
	}
	locations, err := maintenance.Locations(consolidation)
	if err != nil {
		return windowPlan{}, err
	}
	return windowPlan{
		Budgets:    blockingBudgets(blocked),
		ValidUntil: nextOffsetChange(locations, now),
	}, nil
}

// blockingBudgets turns the schedules of the stretches outside the windows into
// zero-node budgets for the consolidation reasons, in the schedules' order.
func blockingBudgets(blocked []maintenance.Schedule) []karpv1.Budget {
	budgets := make([]karpv1.Budget, 0, len(blocked))
	for _, s := range blocked {
		schedule := fmt.Sprintf("%d %d * * %s", s.Minute%60, s.Minute/60, cronDayList(s.Days))
		budgets = append(budgets, karpv1.Budget{
			Nodes:    "0",
			Reasons:  slices.Clone(windowReasons),
			Schedule: &schedule,
			Duration: &metav1.Duration{Duration: time.Duration(s.Length) * time.Minute},
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
