package policies

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

var reportFindings = Findings{
	{Position: Position{File: "policies/prod eu.yaml", Line: 12, Column: 5}, Field: "spec.spot.strategy", Rule: RuleInvalidValue, Severity: SeverityError,
		Message: "\"Cheap\" is not allowed: write one of CostOptimized, LeastInterrupted"},
	{Position: Position{File: "policies/rules.yaml", Line: 3, Column: 1}, Rule: RuleNarrowSpotSupply, Severity: SeverityWarning,
		Message: "100% of 2 types, a,b:c\nsecond line\r"},
	{Position: Position{File: "policies/cm.yaml", Line: 1, Column: 1}, Rule: RuleIgnored, Severity: SeverityInfo, Message: "ignored"},
	{Position: Position{File: "policies/huge.yaml"}, Rule: RuleTooComplex, Severity: SeverityError, Message: "too large"},
}

func write(t *testing.T, format string, fs Findings) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, format, fs, Rules); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestWriteText(t *testing.T) {
	got := write(t, "text", reportFindings)
	want := `policies/prod eu.yaml:12:5: error [invalid-value] spec.spot.strategy: "Cheap" is not allowed: write one of CostOptimized, LeastInterrupted
policies/rules.yaml:3:1: warning [narrow-spot-supply] 100% of 2 types, a,b:c\nsecond line\r
policies/cm.yaml:1:1: info [ignored-document] ignored
policies/huge.yaml: error [too-complex] too large
2 errors, 1 warning, 1 note in 4 files
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := write(t, "text", nil); got != "" {
		t.Errorf("no findings must print nothing (the CLI confirms), got %q", got)
	}
	if got := Summary(reportFindings[:1]); got != "1 error in 1 file" {
		t.Errorf("Summary = %q", got)
	}
}

func TestWriteJSON(t *testing.T) {
	var got struct {
		Findings []map[string]any `json:"findings"`
		Counts   map[string]int   `json:"counts"`
	}
	if err := json.Unmarshal([]byte(write(t, "json", reportFindings)), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Findings) != 4 || got.Counts["errors"] != 2 || got.Counts["warnings"] != 1 || got.Counts["infos"] != 1 || got.Counts["files"] != 4 {
		t.Errorf("unexpected report: %+v", got)
	}
	f := got.Findings[0]
	for k, want := range map[string]any{"file": "policies/prod eu.yaml", "line": 12.0, "column": 5.0, "field": "spec.spot.strategy", "rule": "invalid-value", "severity": "error"} {
		if f[k] != want {
			t.Errorf("findings[0].%s = %v, want %v", k, f[k], want)
		}
	}
	if empty := write(t, "json", nil); !strings.Contains(empty, `"findings": []`) {
		t.Errorf("no findings must be an empty array, not null: %s", empty)
	}
}

func TestWriteSARIF(t *testing.T) {
	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name           string `json:"name"`
					InformationURI string `json:"informationUri"`
					Rules          []struct {
						ID                   string            `json:"id"`
						ShortDescription     map[string]string `json:"shortDescription"`
						DefaultConfiguration map[string]string `json:"defaultConfiguration"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string            `json:"ruleId"`
				RuleIndex *int              `json:"ruleIndex"`
				Level     string            `json:"level"`
				Message   map[string]string `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation map[string]string `json:"artifactLocation"`
						Region           *struct {
							StartLine   int `json:"startLine"`
							StartColumn int `json:"startColumn"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(write(t, "sarif", reportFindings)), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || !strings.Contains(log.Schema, "sarif-2.1.0") || len(log.Runs) != 1 {
		t.Fatalf("not a SARIF 2.1.0 log: %+v", log)
	}
	run := log.Runs[0]
	d := run.Tool.Driver
	if d.Name != "ballast" || d.InformationURI == "" || len(d.Rules) != len(Rules) {
		t.Errorf("driver: %+v", d)
	}
	levels := map[string]string{}
	for _, r := range d.Rules {
		levels[r.ID] = r.DefaultConfiguration["level"]
		if r.ShortDescription["text"] == "" {
			t.Errorf("rule %s has no description", r.ID)
		}
	}
	if levels[RuleOverlappingRules] != "error" || levels[RuleSpotDisabled] != "warning" || levels[RuleIgnored] != "note" {
		t.Errorf("default levels: %v", levels)
	}
	if len(run.Results) != 4 {
		t.Fatalf("want 4 results, got %d", len(run.Results))
	}
	r0 := run.Results[0]
	loc := r0.Locations[0].PhysicalLocation
	if r0.RuleID != RuleInvalidValue || r0.Level != "error" || d.Rules[*r0.RuleIndex].ID != RuleInvalidValue ||
		!strings.HasPrefix(r0.Message["text"], "spec.spot.strategy: ") ||
		loc.ArtifactLocation["uri"] != "policies/prod%20eu.yaml" || loc.Region == nil || loc.Region.StartLine != 12 || loc.Region.StartColumn != 5 {
		t.Errorf("result 0: %+v %+v", r0, loc)
	}
	if lv := []string{run.Results[1].Level, run.Results[2].Level}; lv[0] != "warning" || lv[1] != "note" {
		t.Errorf("levels: %v", lv)
	}
	if run.Results[3].Locations[0].PhysicalLocation.Region != nil {
		t.Error("a finding without a line must have no region (startLine must be at least 1)")
	}
}

func TestArtifactURI(t *testing.T) {
	for in, want := range map[string]string{
		"policies/a.yaml":   "policies/a.yaml",
		"./policies/a.yaml": "policies/a.yaml",
		"/abs/a b.yaml":     "file:///abs/a%20b.yaml",
		"c:d/a.yaml":        "./c:d/a.yaml",
		"a#b.yaml":          "a%23b.yaml",
	} {
		if got := artifactURI(in); got != want {
			t.Errorf("artifactURI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriteGitHub(t *testing.T) {
	got := write(t, "github", Findings{
		{Position: Position{File: "p/a,b:c.yaml", Line: 3, Column: 7}, Field: "spec.x", Rule: RuleInvalidValue, Severity: SeverityError, Message: "50% off\r\nnext, line: here"},
		{Position: Position{File: "p/b.yaml", Line: 1}, Rule: RuleSpotDisabled, Severity: SeverityWarning, Message: "w"},
		{Position: Position{File: "p/c.yaml"}, Rule: RuleIgnored, Severity: SeverityInfo, Message: "i"},
	})
	want := "::error file=p/a%2Cb%3Ac.yaml,line=3,col=7,title=ballast invalid-value::spec.x: 50%25 off%0D%0Anext, line: here\n" +
		"::warning file=p/b.yaml,line=1,title=ballast spot-disabled::w\n" +
		"::notice file=p/c.yaml,title=ballast ignored-document::i\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	if err := Write(&bytes.Buffer{}, "xml", nil, Rules); err == nil || !strings.Contains(err.Error(), "text, json, sarif, github") {
		t.Errorf("want an error naming the formats, got %v", err)
	}
}

func TestEscapeTerminal(t *testing.T) {
	for in, want := range map[string]string{
		"policies/prod eu.yaml: ok, ünïcödé ✓": "policies/prod eu.yaml: ok, ünïcödé ✓",
		"a\x1b[2J\x1b[Hb":         `a\x1b[2J\x1b[Hb`,
		"title\x1b]0;owned\x07":   `title\x1b]0;owned\a`,
		"line\nfake.yaml:1: ok\r": `line\nfake.yaml:1: ok\r`,
		"back\bspace\x7f\x00":     `back\bspace\x7f\x00`,
		"c1 \u009b31m csi":        `c1 \u009b31m csi`,
		"bidi \u202egnp.yaml":     `bidi \u202egnp.yaml`,
		"sep\u2028arator":         `sep\u2028arator`,
		"bad\xff\xfe utf-8":       `bad\xff\xfe utf-8`,
		"tab\there":               `tab\there`,
		`a\x1b stays`:             `a\x1b stays`,
	} {
		if got := escapeTerminal(in); got != want {
			t.Errorf("escapeTerminal(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriteHostileNames(t *testing.T) {
	findings := Findings{{Position: Position{File: "p/\x1b[31mred\r\n::error file=x::y.yaml", Line: 1}, Rule: RuleYAMLSyntax,
		Severity: SeverityError, Message: "bad \x1b[0m\u202e value\nnext"}}
	text := write(t, "text", findings)
	if want := `p/\x1b[31mred\r\n::error file=x::y.yaml:1: error [yaml-syntax] bad \x1b[0m\u202e value\nnext` + "\n1 error in 1 file\n"; text != want {
		t.Errorf("text:\n%q\nwant:\n%q", text, want)
	}
	gh := write(t, "github", findings)
	if want := `::error file=p/\x1b[31mred%0D%0A%3A%3Aerror file=x%3A%3Ay.yaml,line=1,title=ballast yaml-syntax::bad \x1b[0m\u202e value%0Anext` + "\n"; gh != want {
		t.Errorf("github:\n%q\nwant:\n%q", gh, want)
	}
	for _, format := range []string{"json", "sarif"} {
		out := write(t, format, findings)
		if strings.ContainsFunc(out, func(r rune) bool { return r != '\n' && r < ' ' }) {
			t.Errorf("%s has control characters: %q", format, out)
		}
	}
}
