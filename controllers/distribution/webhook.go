package distribution

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ballast-dev/ballast/controllers/internal/clusterpolicy"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/controllers/internal/scope"
	"github.com/ballast-dev/ballast/metrics"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// WebhookPath is where the API server sends pod admissions.
const WebhookPath = "/mutate-v1-pod"

// ReasonAnnotation on a pod says why it was placed where it is.
const ReasonAnnotation = "ballast.dev/reason"

// The pod webhook writes the placement ledger (a Lease) on real admissions only, so it
// declares NoneOnDryRun and skips the write on dry-run requests.
// +kubebuilder:webhook:path=/mutate-v1-pod,mutating=true,failurePolicy=ignore,sideEffects=NoneOnDryRun,groups="",resources=pods,verbs=create,versions=v1,name=pods.distribution.ballast.dev,admissionReviewVersions=v1,timeoutSeconds=3,reinvocationPolicy=Never

// Cluster-wide reads, each needed because opted-in namespaces can be any namespace:
// pods (the split of every workload is counted from its pods), nodes (the capacity
// type of the node a pod runs on), namespaces (the opt-in label), and the workloads
// that own pods (replica counts, labels and annotations that select rules).
// +kubebuilder:rbac:groups="",resources=pods;nodes;namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;replicasets,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch
// The placement ledgers are Leases in the workloads' namespaces (any opted-in one).
// The NodePools, to know which a pod can land on.
// +kubebuilder:rbac:groups=karpenter.sh,resources=nodepools,verbs=get;list;watch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=ballast.dev,resources=clusterpolicies;workloaddistributionrules,verbs=get;list;watch

// Placer is the mutating admission webhook that places new pods on Spot or On-Demand.
// It never blocks a pod: any error leaves the pod as it is, and it answers within
// Timeout. It acts only on namespaces in Scope, and leaves alone pods that choose
// their capacity type themselves (giving them the Spot toleration when they choose
// Spot). Before placing it works out which NodePools the pod can land on (see Fit):
// a pod that can land only on NodePools Ballast does not manage, or on none, is left
// alone, and a placed pod never gets a capacity type that none of them offers.
type Placer struct {
	// Client reads namespaces, pods, workloads, rules and policies, usually from a cache.
	Client client.Client
	// Pods reads the workloads' pods from the cache's store (before the PodIndex has
	// synced); through Client when nil.
	Pods podstore.Reader
	// API reads and writes the placement ledgers (Leases) without a cache.
	API client.Client
	// Cluster is the ClusterPolicy cluster name this controller serves.
	Cluster string
	// Scope says which namespaces are placed.
	Scope scope.Scope
	// Timeout bounds one decision; the pod is admitted unchanged past it.
	Timeout time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Index, when set and synced, is where admissions read their workload's pods
	// (counts kept from the pod informer's events); without it they list the pods.
	Index *PodIndex
	// Decider, when it decides (this replica is the elected leader), decides from
	// memory; Forwarder, when set, sends the decision to the replica that does. When
	// neither answers, the decision goes through the workload's ledger.
	Decider   *Decider
	Forwarder *HTTPForwarder

	// locks serialise this replica's decisions per workload (striped by workload
	// UID, so memory stays bounded), so that its admissions queue instead of colliding
	// on the ledger; the ledger alone keeps decisions of different replicas correct.
	locks [64]sync.Mutex
	// pools are the cluster's NodePools as read through Client, compiled for matching.
	pools nodePools
}

// Reasons the webhook leaves a pod alone because of the NodePools it can land on,
// the reason label of ballast_placements_left_alone_total.
const (
	// LeftAloneUnmanagedPool: the pod can land only on NodePools Ballast does not
	// manage; their capacity type is theirs and Karpenter's to choose.
	LeftAloneUnmanagedPool = "unmanaged-pool"
	// LeftAloneNoNodePool: no NodePool can take the pod (or none offers Spot or
	// On-Demand): Ballast cannot know where it goes, so it changes nothing.
	LeftAloneNoNodePool = "no-nodepool"
)

var _ admission.Handler = &Placer{}

// Webhook serves an admission handler of Ballast's (the Placer, the DaemonSet
// tolerator) to the API server. The logger of each request is the webhook's own:
// controller-runtime's default adds six fields of the request to it, which zap encodes
// as they are added, for every pod admitted, to be used only if something is logged
// (the Placer names the namespace and UID of a request in what it logs).
func Webhook(h admission.Handler) *admission.Webhook {
	return &admission.Webhook{Handler: h, LogConstructor: func(base logr.Logger, _ *admission.Request) logr.Logger { return base }}
}

// Handle places a pod being created.
func (p *Placer) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Kind.Kind != "Pod" || req.Operation != "CREATE" {
		return admission.Allowed("not a pod creation")
	}
	ctx, cancel := context.WithTimeout(ctx, p.budget())
	defer cancel()
	in, why, err := admittedScope(ctx, p.Scope, p.Client, p.API, req.Namespace)
	if err != nil || !in {
		return admission.Allowed(why)
	}
	pod, err := decodePlaced(req.Object.Raw)
	if err != nil {
		return admission.Allowed("undecodable pod left alone")
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	dryRun := ptr.Deref(req.DryRun, false)
	mutated, reason, err := p.place(ctx, pod, string(req.UID), dryRun)
	if err != nil {
		logf.FromContext(ctx).Error(err, "pod admitted without placement", "namespace", req.Namespace, "uid", req.UID)
		cause := "error"
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cause = "timeout"
		}
		metrics.PlacementErrors.WithLabelValues(cause).Inc()
		return admission.Allowed("placement failed; admitted unchanged")
	}
	if mutated == nil {
		return admission.Allowed(reason)
	}
	if why := mutated.Annotations[ReasonAnnotation]; why != "" && !dryRun {
		metrics.Placements.WithLabelValues(mutated.Labels[v1alpha1.CapacityLabel], why).Inc()
	}
	return placementPatch(pod, mutated)
}

// placedPod is what the Placer reads of a pod being created: its metadata and the
// fields that choose or constrain the nodes it can land on, which are also the only
// ones placement changes (see placementPatch). Decoding skips the rest (containers,
// volumes): most of a pod, and half of the webhook's answer when it was decoded whole.
type placedPod struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		NodeSelector              map[string]string                 `json:"nodeSelector"`
		Affinity                  *corev1.Affinity                  `json:"affinity"`
		Tolerations               []corev1.Toleration               `json:"tolerations"`
		TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints"`
	} `json:"spec"`
}

// decodePlaced decodes an admitted pod as far as placing it needs (placedPod): the
// pod it returns has no containers, volumes or other fields placement does not read.
func decodePlaced(raw []byte) (*corev1.Pod, error) {
	var in placedPod
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, err
	}
	return &corev1.Pod{ObjectMeta: in.Metadata, Spec: corev1.PodSpec{
		NodeSelector: in.Spec.NodeSelector, Affinity: in.Spec.Affinity, Tolerations: in.Spec.Tolerations,
		TopologySpreadConstraints: in.Spec.TopologySpreadConstraints,
	}}, nil
}

// place returns the mutated pod, or nil and why it is left alone.
func (p *Placer) place(ctx context.Context, pod *corev1.Pod, admissionID string, dryRun bool) (*corev1.Pod, string, error) {
	if owner := metav1.GetControllerOf(pod); owner != nil && owner.Kind == "DaemonSet" {
		out := pod.DeepCopy()
		if !addSpotToleration(&out.Spec) {
			return nil, "a DaemonSet pod that tolerates Spot nodes already", nil
		}
		return out, "", nil
	}
	c := chooses(&pod.Spec)
	switch {
	case c.pinned && c.allowsSpot && p.onlyUnmanaged(ctx, &pod.Spec):
		return nil, "the pod chooses Spot itself on NodePools Ballast does not manage", nil
	case c.pinned && c.allowsSpot:
		out := pod.DeepCopy()
		if !addSpotToleration(&out.Spec) {
			return nil, "the pod chooses Spot itself and tolerates Spot nodes", nil
		}
		return out, "", nil
	case c.pinned:
		return nil, "the pod chooses its capacity type itself", nil
	case pod.Labels[v1alpha1.CapacityLabel] != "":
		return nil, "the pod is placed already", nil
	}
	fit, err := p.pools.fit(ctx, p.Client, p.Cluster, &pod.Spec)
	if err != nil {
		return nil, "", err
	}
	leftAlone := func(reason, why string) (*corev1.Pod, string, error) {
		if !dryRun {
			metrics.LeftAlone.WithLabelValues(reason).Inc()
		}
		return nil, why, nil
	}
	switch {
	case fit.Pools == 0:
		return leftAlone(LeftAloneNoNodePool, "no NodePool can take the pod")
	case !fit.Ballast:
		return leftAlone(LeftAloneUnmanagedPool, "the pod can land only on NodePools Ballast does not manage")
	case !fit.Spot && !fit.OnDemand:
		return leftAlone(LeftAloneNoNodePool, "no NodePool the pod can land on offers Spot or On-Demand")
	}
	// From here on some NodePool the pod can land on offers Spot or On-Demand, so
	// fit.Constrain always finds a capacity type.
	w, err := p.workloadOf(ctx, pod)
	if err != nil || w == nil {
		return nil, "not part of a Deployment, StatefulSet, ReplicaSet or Job", err
	}
	policy, err := clusterpolicy.ForReading(ctx, p.Client, p.Cluster)
	if err != nil || policy == nil {
		return nil, "no ClusterPolicy for this cluster", err
	}
	rule, err := p.ruleUnder(ctx, policy, w)
	if err != nil {
		return nil, "", err
	}
	var decision split.Decision
	if w.Kind == KindStatefulSet && Ordinal(pod, w.Name) >= 0 {
		decision, _ = fit.Constrain(split.DecideOrdinal(rule, w.Replicas, Ordinal(pod, w.Name)))
	} else if decision, err = p.decide(ctx, pod, w, rule, fit, admissionID, dryRun); err != nil {
		return nil, "", err
	}
	// The ledger recorded the class the replica is meant for; while Spot is short it
	// runs On-Demand, marked as fallback, unless no NodePool it can land on offers
	// On-Demand.
	if FallbackActive(policy) {
		decision, _ = fit.Constrain(split.Fallback(decision))
	}
	out := pod.DeepCopy()
	apply(out, w, rule, decision, admissionID)
	return out, "", nil
}

// workloadOf returns the workload of a pod being placed, read from the cache without
// copies (sharedReads), and live when the cache has not seen it yet (LiveOnMiss).
func (p *Placer) workloadOf(ctx context.Context, pod metav1.Object) (*Workload, error) {
	return WorkloadOf(ctx, LiveOnMiss(sharedReads{p.Client}, p.API), pod)
}

// onlyUnmanaged reports whether the pod can land only on NodePools Ballast does not
// manage (so Ballast's Spot toleration would be of no use to it). When the NodePools
// cannot be read or none fits, it says false: the toleration is harmless.
func (p *Placer) onlyUnmanaged(ctx context.Context, spec *corev1.PodSpec) bool {
	fit, err := p.pools.fit(ctx, p.Client, p.Cluster, spec)
	return err == nil && fit.Pools > 0 && !fit.Ballast
}

// rule returns the rule that applies to the workload.
func (p *Placer) rule(ctx context.Context, w *Workload) (split.Rule, error) {
	policy, err := clusterpolicy.ForReading(ctx, p.Client, p.Cluster)
	if err != nil {
		return split.Rule{}, err
	}
	if policy == nil {
		return split.Rule{}, errors.New("no ClusterPolicy for this cluster")
	}
	return p.ruleUnder(ctx, policy, w)
}

// ruleUnder resolves the workload's rule under policy. The policy and rules the Placer
// reads are the cache's own (clusterpolicy.ForReading): an admission reads them, never
// changes them.
func (p *Placer) ruleUnder(ctx context.Context, policy *v1alpha1.ClusterPolicy, w *Workload) (split.Rule, error) {
	rules, err := clusterpolicy.RulesForReading(ctx, p.Client, w.Namespace)
	if err != nil {
		return split.Rule{}, err
	}
	return split.Resolve(policy, rules, w.SplitWorkload())
}

// decide decides a pod of a Deployment, ReplicaSet or Job: from memory when this
// replica is the decider, else by the decider it forwards to, else under the
// workload's ledger. Each is constrained to the capacity types the NodePools the pod
// can land on offer (fit), so that what is recorded is the class the pod really gets.
func (p *Placer) decide(ctx context.Context, pod *corev1.Pod, w *Workload, rule split.Rule, fit Fit, admissionID string, dryRun bool) (split.Decision, error) {
	if p.Decider.Deciding() {
		d, err := p.Decider.decide(ctx, w, rule, fit, admissionID, dryRun)
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, errNotDeciding) {
			logf.FromContext(ctx).V(1).Info("deciding from memory failed; deciding through the ledger", "error", err.Error())
		}
	}
	if owner := metav1.GetControllerOf(pod); p.Forwarder != nil && owner != nil {
		d, err := p.Forwarder.Forward(ctx, decisionRequest{
			Namespace: pod.Namespace, OwnerKind: owner.Kind, OwnerName: owner.Name, OwnerUID: owner.UID,
			AdmissionID: admissionID, DryRun: dryRun, Spot: fit.Spot, OnDemand: fit.OnDemand,
		})
		if err == nil {
			return d, nil
		}
		logf.FromContext(ctx).V(1).Info("no decider reachable; deciding through the ledger", "error", err.Error())
	}
	return p.decideWithLedger(ctx, w, rule, fit, admissionID, dryRun)
}

// decideWithLedger decides a pod of a Deployment, ReplicaSet or Job under its ledger,
// constrained to fit.
func (p *Placer) decideWithLedger(ctx context.Context, w *Workload, rule split.Rule, fit Fit, admissionID string, dryRun bool) (split.Decision, error) {
	// On the decider's replica, not while it hands over: see Decider.ledgerTurn.
	defer p.Decider.ledgerTurn()()
	obs, err := p.observe(ctx, w)
	if err != nil {
		return split.Decision{}, err
	}
	var decision split.Decision
	mu := p.lock(w.UID)
	mu.Lock()
	defer mu.Unlock()
	l := &ledger{api: p.API, now: p.now}
	_, err = l.reserve(ctx, w, obs, admissionID, dryRun, func(current split.Counts) string {
		decision, _ = fit.Constrain(split.Decide(rule, w.Replicas, current))
		return decision.Capacity
	})
	return decision, err
}

// lock returns the striped lock of a workload.
func (p *Placer) lock(uid types.UID) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(uid))
	return &p.locks[h.Sum32()%uint32(len(p.locks))]
}

// budget is the longest a decision takes (Timeout, 2s when zero).
func (p *Placer) budget() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return 2 * time.Second
}

func (p *Placer) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// observe returns the workload's pods as observed: from the PodIndex once it is
// synced (O(1) in the workload's size), else from a list of its pods.
func (p *Placer) observe(ctx context.Context, w *Workload) (observation, error) {
	if p.Index.Synced() {
		return p.Index.view(w), nil
	}
	pods, err := w.Pods(ctx, podstore.Or(p.Pods, p.Client))
	if err != nil {
		return nil, err
	}
	out := make([]observedPod, len(pods))
	capacity := NodeCapacity(ctx, p.Client)
	for i, pod := range pods {
		out[i] = observedPod{UID: pod.UID, Capacity: IntendedCapacity(pod, capacity), Reservation: pod.Reservation}
	}
	return newListed(out), nil
}

// admittedScope reports whether an admission's namespace is in scope. The API server
// calls Ballast's webhooks only for namespaces their selector takes in, so a namespace
// the cache leaves out is most likely one just created or labelled that the cache has
// not caught up with: then the API server (api, when not nil) is asked. Left out, a pod
// would go unplaced and a DaemonSet keep no Spot toleration until its next update.
func admittedScope(ctx context.Context, s scope.Scope, cache, api client.Reader, namespace string) (bool, string, error) {
	in, why, err := s.Check(ctx, cache, namespace)
	if err == nil && !in && api != nil {
		in, why, err = s.Check(ctx, api, namespace)
	}
	return in, why, err
}

// NodeCapacity returns a lookup of a node's Karpenter capacity type.
func NodeCapacity(ctx context.Context, c client.Reader) func(string) string {
	return func(name string) string {
		var node corev1.Node
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &node); err != nil {
			return ""
		}
		return node.Labels[capacityTypeKey]
	}
}

// ClusterPolicyFor returns the ClusterPolicy of the cluster, or nil.
func ClusterPolicyFor(ctx context.Context, c client.Reader, cluster string) (*v1alpha1.ClusterPolicy, error) {
	return clusterpolicy.For(ctx, c, cluster)
}

// RulesIn returns the WorkloadDistributionRules of a namespace.
func RulesIn(ctx context.Context, c client.Reader, namespace string) ([]*v1alpha1.WorkloadDistributionRule, error) {
	return clusterpolicy.Rules(ctx, c, namespace)
}
