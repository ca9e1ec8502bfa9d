package v1alpha1

import "k8s.io/utils/ptr"

// Default values of a ClusterPolicy, in one place so that documentation, validation
// and rendering agree.
const (
	DefaultAMI                 = "al2023@latest"
	DefaultOnDemandPercent     = int32(0)
	DefaultBaseOnDemand        = int32(1)
	DefaultSelector            = SpotReady
	DefaultStrategy            = CostOptimized
	DefaultFallbackAfter       = Duration("3m")
	DefaultReverseInterval     = Duration("30m")
	DefaultExcludeFor          = Duration("30m")
	DefaultMinInstanceTypes    = int32(5)
	DefaultConsolidationPolicy = ConsolidationPolicy("WhenEmptyOrUnderutilized")
	DefaultConsolidateAfter    = Duration("1m")
	DefaultExpireAfter         = "720h"
	DefaultDisruptionNodes     = "10%"
	DefaultArchitecture        = "amd64"
	DefaultVolumeType          = "gp3"
	DefaultHTTPTokens          = "required"
	DefaultHopLimit            = int64(1)
	DefaultMaxEvictions        = int32(5)
	DefaultCommitmentSource    = CommitmentsFromAWS
	DefaultMaxUtilization      = int32(100)
	DefaultWindowTimeZone      = "UTC"
	// DiscoveryTagKey is the tag Karpenter's subnet and security-group discovery uses.
	DiscoveryTagKey = "karpenter.sh/discovery"
)

// Default fills every unset field of the policy with its documented default.
// It is idempotent.
func (p *ClusterPolicy) Default() {
	s := &p.Spec
	if s.Cluster.DiscoveryTag == "" {
		s.Cluster.DiscoveryTag = s.Cluster.Name
	}
	nc := &s.NodeClass
	if nc.AMI == "" {
		nc.AMI = DefaultAMI
	}
	discovery := []SelectorTerm{{Tags: map[string]string{DiscoveryTagKey: s.Cluster.DiscoveryTag}}}
	if len(nc.SubnetSelector) == 0 {
		nc.SubnetSelector = discovery
	}
	if len(nc.SecurityGroupSelector) == 0 {
		nc.SecurityGroupSelector = []SelectorTerm{{Tags: map[string]string{DiscoveryTagKey: s.Cluster.DiscoveryTag}}}
	}
	for i := range nc.BlockDevices {
		bd := &nc.BlockDevices[i]
		if bd.VolumeType == "" {
			bd.VolumeType = DefaultVolumeType
		}
		if bd.Encrypted == nil {
			bd.Encrypted = ptr.To(true)
		}
	}
	if nc.MetadataOptions == nil {
		nc.MetadataOptions = &MetadataOptions{}
	}
	if nc.MetadataOptions.HTTPTokens == "" {
		nc.MetadataOptions.HTTPTokens = DefaultHTTPTokens
	}
	if nc.MetadataOptions.HTTPPutResponseHopLimit == nil {
		nc.MetadataOptions.HTTPPutResponseHopLimit = ptr.To(DefaultHopLimit)
	}
	if len(s.Instances.Architectures) == 0 {
		s.Instances.Architectures = []string{DefaultArchitecture}
	}
	if s.Spot.Enabled == nil {
		s.Spot.Enabled = ptr.To(true)
	}
	if s.Spot.Strategy == "" {
		s.Spot.Strategy = DefaultStrategy
	}
	if s.Spot.Fallback.After == "" {
		s.Spot.Fallback.After = DefaultFallbackAfter
	}
	if s.Spot.Fallback.ReverseInterval == "" {
		s.Spot.Fallback.ReverseInterval = DefaultReverseInterval
	}
	if s.Spot.Interruptions.ExcludeFor == "" {
		s.Spot.Interruptions.ExcludeFor = DefaultExcludeFor
	}
	if s.Spot.Interruptions.MinInstanceTypes == nil {
		s.Spot.Interruptions.MinInstanceTypes = ptr.To(DefaultMinInstanceTypes)
	}
	d := &s.Distribution
	if d.OnDemandPercent == nil {
		d.OnDemandPercent = ptr.To(DefaultOnDemandPercent)
	}
	if d.BaseOnDemand == nil {
		d.BaseOnDemand = ptr.To(DefaultBaseOnDemand)
	}
	if d.Selector == "" {
		d.Selector = DefaultSelector
	}
	if c := s.Commitments; c != nil {
		if c.Source == "" {
			c.Source = DefaultCommitmentSource
		}
		if c.MaxUtilizationPercent == nil {
			c.MaxUtilizationPercent = ptr.To(DefaultMaxUtilization)
		}
	}
	b := &s.BinPacking
	if b.ConsolidationPolicy == "" {
		b.ConsolidationPolicy = DefaultConsolidationPolicy
	}
	if b.ConsolidateAfter == "" {
		b.ConsolidateAfter = DefaultConsolidateAfter
	}
	if b.ExpireAfter == "" {
		b.ExpireAfter = DefaultExpireAfter
	}
	if len(b.DisruptionBudgets) == 0 {
		b.DisruptionBudgets = []DisruptionBudget{{Nodes: DefaultDisruptionNodes}}
	}
	if pe := b.PodEviction; pe != nil && pe.MaxEvictionsPerPass == nil {
		pe.MaxEvictionsPerPass = ptr.To(DefaultMaxEvictions)
	}
	for i := range s.MaintenanceWindows {
		if s.MaintenanceWindows[i].TimeZone == "" {
			s.MaintenanceWindows[i].TimeZone = DefaultWindowTimeZone
		}
	}
}

// Default fills the rule's unset distribution fields from the cluster policy it is
// rendered for, so that the runtime reads one complete rule. The policy must already
// be defaulted.
func (r *WorkloadDistributionRule) Default(cluster *ClusterPolicy) {
	s := &r.Spec
	cd := cluster.Spec.Distribution
	if s.OnDemandPercent == nil {
		s.OnDemandPercent = ptr.To(ptr.Deref(cd.OnDemandPercent, DefaultOnDemandPercent))
	}
	if s.BaseOnDemand == nil {
		s.BaseOnDemand = ptr.To(ptr.Deref(cd.BaseOnDemand, DefaultBaseOnDemand))
	}
	if s.Selector == "" {
		s.Selector = cd.Selector
	}
	if s.Strategy == "" {
		s.Strategy = cluster.Spec.Spot.Strategy
	}
}
