package policies

// Rule ids are stable: users suppress and search for them, and CI annotations link them.
// Never rename one; add new ones instead.
const (
	// Reading.
	RuleUnreadableFile = "unreadable-file"

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
	RuleKarpenterObject = "karpenter-object"

	// Values.
	RuleOutOfRange      = "out-of-range"
	RuleInvalidValue    = "invalid-value"
	RuleInvalidDuration = "invalid-duration"
	RuleInvalidTimeZone = "invalid-time-zone"
	RuleTooManyItems    = "too-many-items"
	RuleExactlyOneOf    = "exactly-one-of"
	RuleIgnoredField    = "ignored-field"

	// Documents and their relations.
	RuleDuplicateCluster = "duplicate-cluster"
	RuleDuplicateName    = "duplicate-name"
	RuleUnknownCluster   = "unknown-cluster"
	RuleInvalidSelector  = "invalid-selector"
	RuleOverlappingRules = "overlapping-rules"

	// Capacity.
	RuleEmptySupply      = "empty-supply"
	RuleNarrowSpotSupply = "narrow-spot-supply"
	RuleLimitsTooSmall   = "limits-too-small"
	RuleSpotDisabled     = "spot-disabled"
	RuleZoneNotInRegion  = "zone-not-in-region"
	RuleInvalidVolume    = "invalid-block-device"
	RuleFallbackTiming   = "fallback-timing"

	// Commitments.
	RuleEmptyCommitments        = "empty-commitments"
	RuleCommitmentOutsideSupply = "commitment-outside-supply"
	RuleExpiredCommitment       = "expired-commitment"

	// Disruption and maintenance windows.
	RuleInvalidSchedule   = "invalid-schedule"
	RuleIncompleteBudget  = "incomplete-budget"
	RuleInvalidWindow     = "invalid-window"
	RuleIneffectiveWindow = "ineffective-window"

	// What the policy renders to.
	RuleKarpenterRejects = "karpenter-rejects"
	// RuleExternalNodeClass: a pool references an EC2NodeClass the policy does not render.
	RuleExternalNodeClass = "external-node-class"
)

// RuleInfo describes a rule for documentation and SARIF output.
type RuleInfo struct {
	ID          string
	Severity    Severity
	Description string
}

// Rules is the catalogue of every rule, in documentation order. Severity is the usual
// severity of the rule's findings; a few rules report a milder case as a warning.
var Rules = []RuleInfo{
	{RuleUnreadableFile, SeverityError, "A policy file (.yaml or .yml) that is not read: a FIFO, socket or device, a symbolic link that dangles, loops or leads out of the policy tree, or a file or directory that cannot be read (permission denied, a name that is not UTF-8)."},
	{RuleYAMLSyntax, SeverityError, "The file is not valid YAML."},
	{RuleUnknownField, SeverityError, "A field that the document's kind does not have (often a typo)."},
	{RuleDuplicateKey, SeverityError, "A key set twice in one mapping; YAML would silently keep only one."},
	{RuleWrongType, SeverityError, "A value of the wrong type, e.g. a list where a mapping is expected, or an unquoted number for a string."},
	{RuleMissingField, SeverityError, "A required field is missing or empty."},
	{RuleInvalidQuantity, SeverityError, "A quantity such as 16Gi that does not parse."},
	{RuleTooComplex, SeverityError, "A document nested too deeply or too large to be a policy."},
	{RuleUnknownKind, SeverityError, "A ballast.dev document of an unknown kind or version."},
	{RuleIgnored, SeverityInfo, "A document that is not a Ballast policy; it is ignored."},
	{RuleKarpenterObject, SeverityWarning, "A Karpenter NodePool or EC2NodeClass in the policy tree: it is not Ballast policy and is not applied; `ballast import` turns Karpenter objects into policy."},
	{RuleOutOfRange, SeverityError, "A number or quantity outside its allowed range."},
	{RuleInvalidValue, SeverityError, "A value that is not one of the allowed values or does not match the expected format."},
	{RuleInvalidDuration, SeverityError, "A duration that does not parse or cannot be used where it is written."},
	{RuleInvalidTimeZone, SeverityError, "A time zone that is not an IANA time zone name (a warning for abbreviations such as CET that do not follow a place's daylight-saving rules)."},
	{RuleTooManyItems, SeverityError, "A list or mapping with more entries than the API server accepts, including maintenance windows that, with the disruption budgets, compile to more than the 50 budgets a NodePool accepts in some season."},
	{RuleExactlyOneOf, SeverityError, "Two fields of which exactly one must be set, e.g. nodeClass.role and nodeClass.instanceProfile."},
	{RuleIgnoredField, SeverityWarning, "A field that has no effect where it is written."},
	{RuleDuplicateCluster, SeverityError, "More than one ClusterPolicy for the same cluster name."},
	{RuleDuplicateName, SeverityError, "Two objects, maintenance windows or block devices with the same name."},
	{RuleUnknownCluster, SeverityError, "A WorkloadDistributionRule names a cluster that has no ClusterPolicy in the repository."},
	{RuleInvalidSelector, SeverityError, "A workload label selector that is not valid (a warning when it can never match)."},
	{RuleOverlappingRules, SeverityError, "Two rules of the same namespace and specificity that can match the same workload in the same cluster."},
	{RuleEmptySupply, SeverityError, "The instance supply allows no instance type at all."},
	{RuleNarrowSpotSupply, SeverityWarning, "spotToSpotConsolidation is on but the instance supply has too few types for Karpenter to ever replace a single Spot node, or spot.interruptions.minInstanceTypes is not below the number of types, so interruption steering can never leave a reclaimed type out."},
	{RuleLimitsTooSmall, SeverityError, "The limits cannot hold even one node for the base On-Demand replicas."},
	{RuleSpotDisabled, SeverityWarning, "Spot is disabled while distributions send replicas to Spot; they will run On-Demand."},
	{RuleZoneNotInRegion, SeverityError, "An availability zone that is not in the cluster's region."},
	{RuleInvalidVolume, SeverityError, "A block device setting EBS rejects, e.g. IOPS on a gp2 volume or an io2 volume without IOPS."},
	{RuleFallbackTiming, SeverityError, "Fallback settings that cannot work as meant: a reverse interval shorter than the fallback delay, so returns to Spot are tried faster than a shortage is confirmed (a warning for a fallback delay under 30s, shorter than Karpenter needs to try other Spot offerings)."},
	{RuleEmptyCommitments, SeverityError, "Commitments come from Git but none are listed."},
	{RuleCommitmentOutsideSupply, SeverityWarning, "A Reserved Instance or Savings Plan for instance types the supply excludes."},
	{RuleExpiredCommitment, SeverityWarning, "A Reserved Instance or Savings Plan that has expired."},
	{RuleInvalidSchedule, SeverityError, "A disruption budget schedule that is not a 5-field cron expression or @daily-style macro."},
	{RuleIncompleteBudget, SeverityError, "A disruption budget with a schedule but no duration, or a duration but no schedule."},
	{RuleInvalidWindow, SeverityError, "A maintenance window that is empty (end equals start)."},
	{RuleIneffectiveWindow, SeverityWarning, "A maintenance window that allows an operation that is turned off."},
	{RuleExternalNodeClass, SeverityWarning, "A node pool's nodeClassRef names an EC2NodeClass that is neither in spec.nodeClasses nor the default node class: it must exist in the cluster, kept outside Ballast."},
	{RuleKarpenterRejects, SeverityError, "A NodePool or EC2NodeClass the policy renders to breaks a rule of Karpenter's own CRDs (an OpenAPI constraint or a CEL rule, evaluated offline from the CRDs of the Karpenter version Ballast is built with), so the API server would refuse it. Reported by `ballast validate` and `ballast render` at the policy field the rendered field comes from."},
}
