package v1alpha1

import (
	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
)

// ClusterPolicySpec is the orchestration policy of one cluster.
type ClusterPolicySpec struct {
	// Cluster names the cluster and where it runs.
	Cluster ClusterIdentity `json:"cluster"`

	// NodeClass is the EC2 launch configuration of every node Ballast provisions.
	NodeClass NodeClassSpec `json:"nodeClass"`

	// Instances is the node supply: which EC2 instance types nodes may be.
	// +optional
	Instances InstancesSpec `json:"instances,omitempty"`

	// Limits caps how far the cluster may grow.
	// +optional
	Limits *LimitsSpec `json:"limits,omitempty"`

	// Spot configures Spot capacity, its strategy and fallback to On-Demand.
	// +optional
	Spot SpotSpec `json:"spot,omitempty"`

	// Distribution is the cluster's default Spot / On-Demand split.
	// +optional
	Distribution DistributionSpec `json:"distribution,omitempty"`

	// Commitments lets On-Demand capacity fill unused Reserved Instances and Savings
	// Plans first.
	// +optional
	Commitments *CommitmentsSpec `json:"commitments,omitempty"`

	// BinPacking configures consolidation, node expiry, disruption budgets and Ballast's
	// own utilisation-based pod eviction.
	// +optional
	BinPacking BinPackingSpec `json:"binPacking,omitempty"`

	// MaintenanceWindows are the times, in a time zone each, when disruptive
	// operations are allowed. Without a window that allows an operation, it is allowed
	// at any time.
	// +kubebuilder:validation:MaxItems=50
	// +optional
	MaintenanceWindows []MaintenanceWindow `json:"maintenanceWindows,omitempty"`

	// NodePools are node pools beside the cluster's default supply (the Spot and
	// On-Demand NodePools the fields above describe): a GPU pool, a pool per team, a
	// Windows or arm64 pool. Each is rendered as one Karpenter NodePool, exactly as
	// written. See docs/policy.md, "Node pools".
	// +kubebuilder:validation:MaxItems=100
	// +optional
	NodePools []NodePool `json:"nodePools,omitempty"`

	// NodeClasses are EC2NodeClasses the node pools reference by name, each rendered as
	// written.
	// +kubebuilder:validation:MaxItems=50
	// +optional
	NodeClasses []NodeClass `json:"nodeClasses,omitempty"`
}

// NodePool is one Karpenter NodePool of the cluster, with Ballast's layer beside
// Karpenter's own spec.
type NodePool struct {
	// Name is the NodePool's name, exactly (`ballast import --adopt` keeps the name of
	// the pool it adopts). It must not be one of the names of the default supply.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Split says whether Ballast's Spot / On-Demand split applies to the pods that can
	// land on this pool. When false (the default) the webhook leaves those pods alone,
	// as Karpenter alone would treat them. When true, the pool is one of Ballast's: the
	// pods are split between the capacity types its requirements offer, and a pod gets
	// the one it offers when it offers only one.
	// +optional
	Split bool `json:"split,omitempty"`

	// Commitments says whether this pool's pods fill the cluster's unused Reserved
	// Instances first (spec.commitments, which must be enabled): the commitments
	// controller keeps the NodePool <name>-committed, this pool's template narrowed to
	// On-Demand and the reserved instance types the pool allows, weighted just above
	// it and limited to the unused instances. Pools take the reservations in the order
	// they are listed, before the default supply; the rest of Savings Plans is filled
	// through the default supply.
	// +optional
	Commitments bool `json:"commitments,omitempty"`

	// MaintenanceWindows are the times, in a time zone each, when this pool's nodes may
	// be disrupted; rendered as disruption budgets beside those of spec.disruption.
	// +kubebuilder:validation:MaxItems=50
	// +optional
	MaintenanceWindows []MaintenanceWindow `json:"maintenanceWindows,omitempty"`

	// Spec is the NodePool's spec as Karpenter defines it (sigs.k8s.io/karpenter
	// v1 NodePoolSpec): template (labels, annotations, requirements with minValues,
	// taints, startupTaints, expireAfter, terminationGracePeriod, nodeClassRef),
	// disruption, limits and weight. A nodeClassRef of kind EC2NodeClass names an
	// entry of spec.nodeClasses, the default node class, or an EC2NodeClass kept
	// outside Ballast. Karpenter's own schema and rules are checked by `ballast
	// validate`, offline, from Karpenter's CRDs.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	Spec karpv1.NodePoolSpec `json:"spec"`
}

// NodeClass is one EC2NodeClass of the cluster.
type NodeClass struct {
	// Name is the EC2NodeClass's name, exactly. It must not be the default node
	// class's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Spec is the EC2NodeClass's spec as Karpenter's AWS provider defines it
	// (github.com/aws/karpenter-provider-aws v1 EC2NodeClassSpec): AMI selection by
	// alias, id, name or tags, role or instance profile, subnet and security-group
	// selection, kubelet, userData, block devices, instance-store policy, metadata
	// options, tags.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	Spec awsv1.EC2NodeClassSpec `json:"spec"`
}

// ClusterIdentity names a cluster.
type ClusterIdentity struct {
	// Name is the cluster's name; rendered objects are called ballast-<name>-*.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=40
	Name string `json:"name"`

	// Region is the AWS region, e.g. eu-west-1.
	// +kubebuilder:validation:Pattern=`^[a-z]{2}(-[a-z]+)+-[0-9]+$`
	Region string `json:"region"`

	// DiscoveryTag is the value of the karpenter.sh/discovery tag on the cluster's
	// subnets and security groups. Defaults to the cluster name.
	// +optional
	DiscoveryTag string `json:"discoveryTag,omitempty"`
}

// NodeClassSpec is the EC2 launch configuration of Ballast's nodes.
// +kubebuilder:validation:XValidation:rule="has(self.role) != has(self.instanceProfile)",message="set exactly one of role and instanceProfile"
type NodeClassSpec struct {
	// Role is the IAM role of the nodes (Karpenter creates the instance profile).
	// +optional
	Role string `json:"role,omitempty"`

	// InstanceProfile is an existing IAM instance profile for the nodes.
	// +optional
	InstanceProfile string `json:"instanceProfile,omitempty"`

	// AMI is an AMI alias such as al2023@latest or bottlerocket@v1.20.0.
	// Defaults to al2023@latest.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]+@(latest|v?[0-9a-zA-Z.\-]+)$`
	// +optional
	AMI string `json:"ami,omitempty"`

	// SubnetSelector finds the subnets nodes launch in. Defaults to the subnets tagged
	// karpenter.sh/discovery=<discoveryTag>.
	// +kubebuilder:validation:MaxItems=30
	// +optional
	SubnetSelector []SelectorTerm `json:"subnetSelector,omitempty"`

	// SecurityGroupSelector finds the nodes' security groups. Defaults to the security
	// groups tagged karpenter.sh/discovery=<discoveryTag>.
	// +kubebuilder:validation:MaxItems=30
	// +optional
	SecurityGroupSelector []SelectorTerm `json:"securityGroupSelector,omitempty"`

	// Tags are added to every instance, volume and launch template.
	// +kubebuilder:validation:MaxProperties=40
	// +optional
	Tags map[string]string `json:"tags,omitempty"`

	// BlockDevices are the nodes' EBS volumes.
	// +kubebuilder:validation:MaxItems=10
	// +optional
	BlockDevices []BlockDevice `json:"blockDevices,omitempty"`

	// MetadataOptions configure the instance metadata service.
	// +optional
	MetadataOptions *MetadataOptions `json:"metadataOptions,omitempty"`
}

// SelectorTerm selects AWS resources by tags or by id.
// +kubebuilder:validation:XValidation:rule="has(self.tags) != has(self.id)",message="set exactly one of tags and id"
type SelectorTerm struct {
	// Tags the resource must carry; "*" as a value matches any value.
	// +kubebuilder:validation:MaxProperties=20
	// +optional
	Tags map[string]string `json:"tags,omitempty"`
	// ID is the resource id, e.g. subnet-0123 or sg-0123.
	// +optional
	ID string `json:"id,omitempty"`
}

// BlockDevice is one EBS volume.
type BlockDevice struct {
	// DeviceName is the device, e.g. /dev/xvda.
	DeviceName string `json:"deviceName"`
	// VolumeSize is the size of the volume, e.g. 100Gi.
	VolumeSize resource.Quantity `json:"volumeSize"`
	// VolumeType is the EBS volume type. Defaults to gp3.
	// +kubebuilder:validation:Enum=standard;io1;io2;gp2;sc1;st1;gp3
	// +optional
	VolumeType string `json:"volumeType,omitempty"`
	// IOPS of the volume (io1, io2, gp3).
	// +kubebuilder:validation:Minimum=100
	// +optional
	IOPS *int64 `json:"iops,omitempty"`
	// Throughput of a gp3 volume in MiB/s.
	// +kubebuilder:validation:Minimum=125
	// +optional
	Throughput *int64 `json:"throughput,omitempty"`
	// Encrypted volumes; defaults to true.
	// +optional
	Encrypted *bool `json:"encrypted,omitempty"`
	// KMSKeyID encrypts the volume with this key.
	// +optional
	KMSKeyID string `json:"kmsKeyID,omitempty"`
}

// MetadataOptions configure the instance metadata service of the nodes.
type MetadataOptions struct {
	// HTTPTokens is "required" (IMDSv2 only, the default) or "optional".
	// +kubebuilder:validation:Enum=required;optional
	// +optional
	HTTPTokens string `json:"httpTokens,omitempty"`
	// HTTPPutResponseHopLimit is the hop limit of metadata responses; defaults to 1
	// so pods cannot reach the node's credentials.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	// +optional
	HTTPPutResponseHopLimit *int64 `json:"httpPutResponseHopLimit,omitempty"`
}

// InstancesSpec describes the EC2 instance types nodes may be.
type InstancesSpec struct {
	// Categories are instance categories such as c, m, r, t.
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Categories []string `json:"categories,omitempty"`
	// Families are instance families such as m6i or c7g.
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Families []string `json:"families,omitempty"`
	// MinGeneration is the oldest instance generation allowed, e.g. 5.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=20
	// +optional
	MinGeneration *int32 `json:"minGeneration,omitempty"`
	// Architectures are amd64 and/or arm64. Defaults to amd64.
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:Enum=amd64;arm64
	// +optional
	Architectures []string `json:"architectures,omitempty"`
	// CPU bounds the vCPUs of an instance.
	// +optional
	CPU *IntRange `json:"cpu,omitempty"`
	// Memory bounds the memory of an instance.
	// +optional
	Memory *QuantityRange `json:"memory,omitempty"`
	// Zones are the availability zones nodes may launch in.
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Zones []string `json:"zones,omitempty"`
	// Include, when set, lists the only instance types allowed.
	// +kubebuilder:validation:MaxItems=500
	// +optional
	Include []string `json:"include,omitempty"`
	// Exclude lists instance types never used.
	// +kubebuilder:validation:MaxItems=500
	// +optional
	Exclude []string `json:"exclude,omitempty"`
}

// IntRange is an inclusive range of integers; either end may be left open.
// +kubebuilder:validation:XValidation:rule="!has(self.min) || !has(self.max) || self.min <= self.max",message="min must not be greater than max"
type IntRange struct {
	// +kubebuilder:validation:Minimum=0
	// +optional
	Min *int32 `json:"min,omitempty"`
	// +kubebuilder:validation:Minimum=0
	// +optional
	Max *int32 `json:"max,omitempty"`
}

// QuantityRange is an inclusive range of quantities; either end may be left open.
// +kubebuilder:validation:XValidation:rule="!has(self.min) || !has(self.max) || quantity(string(self.min)).compareTo(quantity(string(self.max))) <= 0",message="min must not be greater than max"
type QuantityRange struct {
	// +optional
	Min *resource.Quantity `json:"min,omitempty"`
	// +optional
	Max *resource.Quantity `json:"max,omitempty"`
}

// LimitsSpec caps the total size of the nodes Ballast provisions for the cluster,
// across all of its NodePools: the controller keeps the NodePools' own limits adding
// up to it (any one pool may use all of it when the others do not).
type LimitsSpec struct {
	// CPU is the total vCPUs.
	// +optional
	CPU *resource.Quantity `json:"cpu,omitempty"`
	// Memory is the total memory.
	// +optional
	Memory *resource.Quantity `json:"memory,omitempty"`
	// Nodes is the total number of nodes.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Nodes *int32 `json:"nodes,omitempty"`
}

// SpotSpec configures Spot capacity.
type SpotSpec struct {
	// Enabled lets Ballast use Spot capacity. Defaults to true.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// Strategy is CostOptimized (the default) or LeastInterrupted.
	// +optional
	Strategy Strategy `json:"strategy,omitempty"`
	// Fallback moves Spot replicas to On-Demand when Spot capacity runs out, and back.
	// +optional
	Fallback FallbackSpec `json:"fallback,omitempty"`
	// Interruptions steers new Spot capacity away from the pools (instance types) that
	// are being reclaimed.
	// +optional
	Interruptions InterruptionsSpec `json:"interruptions,omitempty"`
}

// InterruptionsSpec configures how Ballast steers Spot capacity away from pools being
// reclaimed: an instance type that gets a Spot interruption warning or a rebalance
// recommendation is left out of the Spot NodePool's requirements for a while, so
// that the capacity Karpenter launches to replace it is of other types.
type InterruptionsSpec struct {
	// ExcludeFor is how long an instance type stays out of the Spot NodePool after its
	// last interruption warning or rebalance recommendation. "0s" turns steering off
	// (the history is still kept). Defaults to 30m.
	// +optional
	ExcludeFor Duration `json:"excludeFor,omitempty"`
	// MinInstanceTypes is the fewest instance types the Spot NodePool keeps offering:
	// an exclusion that would leave fewer is not made (running out of Spot is
	// fallback's job). At least 15, Karpenter's minimum for Spot-to-Spot
	// consolidation, when binPacking.spotToSpotConsolidation is on. Defaults to 5.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=500
	// +optional
	MinInstanceTypes *int32 `json:"minInstanceTypes,omitempty"`
}

// FallbackSpec configures fallback to On-Demand and the return to Spot.
type FallbackSpec struct {
	// After is how long Spot may stay unavailable before pods fall back to On-Demand.
	// Defaults to 3m.
	// +optional
	After Duration `json:"after,omitempty"`
	// ReverseInterval is how often Ballast tries to return fallback replicas to Spot.
	// Defaults to 30m.
	// +optional
	ReverseInterval Duration `json:"reverseInterval,omitempty"`
}

// CommitmentSource says where Ballast learns about Reserved Instances and Savings Plans.
// +kubebuilder:validation:Enum=Discover;Git
type CommitmentSource string

const (
	// CommitmentsFromAWS discovers commitments through the AWS API.
	CommitmentsFromAWS CommitmentSource = "Discover"
	// CommitmentsFromGit uses the commitments listed in the policy.
	CommitmentsFromGit CommitmentSource = "Git"
)

// CommitmentsSpec configures commitment-first provisioning.
// +kubebuilder:validation:XValidation:rule="!has(self.enabled) || !self.enabled || !has(self.maxUtilizationPercent) || self.maxUtilizationPercent > 0",message="maxUtilizationPercent must be above 0 when commitments are enabled"
// +kubebuilder:validation:XValidation:rule="!has(self.source) || self.source != 'Git' || (has(self.reservedInstances) && size(self.reservedInstances) > 0) || (has(self.savingsPlans) && size(self.savingsPlans) > 0)",message="source Git needs reservedInstances or savingsPlans"
type CommitmentsSpec struct {
	// Enabled turns commitment-first provisioning on.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// Source is Discover (the AWS API, the default) or Git (the lists below).
	// +optional
	Source CommitmentSource `json:"source,omitempty"`
	// MaxUtilizationPercent is how much of the commitments Ballast may fill. Defaults to 100.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxUtilizationPercent *int32 `json:"maxUtilizationPercent,omitempty"`
	// ReservedInstances lists Reserved Instances when Source is Git.
	// +kubebuilder:validation:MaxItems=200
	// +optional
	ReservedInstances []ReservedInstance `json:"reservedInstances,omitempty"`
	// SavingsPlans lists Savings Plans when Source is Git.
	// +kubebuilder:validation:MaxItems=50
	// +optional
	SavingsPlans []SavingsPlan `json:"savingsPlans,omitempty"`
}

// ReservedInstance is a block of Reserved Instances of one type.
type ReservedInstance struct {
	// InstanceType, e.g. m6i.xlarge.
	// +kubebuilder:validation:Pattern=`^[a-z0-9-]+\.[a-z0-9-]+$`
	InstanceType string `json:"instanceType"`
	// Count of instances reserved.
	// +kubebuilder:validation:Minimum=1
	Count int32 `json:"count"`
	// Zone, for a zonal reservation.
	// +optional
	Zone string `json:"zone,omitempty"`
	// Expires is the date the reservation ends (YYYY-MM-DD).
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`
	// +optional
	Expires string `json:"expires,omitempty"`
}

// SavingsPlanType is Compute or EC2Instance.
// +kubebuilder:validation:Enum=Compute;EC2Instance
type SavingsPlanType string

// SavingsPlan is one Savings Plan.
// +kubebuilder:validation:XValidation:rule="self.type != 'EC2Instance' || has(self.family)",message="an EC2Instance savings plan needs a family"
type SavingsPlan struct {
	// Type is Compute or EC2Instance.
	Type SavingsPlanType `json:"type"`
	// Family is the instance family an EC2Instance plan covers, e.g. m6i.
	// +optional
	Family string `json:"family,omitempty"`
	// CommitmentPerHour is the hourly commitment in US dollars, e.g. "12.50".
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?$`
	CommitmentPerHour string `json:"commitmentPerHour"`
	// Expires is the date the plan ends (YYYY-MM-DD).
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`
	// +optional
	Expires string `json:"expires,omitempty"`
}

// ConsolidationPolicy is Karpenter's consolidation policy.
// +kubebuilder:validation:Enum=WhenEmpty;WhenEmptyOrUnderutilized
type ConsolidationPolicy string

// BinPackingSpec configures how nodes are packed and replaced.
type BinPackingSpec struct {
	// ConsolidationPolicy is WhenEmptyOrUnderutilized (the default) or WhenEmpty.
	// +optional
	ConsolidationPolicy ConsolidationPolicy `json:"consolidationPolicy,omitempty"`
	// ConsolidateAfter is how long a node must be consolidatable before Karpenter acts.
	// Defaults to 1m.
	// +optional
	ConsolidateAfter Duration `json:"consolidateAfter,omitempty"`
	// SpotToSpotConsolidation replaces Spot nodes with cheaper Spot nodes; it needs
	// Karpenter's SpotToSpotConsolidation feature gate and a wide Spot supply.
	// +optional
	SpotToSpotConsolidation bool `json:"spotToSpotConsolidation,omitempty"`
	// ExpireAfter is the node lifetime, or "Never". Defaults to 720h (30 days).
	// +kubebuilder:validation:Pattern=`^(Never|([0-9]+(s|m|h|d))+)$`
	// +optional
	ExpireAfter string `json:"expireAfter,omitempty"`
	// DisruptionBudgets limit how many nodes Karpenter may disrupt at once. Defaults to
	// one budget of 10% of the nodes.
	// +kubebuilder:validation:MaxItems=20
	// +optional
	DisruptionBudgets []DisruptionBudget `json:"disruptionBudgets,omitempty"`
	// PodEviction is Ballast's own eviction of pods from underused nodes.
	// +optional
	PodEviction *PodEvictionSpec `json:"podEviction,omitempty"`
}

// DisruptionReason is a reason Karpenter disrupts a node.
// +kubebuilder:validation:Enum=Underutilized;Empty;Drifted
type DisruptionReason string

// DisruptionBudget is a Karpenter disruption budget written in Ballast's policy.
type DisruptionBudget struct {
	// Nodes is a count ("5") or a percentage ("10%") of nodes that may be disrupted at once.
	// +kubebuilder:validation:Pattern=`^((100|[0-9]{1,2})%|[0-9]+)$`
	Nodes string `json:"nodes"`
	// Reasons the budget applies to; all reasons when empty.
	// +optional
	Reasons []DisruptionReason `json:"reasons,omitempty"`
	// Schedule is a UTC cron expression for when the budget starts; set with Duration.
	// For local times use maintenanceWindows instead.
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// Duration is how long the budget lasts after each Schedule start.
	// +optional
	Duration Duration `json:"duration,omitempty"`
}

// PodEvictionSpec configures Ballast's utilisation-threshold pod eviction.
type PodEvictionSpec struct {
	// Enabled turns the eviction on.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// CPUThresholdPercent: a node whose requested CPU is below this share is a candidate.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	CPUThresholdPercent *int32 `json:"cpuThresholdPercent,omitempty"`
	// MemoryThresholdPercent: a node whose requested memory is below this share is a candidate.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	MemoryThresholdPercent *int32 `json:"memoryThresholdPercent,omitempty"`
	// SingleReplica allows evicting pods of single-replica workloads.
	// +optional
	SingleReplica bool `json:"singleReplica,omitempty"`
	// MaxEvictionsPerPass bounds evictions per pass. Defaults to 5.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MaxEvictionsPerPass *int32 `json:"maxEvictionsPerPass,omitempty"`
}

// Weekday is a day of the week, written as its three-letter English abbreviation.
// +kubebuilder:validation:Enum=Mon;Tue;Wed;Thu;Fri;Sat;Sun
type Weekday string

// MaintenanceOperation is an operation a maintenance window allows.
// +kubebuilder:validation:Enum=Consolidation;PodEviction;ReverseFallback
type MaintenanceOperation string

const (
	// OperationConsolidation is Karpenter consolidation (empty and underused nodes).
	OperationConsolidation MaintenanceOperation = "Consolidation"
	// OperationPodEviction is Ballast's utilisation-threshold pod eviction.
	OperationPodEviction MaintenanceOperation = "PodEviction"
	// OperationReverseFallback is moving fallback replicas back to Spot.
	OperationReverseFallback MaintenanceOperation = "ReverseFallback"
)

// MaintenanceWindow is a weekly time range in a time zone.
type MaintenanceWindow struct {
	// Name identifies the window in findings and status.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
	// Days the window starts on; a window that ends before it starts runs into the next day.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=7
	Days []Weekday `json:"days"`
	// Start is the local start time, HH:MM (24-hour clock).
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	Start string `json:"start"`
	// End is the local end time, HH:MM; "24:00" is midnight at the end of the day.
	// +kubebuilder:validation:Pattern=`^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$`
	End string `json:"end"`
	// TimeZone is an IANA time zone such as Europe/Berlin. Defaults to UTC.
	// +optional
	TimeZone string `json:"timeZone,omitempty"`
	// Allow lists the operations allowed in the window.
	// +kubebuilder:validation:MinItems=1
	Allow []MaintenanceOperation `json:"allow"`
}

// ClusterPolicyStatus is what the runtime controllers observed.
type ClusterPolicyStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions of the policy.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Workloads lists the split of the workloads this policy's default distribution governs (at most 200).
	// +kubebuilder:validation:MaxItems=200
	// +optional
	Workloads []WorkloadPlacement `json:"workloads,omitempty"`
	// Fallback is where Spot capacity and fallback to On-Demand stand; the fallback
	// controller owns it, and the webhook reads it to place Spot-meant replicas.
	// +optional
	Fallback *FallbackStatus `json:"fallback,omitempty"`
	// Cost is what the cluster's nodes cost now, against the same nodes all On-Demand;
	// the cost controller owns it.
	// +optional
	Cost *CostStatus `json:"cost,omitempty"`
	// Commitments is what the Reserved Instances and Savings Plans cover and leave
	// unused; the commitments controller owns it.
	// +optional
	Commitments *CommitmentsStatus `json:"commitments,omitempty"`
	// BinPacking is where utilisation bin-packing (binPacking.podEviction) stands; the
	// bin-packing controller owns it.
	// +optional
	BinPacking *BinPackingStatus `json:"binPacking,omitempty"`
	// Interruptions is the interruption history of the cluster's Spot pools and the
	// instance types the Spot NodePool leaves out because of it; the interruption
	// controller owns it, and every renderer of the Spot NodePool reads it.
	// +optional
	Interruptions *InterruptionsStatus `json:"interruptions,omitempty"`
}

// InterruptionsStatus is where interruption steering stands.
type InterruptionsStatus struct {
	// ExcludedInstanceTypes are the instance types the Spot NodePool leaves out now,
	// sorted. The PolicySource's render and the interruption controller both write
	// exactly these into the NodePool, so that they never undo each other.
	// +kubebuilder:validation:MaxItems=500
	// +optional
	ExcludedInstanceTypes []string `json:"excludedInstanceTypes,omitempty"`
	// PreferredInstanceTypes, for strategy LeastInterrupted, are the instance types
	// the Spot NodePool offers, best first (by Spot placement score and interruption
	// history); empty means every type the policy allows.
	// +kubebuilder:validation:MaxItems=500
	// +optional
	PreferredInstanceTypes []string `json:"preferredInstanceTypes,omitempty"`
	// RankedAt is when PreferredInstanceTypes were last chosen.
	// +optional
	RankedAt *metav1.Time `json:"rankedAt,omitempty"`
	// Exclusions are the steering decisions in force, one per pool (instance type and
	// zone) that was reclaimed, newest first (at most 100).
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Exclusions []SpotExclusion `json:"exclusions,omitempty"`
	// Pools is the interruption history per instance type and zone, highest score
	// first (at most 100).
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Pools []SpotPoolHistory `json:"pools,omitempty"`
	// Recent are the instances whose notices were counted lately, so that a notice
	// delivered twice is counted once (at most 200, for an hour).
	// +kubebuilder:validation:MaxItems=200
	// +optional
	Recent []InterruptionNotice `json:"recent,omitempty"`
}

// SpotExclusion is one reclaimed pool and what steering did about it.
type SpotExclusion struct {
	InstanceType string `json:"instanceType"`
	// +optional
	Zone string `json:"zone,omitempty"`
	// Reason is SpotInterruption or RebalanceRecommendation.
	Reason string `json:"reason"`
	// Since is when the notice was sent.
	Since metav1.Time `json:"since"`
	// Until is when the exclusion ends.
	Until metav1.Time `json:"until"`
	// Applied is false when the exclusion is not in the NodePool because it would
	// leave fewer than spec.spot.interruptions.minInstanceTypes.
	Applied bool `json:"applied"`
}

// SpotPoolHistory is the interruption history of one instance type in one zone.
type SpotPoolHistory struct {
	InstanceType string `json:"instanceType"`
	// +optional
	Zone string `json:"zone,omitempty"`
	// Interruptions counts the Spot interruption warnings seen.
	Interruptions int32 `json:"interruptions"`
	// Rebalances counts the rebalance recommendations seen.
	// +optional
	Rebalances int32 `json:"rebalances,omitempty"`
	// Score is the notices weighted by age (an interruption 1, a rebalance
	// recommendation 0.5, halved every half-life), as of ScoredAt, as a decimal.
	Score string `json:"score"`
	// ScoredAt is when Score was computed.
	ScoredAt metav1.Time `json:"scoredAt"`
	// LastSeen is when the last notice for the pool was sent.
	LastSeen metav1.Time `json:"lastSeen"`
}

// InterruptionNotice is one instance's notice, remembered to count it once.
type InterruptionNotice struct {
	InstanceID string      `json:"instanceID"`
	Reason     string      `json:"reason"`
	Seen       metav1.Time `json:"seen"`
}

// CommitmentsStatus is the commitments the cluster may use, against the On-Demand
// nodes running now.
type CommitmentsStatus struct {
	// ObservedTime is when the commitments and the nodes were last read.
	ObservedTime metav1.Time `json:"observedTime"`
	// ReservedInstances is one entry per instance type and zone (at most 50).
	// +kubebuilder:validation:MaxItems=50
	// +optional
	ReservedInstances []ReservedInstanceUsage `json:"reservedInstances,omitempty"`
	// SavingsPlans is one entry per Savings Plan (at most 50).
	// +kubebuilder:validation:MaxItems=50
	// +optional
	SavingsPlans []SavingsPlanUsage `json:"savingsPlans,omitempty"`
}

// ReservedInstanceUsage is the Reserved Instances of one type and zone.
type ReservedInstanceUsage struct {
	InstanceType string `json:"instanceType"`
	// Zone is the zone of zonal reservations; empty for regional ones.
	// +optional
	Zone string `json:"zone,omitempty"`
	// Committed is how many are reserved.
	Committed int32 `json:"committed"`
	// Used is how many of them the running On-Demand nodes use (in instances of this
	// type, rounded up).
	Used int32 `json:"used"`
	// Unused is how many more instances of this type they would cover, within
	// maxUtilizationPercent.
	Unused int32 `json:"unused"`
}

// SavingsPlanUsage is one Savings Plan, in USD per hour written as decimal strings
// with four places.
type SavingsPlanUsage struct {
	Type SavingsPlanType `json:"type"`
	// +optional
	Family string `json:"family,omitempty"`
	// CommittedPerHour is the plan's commitment the cluster may use
	// (maxUtilizationPercent of it).
	CommittedPerHour string `json:"committedPerHour"`
	// UsedPerHour is what the running On-Demand nodes spend of it.
	UsedPerHour string `json:"usedPerHour"`
}

// BinPackingStatus reports the last pass of utilisation bin-packing.
type BinPackingStatus struct {
	// LastPass is when the nodes were last looked at.
	LastPass metav1.Time `json:"lastPass"`
	// Candidates are the Ballast-managed nodes below the thresholds long enough, least
	// utilised first (at most 50).
	// +kubebuilder:validation:MaxItems=50
	// +optional
	Candidates []string `json:"candidates,omitempty"`
	// Draining are the nodes Ballast tainted and is emptying (at most 50).
	// +kubebuilder:validation:MaxItems=50
	// +optional
	Draining []string `json:"draining,omitempty"`
	// Evicted counts the pods evicted in the last pass.
	// +optional
	Evicted int32 `json:"evicted,omitempty"`
	// LastEviction is when Ballast last evicted a pod for bin-packing.
	// +optional
	LastEviction *metav1.Time `json:"lastEviction,omitempty"`
	// PausedUntil: a replacement went Pending after an eviction, so bin-packing waits.
	// +optional
	PausedUntil *metav1.Time `json:"pausedUntil,omitempty"`
	// Message says what the last pass did or what blocked it.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Message string `json:"message,omitempty"`
}

// CostStatus is the cluster's cost at the current rate, in USD per month of 730 hours,
// written as decimal strings with two places (e.g. "1234.56").
type CostStatus struct {
	// ObservedTime is when the nodes were last priced.
	ObservedTime metav1.Time `json:"observedTime"`
	// Prices names the price source: "aws" (the Pricing and Spot price APIs, the
	// catalogue for what they do not answer) or "catalogue" (Ballast's built-in list).
	Prices string `json:"prices"`
	// Nodes is how many nodes were priced, SpotNodes how many of them run on Spot.
	Nodes     int32 `json:"nodes"`
	SpotNodes int32 `json:"spotNodes"`
	// Replicas is how many workload pods run on the nodes (DaemonSet pods not counted),
	// SpotReplicas how many of them on Spot.
	Replicas     int32 `json:"replicas"`
	SpotReplicas int32 `json:"spotReplicas"`
	// SpotPercent is SpotReplicas as a percentage of Replicas, rounded down.
	SpotPercent int32 `json:"spotPercent"`
	// MonthlyPotential is what the nodes would cost On-Demand: the baseline.
	MonthlyPotential string `json:"monthlyPotential"`
	// MonthlyActual is what the nodes cost: Spot nodes at Spot prices, On-Demand nodes
	// at commitment prices as far as commitments cover them.
	MonthlyActual string `json:"monthlyActual"`
	// MonthlySavings is MonthlyPotential - MonthlyActual.
	MonthlySavings string `json:"monthlySavings"`
	// SpotSavings and CommitmentSavings break MonthlySavings down; they add up to it.
	SpotSavings       string `json:"spotSavings"`
	CommitmentSavings string `json:"commitmentSavings"`
	// MonthlyUnusedCommitment is commitment paid for and left unused (not in MonthlyActual).
	// +optional
	MonthlyUnusedCommitment string `json:"monthlyUnusedCommitment,omitempty"`
	// Namespaces are the most costly namespaces (at most 20), by the CPU and memory their
	// pods request; "(idle)" is the capacity no pod requested.
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Namespaces []CostShare `json:"namespaces,omitempty"`
	// Workloads are the most costly workloads (at most 50).
	// +kubebuilder:validation:MaxItems=50
	// +optional
	Workloads []CostShare `json:"workloads,omitempty"`
}

// CostShare is the share of the cluster's cost of one namespace or workload.
type CostShare struct {
	// Namespace of the share.
	Namespace string `json:"namespace"`
	// Workload names the workload (workload shares only).
	// +optional
	Workload string `json:"workload,omitempty"`
	// MonthlyCost is its share of MonthlyActual.
	MonthlyCost string `json:"monthlyCost"`
	// MonthlySavings is its share of MonthlySavings.
	MonthlySavings string `json:"monthlySavings"`
}

// FallbackState is where Spot capacity stands for the cluster.
// +kubebuilder:validation:Enum=Available;Short;FallenBack;Returning
type FallbackState string

const (
	// FallbackAvailable: Spot capacity can be had; replicas meant for Spot go to Spot.
	FallbackAvailable FallbackState = "Available"
	// FallbackShort: Spot replicas wait for capacity Karpenter could not launch; they
	// fall back once that has lasted spot.fallback.after.
	FallbackShort FallbackState = "Short"
	// FallbackFallenBack: replicas meant for Spot run On-Demand (reason fallback) until
	// a return to Spot succeeds.
	FallbackFallenBack FallbackState = "FallenBack"
	// FallbackReturning: fallback replicas move back to Spot, a few at a time.
	FallbackReturning FallbackState = "Returning"
)

// FallbackStatus is the fallback controller's view of Spot capacity.
type FallbackStatus struct {
	// State is Available, Short, FallenBack or Returning.
	State FallbackState `json:"state"`
	// ShortSince is when Spot replicas started waiting for capacity Karpenter could not
	// launch.
	// +optional
	ShortSince *metav1.Time `json:"shortSince,omitempty"`
	// FallenBackSince is when replicas meant for Spot started to run On-Demand.
	// +optional
	FallenBackSince *metav1.Time `json:"fallenBackSince,omitempty"`
	// LastCapacityFailure is the last time Karpenter could not launch Spot capacity for
	// this cluster (insufficient capacity).
	// +optional
	LastCapacityFailure *metav1.Time `json:"lastCapacityFailure,omitempty"`
	// ReturnStartedAt is when the current return to Spot started.
	// +optional
	ReturnStartedAt *metav1.Time `json:"returnStartedAt,omitempty"`
	// LastReturnBatch is when the last batch of fallback replicas was moved back.
	// +optional
	LastReturnBatch *metav1.Time `json:"lastReturnBatch,omitempty"`
	// NextReturnAttempt is the earliest time fallback replicas try Spot again.
	// +optional
	NextReturnAttempt *metav1.Time `json:"nextReturnAttempt,omitempty"`
	// FailedReturns counts the returns in a row that found Spot short again; each
	// doubles the wait before the next (the backoff).
	// +optional
	FailedReturns int32 `json:"failedReturns,omitempty"`
	// Backoff is the wait before the next return attempt, e.g. "1h0m0s".
	// +optional
	Backoff string `json:"backoff,omitempty"`
	// Replicas is how many replicas meant for Spot run On-Demand on fallback.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// Kept is how many of them stay On-Demand because each is the last workload pod of
	// a node that covers a commitment (reverse fallback leaves them: the node is
	// prepaid, and emptying it would leave the commitment unused).
	// +optional
	Kept int32 `json:"kept,omitempty"`
	// Workloads lists the workloads with replicas on fallback (at most 100).
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Workloads []FallbackWorkload `json:"workloads,omitempty"`
	// Message says what the controller is doing and why.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Message string `json:"message,omitempty"`
}

// FallbackWorkload is a workload with replicas on fallback.
type FallbackWorkload struct {
	// Kind is Deployment, StatefulSet, ReplicaSet or Job.
	Kind string `json:"kind"`
	// Namespace of the workload.
	Namespace string `json:"namespace"`
	// Name of the workload.
	Name string `json:"name"`
	// Replicas on fallback.
	Replicas int32 `json:"replicas"`
}

// ClusterPolicy is the orchestration policy of one cluster: its node supply, limits,
// Spot strategy, default distribution, commitments, bin packing and maintenance windows.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=cpol,categories=ballast
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.cluster.name`
// +kubebuilder:printcolumn:name="Region",type=string,JSONPath=`.spec.cluster.region`
// +kubebuilder:printcolumn:name="Strategy",type=string,JSONPath=`.spec.spot.strategy`
// +kubebuilder:printcolumn:name="On-Demand %",type=integer,JSONPath=`.spec.distribution.onDemandPercent`
// +kubebuilder:printcolumn:name="Base",type=integer,JSONPath=`.spec.distribution.baseOnDemand`
// +kubebuilder:printcolumn:name="Spot",type=string,JSONPath=`.status.fallback.state`
// +kubebuilder:printcolumn:name="Fallback",type=integer,JSONPath=`.status.fallback.replicas`,priority=1
// +kubebuilder:printcolumn:name="Spot Share",type=integer,JSONPath=`.status.cost.spotPercent`
// +kubebuilder:printcolumn:name="Savings/mo",type=string,JSONPath=`.status.cost.monthlySavings`
// +kubebuilder:printcolumn:name="Cost/mo",type=string,JSONPath=`.status.cost.monthlyActual`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ClusterPolicySpec `json:"spec"`
	// +optional
	Status ClusterPolicyStatus `json:"status,omitempty"`
}

// ClusterPolicyList is a list of ClusterPolicy.
// +kubebuilder:object:root=true
type ClusterPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterPolicy `json:"items"`
}
