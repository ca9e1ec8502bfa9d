package app

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

// Build information, set at build time by the Makefile with
// -ldflags "-X github.com/ballast-dev/ballast/cmd/ballast/app.version=v1.2.3 ...". A
// binary built without them (go build, go install) falls back on what go build stamps
// into it: the module version and the VCS revision and commit time.
var (
	// version is the release, e.g. v1.2.3 (git describe).
	version = ""
	// commit is the full hash of the commit the binary was built from.
	commit = ""
	// date is when that commit was made, in Unix seconds (or RFC 3339). It is never the
	// time of the build: the same commit must always build the same binary.
	date = ""
)

// unknown stands for a build fact neither set at build time nor stamped by go build.
const unknown = "unknown"

// BuildInfo says which source a binary was built from.
type BuildInfo struct {
	// Version is the release (v1.2.3), the module's pseudo-version, or "dev".
	Version string
	// Commit is the commit's full hash, with "-dirty" when go build saw local changes.
	Commit string
	// Date is the commit time in RFC 3339, UTC.
	Date string
	// Go is the Go version and the platform, e.g. "go1.27.4 linux/amd64".
	Go string
}

// String is the version line `ballast version` and `ballast --version` print, after
// "ballast ".
func (b BuildInfo) String() string {
	return fmt.Sprintf("%s (commit %s, date %s, %s)", b.Version, b.Commit, b.Date, b.Go)
}

// Version returns Ballast's version: the one set at build time, else the module version
// the binary was built from, else "dev".
func Version() string { return Build().Version }

// Build returns what this binary was built from.
func Build() BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return buildInfo(bi, version, commit, date)
}

// buildInfo merges the values set at build time with the Go build information (bi may be
// nil); a value set at build time wins.
func buildInfo(bi *debug.BuildInfo, version, commit, date string) BuildInfo {
	b := BuildInfo{Version: version, Commit: commit, Date: formatDate(date),
		Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	var modified bool
	var revision, vcsTime string
	if bi != nil {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if b.Commit == "" && revision != "" {
		b.Commit = revision
		if modified {
			b.Commit += "-dirty"
		}
	}
	if b.Commit == "" {
		b.Commit = unknown
	}
	if b.Date == "" {
		b.Date = formatDate(vcsTime)
	}
	if b.Date == "" {
		b.Date = unknown
	}
	return b
}

// formatDate returns a time given in Unix seconds or RFC 3339 in RFC 3339, UTC; anything
// else as it is.
func formatDate(s string) string {
	if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(sec, 0).UTC().Format(time.RFC3339)
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format(time.RFC3339)
	}
	return s
}

func newVersionCommand(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Ballast's version, the commit it was built from and that commit's time",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(s.out, "ballast %s\n", Build())
			return err
		},
	}
}
