package v1alpha1

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations Ballast reads and writes.
const (
	// SourceLabel names the PolicySource (or "local" for the CLI) an object was rendered from.
	SourceLabel = "ballast.dev/source"
	// SourceNamespaceLabel is the namespace of that PolicySource: a PolicySource owns
	// what carries its name and its namespace. Objects rendered by the CLI have none.
	SourceNamespaceLabel = "ballast.dev/source-namespace"
	// ClusterLabel names the cluster an object was rendered for.
	ClusterLabel = "ballast.dev/cluster"
	// CapacityLabel is set on nodes and pods: "spot" or "on-demand".
	CapacityLabel = "ballast.dev/capacity"
	// CapacityTaintKey taints Spot nodes so that only pods Ballast placed there land on them.
	CapacityTaintKey = "ballast.dev/capacity"

	// DistributionLabel on a namespace opts it in to distribution: with the value
	// DistributionEnabled, Ballast places the pods of its workloads on Spot or
	// On-Demand, tolerates its Spot taint for its DaemonSets, and corrects drift.
	// Namespaces without it are never touched.
	DistributionLabel = "ballast.dev/distribution"
	// DistributionEnabled is the value of DistributionLabel that opts a namespace in.
	DistributionEnabled = "enabled"

	// OnDemandPercentAnnotation on a workload overrides every rule's onDemandPercent.
	OnDemandPercentAnnotation = "ballast.dev/on-demand-percent"
	// BaseOnDemandAnnotation on a workload overrides every rule's baseOnDemand.
	BaseOnDemandAnnotation = "ballast.dev/base-on-demand"
	// SpotAnnotation set to "never" on a workload keeps it off Spot entirely.
	SpotAnnotation = "ballast.dev/spot"
	// WindowsValidUntilAnnotation on a rendered NodePool says when the UTC budgets
	// compiled from time-zoned maintenance windows must be rendered again (the next
	// daylight-saving change of any window's time zone).
	WindowsValidUntilAnnotation = "ballast.dev/windows-valid-until"
	// NodePoolLabel on a rendered NodePool or EC2NodeClass names the entry of
	// spec.nodePools or spec.nodeClasses it was rendered from; the default supply's
	// objects have none.
	NodePoolLabel = "ballast.dev/node-pool"
	// SplitLabel set to "true" on a NodePool of spec.nodePools says that the split
	// applies to the pods that can land on it (spec.nodePools[].split).
	SplitLabel = "ballast.dev/split"
)

// CapacityType values, the same strings Karpenter uses for karpenter.sh/capacity-type.
const (
	CapacitySpot     = "spot"
	CapacityOnDemand = "on-demand"
)

// Strategy chooses how Spot capacity is bought and how Spot replicas are placed.
// +kubebuilder:validation:Enum=CostOptimized;LeastInterrupted
type Strategy string

const (
	// CostOptimized buys the cheapest Spot pools and packs Spot replicas on few nodes.
	CostOptimized Strategy = "CostOptimized"
	// LeastInterrupted buys the pools least likely to be interrupted and spreads Spot
	// replicas one per node.
	LeastInterrupted Strategy = "LeastInterrupted"
)

// SpotSelector chooses which workloads may run on Spot at all.
// +kubebuilder:validation:Enum=SpotReady;All
type SpotSelector string

const (
	// SpotReady sends only workloads with more than one replica to Spot; single
	// replicas stay On-Demand.
	SpotReady SpotSelector = "SpotReady"
	// All lets every matched workload use Spot.
	All SpotSelector = "All"
)

// Duration is a length of time written as a sequence of decimal numbers with a unit:
// s, m, h or d (24 hours), e.g. "90s", "5m", "1h30m", "7d".
// +kubebuilder:validation:Pattern=`^([0-9]+(s|m|h|d))+$`
type Duration string

// maxDuration is the longest time.Duration.
const maxDuration = time.Duration(1<<63 - 1)

var durationPattern = regexp.MustCompile(`^([0-9]+(s|m|h|d))+$`)
var durationPart = regexp.MustCompile(`([0-9]+)(s|m|h|d)`)

// Parse returns the length of d, or an error that says what a valid duration looks like.
func (d Duration) Parse() (time.Duration, error) {
	s := string(d)
	if !durationPattern.MatchString(s) {
		return 0, fmt.Errorf("%q is not a duration: write a number and a unit (s, m, h or d), e.g. 30s, 5m, 1h30m, 7d", s)
	}
	var total time.Duration
	for _, m := range durationPart.FindAllStringSubmatch(s, -1) {
		n, err := strconv.ParseInt(m[1], 10, 64)
		unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
		// time.Duration counts nanoseconds in an int64: about 292 years at most.
		if err != nil || n > 1<<31 || n > int64(maxDuration/unit) || total > maxDuration-time.Duration(n)*unit {
			return 0, fmt.Errorf("%q is too long a duration: write at most %dd", s, maxDuration/(24*time.Hour))
		}
		total += time.Duration(n) * unit
	}
	return total, nil
}

// DistributionSpec splits a workload's replicas between On-Demand and Spot: the first
// BaseOnDemand replicas run On-Demand, and OnDemandPercent of the rest.
type DistributionSpec struct {
	// OnDemandPercent is the share (0-100) of the replicas above the base that run
	// On-Demand; the rest run on Spot.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	OnDemandPercent *int32 `json:"onDemandPercent,omitempty"`

	// BaseOnDemand is how many replicas of every workload run On-Demand before the
	// percentage applies.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	// +optional
	BaseOnDemand *int32 `json:"baseOnDemand,omitempty"`

	// Selector chooses which workloads may use Spot: SpotReady (more than one replica)
	// or All.
	// +optional
	Selector SpotSelector `json:"selector,omitempty"`
}

// PolicyFinding is one validation finding, as reported in an object's status.
type PolicyFinding struct {
	// File is the path of the policy file, relative to the policy root.
	File string `json:"file"`
	// Line is the 1-based line of the finding.
	// +optional
	Line int32 `json:"line,omitempty"`
	// Column is the 1-based column of the finding.
	// +optional
	Column int32 `json:"column,omitempty"`
	// Field is the path of the field, e.g. spec.distribution.onDemandPercent.
	// +optional
	Field string `json:"field,omitempty"`
	// Rule is the stable id of the validation rule.
	Rule string `json:"rule"`
	// Severity is error, warning or info.
	Severity string `json:"severity"`
	// Message says what is wrong and how to fix it.
	Message string `json:"message"`
}

// PlacementCounts is a number of replicas per capacity class.
type PlacementCounts struct {
	// OnDemand replicas.
	OnDemand int32 `json:"onDemand"`
	// Spot replicas.
	Spot int32 `json:"spot"`
	// Fallback is how many of the OnDemand replicas are meant for Spot and run
	// On-Demand because Spot capacity was short (they count as Spot in the split).
	// +optional
	Fallback int32 `json:"fallback,omitempty"`
}

// WorkloadPlacement is the Spot / On-Demand split of one workload as the distributor
// last saw it.
type WorkloadPlacement struct {
	// Kind is Deployment, StatefulSet or ReplicaSet.
	Kind string `json:"kind"`
	// Namespace of the workload.
	Namespace string `json:"namespace"`
	// Name of the workload.
	Name string `json:"name"`
	// Replicas the workload asks for.
	Replicas int32 `json:"replicas"`
	// Desired split under the effective rule.
	Desired PlacementCounts `json:"desired"`
	// Observed split of its current pods.
	Observed PlacementCounts `json:"observed"`
	// Reasons counts its current pods by the reason the distributor placed them for
	// (base, split, fallback, override, ...); pods placed without Ballast count as "none".
	// +optional
	Reasons map[string]int32 `json:"reasons,omitempty"`
	// Message says what the distributor is doing about a difference, or what blocks it.
	// +optional
	Message string `json:"message,omitempty"`
	// LastUpdateTime is when the entry last changed.
	// +optional
	LastUpdateTime *metav1.Time `json:"lastUpdateTime,omitempty"`
}
