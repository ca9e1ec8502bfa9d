package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// versionPattern is a release version: SemVer's x.y.z, without a pre-release or build.
var versionPattern = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)

// linkDefinition is a Markdown link reference definition, such as the
// "[0.1.0]: https://..." lines Keep a Changelog puts after the last section.
var linkDefinition = regexp.MustCompile(`^\[[^\]]+\]:\s`)

// Notes returns the section of changelog (Keep a Changelog: one "## [version]" heading
// per release) for version, heading included. When there is no section for version,
// it returns the "## [Unreleased]" section titled "## [version]" and unreleased true:
// a release cut before its section was named. Link reference definitions that end the
// file are left out. An empty section is an error: a release says what changed.
func Notes(changelog []byte, version string) (notes []byte, unreleased bool, err error) {
	if !versionPattern.MatchString(version) {
		return nil, false, fmt.Errorf("the version %q is not x.y.z", version)
	}
	lines := strings.Split(strings.ReplaceAll(string(changelog), "\r\n", "\n"), "\n")
	body, ok := section(lines, version)
	if !ok {
		if body, ok = section(lines, "Unreleased"); !ok {
			return nil, false, fmt.Errorf("no [%s] or [Unreleased] section", version)
		}
		unreleased = true
	}
	for len(body) > 0 && (strings.TrimSpace(body[len(body)-1]) == "" || linkDefinition.MatchString(body[len(body)-1])) {
		body = body[:len(body)-1]
	}
	for len(body) > 0 && strings.TrimSpace(body[0]) == "" {
		body = body[1:]
	}
	if len(body) == 0 {
		return nil, false, fmt.Errorf("the section for %s is empty", version)
	}
	title := "## [" + version + "]"
	if !unreleased {
		title = heading(lines, version) // as written: it may carry the date
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n\n%s\n", title, strings.Join(body, "\n"))
	return b.Bytes(), unreleased, nil
}

// section returns the lines after the "## [name]" heading up to the next "## " heading
// (or a "# " one), and whether there is such a heading.
func section(lines []string, name string) ([]string, bool) {
	start := -1
	for i, l := range lines {
		if isHeading(l, name) {
			start = i + 1
			break
		}
	}
	if start < 0 {
		return nil, false
	}
	end := len(lines)
	for i := start; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "## ") || strings.HasPrefix(lines[i], "# ") {
			end = i
			break
		}
	}
	return lines[start:end], true
}

// heading returns the "## [name]" heading line, trimmed.
func heading(lines []string, name string) string {
	for _, l := range lines {
		if isHeading(l, name) {
			return strings.TrimSpace(l)
		}
	}
	return "## [" + name + "]"
}

// isHeading reports whether l is the level-2 heading of the section name: "## [name]",
// or "## [vname]", optionally followed by " - date"; case-insensitive for Unreleased.
func isHeading(l, name string) bool {
	rest, ok := strings.CutPrefix(strings.TrimSpace(l), "## [")
	if !ok {
		return false
	}
	got, _, ok := strings.Cut(rest, "]")
	return ok && strings.EqualFold(strings.TrimPrefix(got, "v"), name)
}
