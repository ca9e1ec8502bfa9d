package app

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestBuildInfo(t *testing.T) {
	goLine := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	stamped := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/ballast-dev/ballast", Version: "v0.0.0-20251201220000-0123456789ab"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2025-12-01T23:00:00+01:00"},
			{Key: "vcs.modified", Value: "false"},
		},
	}
	dirty := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		name                  string
		bi                    *debug.BuildInfo
		version, commit, date string
		want                  BuildInfo
	}{
		{
			name:    "set at build time",
			bi:      stamped,
			version: "v1.2.3", commit: "fedcba9876543210fedcba9876543210fedcba98", date: "1764626400",
			want: BuildInfo{Version: "v1.2.3", Commit: "fedcba9876543210fedcba9876543210fedcba98", Date: "2025-12-01T22:00:00Z", Go: goLine},
		},
		{
			name: "stamped by go build",
			bi:   stamped,
			want: BuildInfo{Version: "v0.0.0-20251201220000-0123456789ab", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2025-12-01T22:00:00Z", Go: goLine},
		},
		{
			name: "local changes",
			bi:   dirty,
			want: BuildInfo{Version: "dev", Commit: "0123456789abcdef0123456789abcdef01234567-dirty", Date: unknown, Go: goLine},
		},
		{
			name: "nothing known",
			want: BuildInfo{Version: "dev", Commit: unknown, Date: unknown, Go: goLine},
		},
		{
			name: "RFC 3339 date",
			date: "2025-12-01T23:00:00+01:00",
			want: BuildInfo{Version: "dev", Commit: unknown, Date: "2025-12-01T22:00:00Z", Go: goLine},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := buildInfo(tc.bi, tc.version, tc.commit, tc.date); got != tc.want {
				t.Errorf("buildInfo() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	old := [3]string{version, commit, date}
	t.Cleanup(func() { version, commit, date = old[0], old[1], old[2] })
	version, commit, date = "v1.2.3", "fedcba9876543210fedcba9876543210fedcba98", "1764626400"
	want := "ballast v1.2.3 (commit fedcba9876543210fedcba9876543210fedcba98, date 2025-12-01T22:00:00Z, " +
		runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, errOut := run(args...)
		if code != ExitOK || out != want || errOut != "" {
			t.Errorf("ballast %v = %d, %q, %q; want 0, %q, nothing on stderr", args, code, out, errOut, want)
		}
	}
}
