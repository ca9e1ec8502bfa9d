package policies

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/validation-rules.md from the rule catalogue")

// rulesMarkdown renders the rule catalogue as the reference page users read.
func rulesMarkdown() string {
	var b strings.Builder
	b.WriteString("# Validation rules\n\n")
	b.WriteString("Generated from `policies/rules.go` by `go test ./policies -update-docs`; do not edit.\n\n")
	b.WriteString("Every finding of `ballast validate` names one of these rules. Rule ids are stable: they\n")
	b.WriteString("never change meaning and are never reused. `examples/invalid/<rule-id>/` holds a policy\n")
	b.WriteString("that triggers each one.\n\n")
	b.WriteString("| rule | default severity | what it catches |\n|---|---|---|\n")
	for _, r := range Rules {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.ID, r.Severity, strings.ReplaceAll(r.Description, "|", "\\|"))
	}
	return b.String()
}

// TestRulesDocIsCurrent keeps the published rule reference in step with the catalogue.
func TestRulesDocIsCurrent(t *testing.T) {
	const path = "../docs/validation-rules.md"
	want := rulesMarkdown()
	if *updateDocs {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil { //nolint:gosec // documentation
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run go test ./policies -update-docs", err)
	}
	if string(got) != want {
		t.Fatalf("%s is stale: run go test ./policies -run TestRulesDocIsCurrent -update-docs", path)
	}
}
