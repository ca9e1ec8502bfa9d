package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Bounds on the attribution series (see the package documentation).
const (
	// MaxWorkloadSeries is how many workloads get their own cost series.
	MaxWorkloadSeries = 100
	// MaxNamespaceSeries is how many namespaces get their own cost series.
	MaxNamespaceSeries = 50
	// Other names the series that sums the namespaces or workloads beyond the bounds.
	Other = "(other)"
)

var (
	// Placements counts the webhook's placement decisions by capacity type and reason.
	Placements = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ballast_placements_total",
		Help: "Pods placed by the distribution webhook, by capacity type (on-demand, spot) and reason (base, split, fallback, override, surge, pinned).",
	}, []string{"capacity_type", "reason"})

	// PlacementErrors counts admissions the webhook let through unplaced (it fails open).
	PlacementErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ballast_placement_errors_total",
		Help: "Pod admissions the distribution webhook let through without a placement, by cause (timeout, error).",
	}, []string{"cause"})

	// LeftAlone counts the pods the webhook admitted unchanged because of the NodePools
	// they can land on.
	LeftAlone = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ballast_placements_left_alone_total",
		Help: "Pods the distribution webhook left alone because of the NodePools they can land on, by reason (unmanaged-pool: only NodePools Ballast does not manage; no-nodepool: none).",
	}, []string{"reason"})

	// WorkloadSplits is the desired and observed split of every workload in scope,
	// exported by WorkloadReplicas and WorkloadDrift.
	WorkloadSplits = &WorkloadSplitTable{}

	// WorkloadReplicas is the desired and observed split of every workload in scope.
	WorkloadReplicas = &WorkloadSeries{table: WorkloadSplits, desc: prometheus.NewDesc("ballast_workload_replicas",
		"Replicas of a workload by capacity type (on-demand, spot), desired by its rule or observed on its pods (split: desired, observed).",
		[]string{"namespace", "kind", "workload", "capacity_type", "split"}, nil)}

	// WorkloadDrift is how many replicas a workload's observed split is away from the desired one.
	WorkloadDrift = &WorkloadSeries{table: WorkloadSplits, drift: true, desc: prometheus.NewDesc("ballast_workload_drift_replicas",
		"Replicas a workload runs on the wrong capacity type (observed On-Demand minus desired On-Demand, absolute).",
		[]string{"namespace", "kind", "workload"}, nil)}

	// Evictions counts the pods Ballast evicted, by cause and result.
	Evictions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ballast_evictions_total",
		Help: "Pods evicted by Ballast, by cause (drift, fallback, return, binpacking) and result (evicted, blocked, gone, failed).",
	}, []string{"cause", "result"})

	// FallbackState is 1 for the cluster's current Spot state and 0 for the others.
	FallbackState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_fallback_state",
		Help: "Where Spot capacity stands: 1 for the current state (Available, Short, FallenBack, Returning), 0 for the others.",
	}, []string{"cluster", "state"})

	// FallbackReplicas is how many replicas meant for Spot run On-Demand.
	FallbackReplicas = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_fallback_replicas",
		Help: "Replicas meant for Spot that run On-Demand on fallback.",
	}, []string{"cluster"})

	// FallbackSince is when the current fallback started (0 when Spot is Available).
	FallbackSince = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_fallback_since_timestamp_seconds",
		Help: "Unix time the current shortage or fallback to On-Demand started; 0 while Spot is Available. time() minus it is the fallback's duration.",
	}, []string{"cluster"})

	// SpotShare is the share of the workload replicas that run on Spot.
	SpotShare = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_spot_share_ratio",
		Help: "Share (0-1) of the workload replicas running on Spot nodes (DaemonSet pods not counted).",
	}, []string{"cluster"})

	// Nodes is how many nodes were priced, by capacity type.
	Nodes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_nodes",
		Help: "Nodes of the cluster by capacity type (on-demand, spot).",
	}, []string{"cluster", "capacity_type"})

	// CostPotential is what the cluster's nodes would cost On-Demand, per month.
	CostPotential = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_cost_potential_monthly_usd",
		Help: "What the cluster's nodes would cost all On-Demand, in USD per month of 730 hours at the current rate.",
	}, []string{"cluster"})

	// CostActual is what the cluster's nodes cost, per month.
	CostActual = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_cost_actual_monthly_usd",
		Help: "What the cluster's nodes cost (Spot prices, commitment coverage), in USD per month of 730 hours at the current rate.",
	}, []string{"cluster"})

	// CostSavings is potential minus actual, by where the savings come from.
	CostSavings = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_cost_savings_monthly_usd",
		Help: "Potential minus actual cost by source (spot, commitments); the sources add up to the cluster's savings. USD per month.",
	}, []string{"cluster", "source"})

	// UnusedCommitment is the commitment paid for and left unused.
	UnusedCommitment = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_commitment_unused_monthly_usd",
		Help: "Reserved Instance and Savings Plan commitment left unused at the current rate, in USD per month.",
	}, []string{"cluster"})

	// NamespaceCost is each namespace's share of the actual cost.
	NamespaceCost = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_namespace_cost_monthly_usd",
		Help: "A namespace's share of the actual cost by the CPU and memory its pods request, USD per month; (idle) is unrequested capacity.",
	}, []string{"cluster", "namespace"})

	// NamespaceSavings is each namespace's share of the savings.
	NamespaceSavings = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_namespace_savings_monthly_usd",
		Help: "A namespace's share of the savings, USD per month.",
	}, []string{"cluster", "namespace"})

	// WorkloadCost is each workload's share of the actual cost.
	WorkloadCost = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_workload_cost_monthly_usd",
		Help: "A workload's share of the actual cost by the CPU and memory its pods request, USD per month.",
	}, []string{"cluster", "namespace", "workload"})

	// WorkloadSavings is each workload's share of the savings.
	WorkloadSavings = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_workload_savings_monthly_usd",
		Help: "A workload's share of the savings, USD per month.",
	}, []string{"cluster", "namespace", "workload"})

	// CostErrors counts pricing passes that failed (a price missing, the API failing).
	CostErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ballast_cost_errors_total",
		Help: "Pricing passes of the cost controller that failed, by cause (prices, list).",
	}, []string{"cluster", "cause"})

	// SourceReady is 1 when a PolicySource's last sync applied its revision.
	SourceReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_policysource_ready",
		Help: "1 when the PolicySource's last sync succeeded (Ready=True), else 0.",
	}, []string{"namespace", "name"})

	// SourceLastApplied is when a PolicySource last applied a revision.
	SourceLastApplied = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_policysource_last_success_timestamp_seconds",
		Help: "Unix time of the PolicySource's last successful sync.",
	}, []string{"namespace", "name"})

	// SpotExcludedTypes is how many instance types the Spot NodePool leaves out
	// because their pools are being reclaimed.
	SpotExcludedTypes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_spot_excluded_instance_types",
		Help: "Instance types the cluster's Spot NodePool leaves out because of interruption notices.",
	}, []string{"cluster"})

	// SpotPoolInterruptions is the interruption history score of a Spot pool.
	SpotPoolInterruptions = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ballast_spot_pool_interruption_score",
		Help: "Interruption notices of a Spot pool (instance type and zone), weighted by age (an interruption 1, a rebalance recommendation 0.5, halved every half-life).",
	}, []string{"cluster", "instance_type", "zone"})

	// SpotNotices counts the interruption notices recorded for the cluster's Spot nodes.
	SpotNotices = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ballast_spot_notices_total",
		Help: "Interruption notices recorded for Spot nodes of the cluster, by reason (SpotInterruption, RebalanceRecommendation).",
	}, []string{"cluster", "reason"})
	// InterruptionMessages counts the messages read from the interruption queue, by
	// what they announced and what became of them.
	InterruptionMessages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ballast_interruption_messages_total",
		Help: "Messages read from Ballast's interruption queue, by kind (SpotInterruption, RebalanceRecommendation, StateChange, ScheduledChange, Unknown) and result (handled, duplicate, malformed, unknown, failed).",
	}, []string{"kind", "result"})

	// InterruptionReceiveErrors counts failed receives from the interruption queue.
	InterruptionReceiveErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ballast_interruption_receive_errors_total",
		Help: "Receives from Ballast's interruption queue that failed (the consumer backs off and tries again).",
	})

	// InterruptionDeleteErrors counts messages the consumer could not delete.
	InterruptionDeleteErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ballast_interruption_delete_errors_total",
		Help: "Messages of Ballast's interruption queue that could not be deleted after they were read (the queue delivers them again).",
	})

	// InterruptionHandleDuration is how long handling one interruption event took.
	InterruptionHandleDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ballast_interruption_handle_duration_seconds",
		Help:    "Time taken to handle one interruption event read from the queue, by kind, whether it succeeded or not.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"kind"})
)

// All lists every collector of this package, in the order they are registered.
func All() []prometheus.Collector {
	return []prometheus.Collector{
		Placements, PlacementErrors, LeftAlone, WorkloadReplicas, WorkloadDrift, Evictions,
		FallbackState, FallbackReplicas, FallbackSince, SpotShare, Nodes,
		CostPotential, CostActual, CostSavings, UnusedCommitment,
		NamespaceCost, NamespaceSavings, WorkloadCost, WorkloadSavings, CostErrors,
		SourceReady, SourceLastApplied,
		SpotExcludedTypes, SpotPoolInterruptions, SpotNotices,
		InterruptionMessages, InterruptionReceiveErrors, InterruptionDeleteErrors, InterruptionHandleDuration,
	}
}

func init() {
	crmetrics.Registry.MustRegister(All()...)
}
