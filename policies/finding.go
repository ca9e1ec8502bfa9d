package policies

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Severity says how much a finding matters.
type Severity string

const (
	// SeverityError findings make the policy unusable: nothing is rendered or applied.
	SeverityError Severity = "error"
	// SeverityWarning findings are probably mistakes; the policy still renders.
	SeverityWarning Severity = "warning"
	// SeverityInfo findings are notes, such as documents that are not Ballast's.
	SeverityInfo Severity = "info"
)

// Position is a place in a policy file; Line and Column are 1-based (0 when unknown).
type Position struct {
	File   string `json:"file"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

// String formats the position the way editors and CI systems link it: file:line:column.
func (p Position) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Column == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
	}
}

// Finding is one problem in a policy tree.
type Finding struct {
	Position
	// Field is the path of the field, e.g. spec.distribution.onDemandPercent.
	Field string `json:"field,omitempty"`
	// Rule is the stable id of the rule that found it (see Rules).
	Rule string `json:"rule"`
	// Severity of the finding.
	Severity Severity `json:"severity"`
	// Message says what is wrong and how to fix it.
	Message string `json:"message"`
}

// String formats the finding as one line: position, severity, rule, field and message.
func (f Finding) String() string {
	field := ""
	if f.Field != "" {
		field = f.Field + ": "
	}
	return fmt.Sprintf("%s: %s [%s] %s%s", f.Position, f.Severity, f.Rule, field, f.Message)
}

// Status converts the finding into the form kept in object status.
func (f Finding) Status() v1alpha1.PolicyFinding {
	return v1alpha1.PolicyFinding{
		File: f.File, Line: int32(f.Line), Column: int32(f.Column), //nolint:gosec // line numbers fit
		Field: f.Field, Rule: f.Rule, Severity: string(f.Severity), Message: f.Message,
	}
}

// Findings is a list of findings.
type Findings []Finding

// HasErrors reports whether any finding is an error.
func (fs Findings) HasErrors() bool {
	return slices.ContainsFunc(fs, func(f Finding) bool { return f.Severity == SeverityError })
}

// Count returns how many findings have the severity.
func (fs Findings) Count(s Severity) int {
	n := 0
	for _, f := range fs {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Sort orders findings by file, line, column, rule and message, so output is stable.
func (fs Findings) Sort() {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(a.Field, b.Field),
			cmp.Compare(a.Message, b.Message),
		)
	})
}
