package policies

// Rule ids are stable: users suppress and search for them, and CI annotations link them.
// Never rename one; add new ones instead.
const (
	// Decoding.
	RuleYAMLSyntax      = "yaml-syntax"
	RuleUnknownField    = "unknown-field"
	RuleDuplicateKey    = "duplicate-key"
	RuleWrongType       = "wrong-type"
	RuleMissingField    = "missing-field"
	RuleInvalidQuantity = "invalid-quantity"
	RuleTooComplex      = "too-complex"
	RuleUnknownKind     = "unknown-kind"
	RuleIgnored         = "ignored-document"

	// Values.
	RuleOutOfRange      = "out-of-range"
	RuleInvalidValue    = "invalid-value"
	RuleInvalidDuration = "invalid-duration"
	RuleInvalidTimeZone = "invalid-time-zone"
)

// RuleInfo describes a rule for documentation and SARIF output.
type RuleInfo struct {
	ID          string
	Severity    Severity
	Description string
}

// Rules is the catalogue of every rule, in documentation order.
var Rules = []RuleInfo{
	{RuleYAMLSyntax, SeverityError, "The file is not valid YAML."},
	{RuleUnknownField, SeverityError, "A field that the document's kind does not have (often a typo)."},
	{RuleDuplicateKey, SeverityError, "A key set twice in one mapping; YAML would silently keep only one."},
	{RuleWrongType, SeverityError, "A value of the wrong type, e.g. a list where a mapping is expected, or an unquoted number for a string."},
	{RuleMissingField, SeverityError, "A required field is missing."},
	{RuleInvalidQuantity, SeverityError, "A quantity such as 16Gi that does not parse."},
	{RuleTooComplex, SeverityError, "A document nested too deeply or too large to be a policy."},
	{RuleUnknownKind, SeverityError, "A ballast.dev document of an unknown kind or version."},
	{RuleIgnored, SeverityInfo, "A document that is not a Ballast policy; it is ignored."},
	{RuleOutOfRange, SeverityError, "A number outside its allowed range."},
	{RuleInvalidValue, SeverityError, "A value that is not one of the allowed values or does not match the expected format."},
	{RuleInvalidDuration, SeverityError, "A duration that does not parse."},
	{RuleInvalidTimeZone, SeverityError, "A time zone that is not an IANA time zone name."},
}
