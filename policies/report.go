package policies

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Formats are the output formats Write supports.
var Formats = []string{"text", "json", "sarif", "github"}

// InformationURI is where SARIF consumers link Ballast's documentation.
const InformationURI = "https://github.com/ballast-dev/ballast"

// Write writes findings in one of Formats: text (one line per finding and a summary),
// json, sarif (SARIF 2.1.0, for code-scanning tools) or github (workflow commands that
// annotate the lines of a pull request). rules describes the rule ids for sarif.
func Write(w io.Writer, format string, findings Findings, rules []RuleInfo) error {
	switch format {
	case "text":
		return writeText(w, findings)
	case "json":
		return writeJSON(w, findings)
	case "sarif":
		return writeSARIF(w, findings, rules)
	case "github":
		return writeGitHub(w, findings)
	}
	return fmt.Errorf("unknown format %q: use one of %s", format, strings.Join(Formats, ", "))
}

func writeText(w io.Writer, findings Findings) error {
	var b strings.Builder
	for _, f := range findings {
		b.WriteString(escapeTerminal(f.String()))
		b.WriteByte('\n')
	}
	if len(findings) > 0 {
		b.WriteString(Summary(findings))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Summary counts findings by severity and the files they are in, e.g.
// "2 errors, 1 warning in 3 files"; severities without findings are left out.
func Summary(findings Findings) string {
	var parts []string
	for _, c := range []struct {
		sev        Severity
		one, other string
	}{{SeverityError, "error", "errors"}, {SeverityWarning, "warning", "warnings"}, {SeverityInfo, "note", "notes"}} {
		if n := findings.Count(c.sev); n > 0 {
			parts = append(parts, plural(n, c.one, c.other))
		}
	}
	if len(parts) == 0 {
		return "no findings"
	}
	return fmt.Sprintf("%s in %s", strings.Join(parts, ", "), plural(len(findings.Files()), "file", "files"))
}

// Files returns the files the findings are in, sorted.
func (fs Findings) Files() []string {
	var files []string
	for _, f := range fs {
		files = append(files, f.File)
	}
	slices.Sort(files)
	return slices.Compact(files)
}

func plural(n int, one, other string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + other
}

// jsonReport is the json format. Its field names are stable.
type jsonReport struct {
	Findings Findings   `json:"findings"`
	Counts   jsonCounts `json:"counts"`
}

type jsonCounts struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Infos    int `json:"infos"`
	Files    int `json:"files"`
}

func writeJSON(w io.Writer, findings Findings) error {
	if findings == nil {
		findings = Findings{}
	}
	return encode(w, jsonReport{
		Findings: findings,
		Counts: jsonCounts{
			Errors: findings.Count(SeverityError), Warnings: findings.Count(SeverityWarning),
			Infos: findings.Count(SeverityInfo), Files: len(findings.Files()),
		},
	})
}

func encode(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// SARIF 2.1.0, the subset code-scanning tools read.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool    sarifTool     `json:"tool"`
		Results []sarifResult `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		InformationURI string      `json:"informationUri"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string        `json:"id"`
		ShortDescription     sarifMessage  `json:"shortDescription"`
		DefaultConfiguration sarifRuleConf `json:"defaultConfiguration"`
	}
	sarifRuleConf struct {
		Level string `json:"level"`
	}
	sarifMessage struct {
		Text string `json:"text"`
	}
	sarifResult struct {
		RuleID    string          `json:"ruleId"`
		RuleIndex *int            `json:"ruleIndex,omitempty"`
		Level     string          `json:"level"`
		Message   sarifMessage    `json:"message"`
		Locations []sarifLocation `json:"locations"`
	}
	sarifLocation struct {
		PhysicalLocation sarifPhysical `json:"physicalLocation"`
	}
	sarifPhysical struct {
		ArtifactLocation sarifArtifact `json:"artifactLocation"`
		Region           *sarifRegion  `json:"region,omitempty"`
	}
	sarifArtifact struct {
		URI string `json:"uri"`
	}
	sarifRegion struct {
		StartLine   int `json:"startLine"`
		StartColumn int `json:"startColumn,omitempty"`
	}
)

const sarifSchema = "https://json.schemastore.org/sarif-2.1.0.json"

func sarifLevel(s Severity) string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	}
	return "note"
}

func writeSARIF(w io.Writer, findings Findings, rules []RuleInfo) error {
	driver := sarifDriver{Name: "ballast", InformationURI: InformationURI, Rules: []sarifRule{}}
	index := map[string]int{}
	for _, r := range rules {
		index[r.ID] = len(driver.Rules)
		driver.Rules = append(driver.Rules, sarifRule{
			ID: r.ID, ShortDescription: sarifMessage{r.Description},
			DefaultConfiguration: sarifRuleConf{sarifLevel(r.Severity)},
		})
	}
	results := make([]sarifResult, 0, len(findings))
	for _, f := range findings {
		res := sarifResult{RuleID: f.Rule, Level: sarifLevel(f.Severity), Message: sarifMessage{message(f)}}
		if i, ok := index[f.Rule]; ok {
			res.RuleIndex = &i
		}
		loc := sarifPhysical{ArtifactLocation: sarifArtifact{URI: artifactURI(f.File)}}
		if f.Line > 0 {
			loc.Region = &sarifRegion{StartLine: f.Line, StartColumn: f.Column}
		}
		res.Locations = []sarifLocation{{PhysicalLocation: loc}}
		results = append(results, res)
	}
	return encode(w, sarifLog{
		Schema: sarifSchema, Version: "2.1.0",
		Runs: []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results}},
	})
}

// artifactURI turns a finding's file into a URI reference: relative paths stay
// relative (code scanning resolves them against the repository root), with forward
// slashes and percent-encoding.
func artifactURI(file string) string {
	p := filepath.ToSlash(file)
	if filepath.IsAbs(file) || strings.HasPrefix(p, "/") {
		if !strings.HasPrefix(p, "/") {
			p = "/" + p // a Windows drive path
		}
		return (&url.URL{Scheme: "file", Path: p}).String()
	}
	return (&url.URL{Path: strings.TrimPrefix(p, "./")}).String()
}

// message is a finding's message prefixed with its field.
func message(f Finding) string {
	if f.Field == "" {
		return f.Message
	}
	return f.Field + ": " + f.Message
}

// writeGitHub writes GitHub Actions workflow commands, which annotate the lines in the
// pull request's diff: ::error file=F,line=L,col=C,title=T::message.
func writeGitHub(w io.Writer, findings Findings) error {
	var b strings.Builder
	for _, f := range findings {
		cmd := map[Severity]string{SeverityError: "error", SeverityWarning: "warning"}[f.Severity]
		if cmd == "" {
			cmd = "notice"
		}
		props := []string{"file=" + escapeProperty(filepath.ToSlash(f.File))}
		if f.Line > 0 {
			props = append(props, "line="+strconv.Itoa(f.Line))
			if f.Column > 0 {
				props = append(props, "col="+strconv.Itoa(f.Column))
			}
		}
		props = append(props, "title="+escapeProperty("ballast "+f.Rule))
		fmt.Fprintf(&b, "::%s %s::%s\n", cmd, strings.Join(props, ","), escapeData(message(f)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// escapeData escapes a workflow command's message the way @actions/core does, so that
// no line break starts another command (the runner shows %0A as a line break of the
// annotation); other control characters are escaped as in the text format, since the
// job's log renders ANSI sequences.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(escapeControls(s, "\r\n"))
}

// escapeProperty escapes a workflow command's property value, which also may not
// contain the separators : and ,.
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(escapeControls(s, "\r\n"))
}

// escapeTerminal makes s safe to print as one line of a terminal: control characters
// (ANSI escape sequences, newlines, carriage returns, backspaces), Unicode line
// separators, bidirectional overrides and bytes that are not UTF-8 are written as Go
// escapes (\x1b, \n, \u202e, \xff). File names and the values quoted in messages come
// from the policy tree, and a hostile one must not move the cursor, rewrite earlier
// lines or reorder what is shown. The json and sarif formats need no such care: their
// encoder escapes control characters.
func escapeTerminal(s string) string {
	return escapeControls(s, "")
}

// escapeControls is escapeTerminal, leaving the characters of keep as they are.
func escapeControls(s, keep string) string {
	unsafe := func(r rune) bool { return unsafeRune(r) && !strings.ContainsRune(keep, r) }
	if !strings.ContainsFunc(s, unsafe) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafe(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// unsafeRune reports whether a terminal may act on r rather than show it.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Bidi_Control, unicode.Zl, unicode.Zp)
}
