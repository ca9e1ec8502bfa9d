package app

import (
	"math"
	"os"
	"strconv"
	"strings"
)

// cgroupMemoryLimits are the files that state the container's memory limit: cgroup v2's,
// then cgroup v1's.
var cgroupMemoryLimits = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// goMemoryLimit is the soft memory limit the controller gives the Go runtime: 90% of
// its container's memory limit, so that the garbage collector works harder as the
// process nears the limit instead of letting garbage grow to it (the startup, when
// every controller reads the whole cluster at once, makes the most); the rest is
// left for what the runtime does not count (the binary, thread stacks). It is 0 (no
// limit) when GOMEMLIMIT sets one already, or when the container has no limit (cgroup
// v2 "max", v1 a number near 2^63).
func goMemoryLimit(getenv func(string) string, readFile func(string) ([]byte, error), files []string) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return 0
	}
	for _, f := range files {
		data, err := readFile(f)
		if err != nil {
			continue
		}
		limit, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || limit <= 0 || limit > math.MaxInt64/2 {
			return 0
		}
		return limit / 10 * 9
	}
	return 0
}

// controllerGCPercent is the garbage collector's target the controller runs with
// unless GOGC sets one: the heap may grow to 1.5 times what is live between
// collections instead of Go's default 2 times. The controller is a cache of the
// cluster that mostly waits, so memory is what it costs: measured at 2,000 nodes /
// 20,000 pods (docs/performance.md), this takes the startup's peak RSS from 400 to
// 308 MiB and the steady RSS by 23 MiB (54 MiB after churn), for about a quarter more
// CPU per pod churned.
const controllerGCPercent = 50

// goGCPercent is the garbage collector's target the controller sets, or -1 to leave
// the runtime's (GOGC is set).
func goGCPercent(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		return -1
	}
	return controllerGCPercent
}

// containerMemoryLimit is goMemoryLimit of this process.
func containerMemoryLimit() int64 {
	return goMemoryLimit(os.Getenv, os.ReadFile, cgroupMemoryLimits)
}
