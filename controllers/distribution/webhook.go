package distribution

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// WebhookPath is where the API server sends pod admissions.
const WebhookPath = "/mutate-v1-pod"

// ReasonAnnotation on a pod says why it was placed where it is.
const ReasonAnnotation = "ballast.dev/reason"

// SystemNamespaces are never touched.
var SystemNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

// +kubebuilder:webhook:path=/mutate-v1-pod,mutating=true,failurePolicy=ignore,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=pods.distribution.ballast.dev,admissionReviewVersions=v1,timeoutSeconds=3,reinvocationPolicy=Never
// +kubebuilder:rbac:groups="",resources=pods;nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;replicasets,verbs=get;list;watch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=ballast.dev,resources=clusterpolicies;workloaddistributionrules,verbs=get;list;watch

// Placer is the mutating admission webhook that places new pods on Spot or On-Demand.
// It never blocks a pod: any error leaves the pod as it is (the drift reconciler
// corrects the split later), and it answers within Timeout.
type Placer struct {
	// Client reads pods, workloads, rules and policies, usually from a cache.
	Client client.Client
	// API reads and writes the placement ledgers (Leases) without a cache.
	API client.Client
	// Cluster is the ClusterPolicy cluster name this controller serves.
	Cluster string
	// ExcludedNamespaces are skipped besides SystemNamespaces.
	ExcludedNamespaces []string
	// Timeout bounds one decision; the pod is admitted unchanged past it.
	Timeout time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// locks serialise this replica's decisions per workload (striped by workload
	// UID, so memory stays bounded), so that its admissions queue instead of colliding
	// on the ledger; the ledger alone keeps decisions of different replicas correct.
	locks [64]sync.Mutex
}

var _ admission.Handler = &Placer{}

// Handle places a pod being created.
func (p *Placer) Handle(ctx context.Context, req admission.Request) admission.Response {
	log := logf.FromContext(ctx).WithValues("namespace", req.Namespace, "uid", req.UID)
	if req.Kind.Kind != "Pod" || req.Operation != "CREATE" {
		return admission.Allowed("not a pod creation")
	}
	if slices.Contains(SystemNamespaces, req.Namespace) || slices.Contains(p.ExcludedNamespaces, req.Namespace) {
		return admission.Allowed("excluded namespace")
	}
	pod := &corev1.Pod{}
	if err := json.Unmarshal(req.Object.Raw, pod); err != nil {
		return admission.Allowed("undecodable pod left alone")
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	mutated, reason, err := p.place(ctx, pod, string(req.UID))
	if err != nil {
		log.Error(err, "pod admitted without placement")
		return admission.Allowed("placement failed; admitted unchanged")
	}
	if mutated == nil {
		return admission.Allowed(reason)
	}
	patched, err := json.Marshal(mutated)
	if err != nil {
		return admission.Allowed("placement not encodable; admitted unchanged")
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, patched)
}

// place returns the mutated pod, or nil and why it is left alone.
func (p *Placer) place(ctx context.Context, pod *corev1.Pod, admissionID string) (*corev1.Pod, string, error) {
	if owner := metav1.GetControllerOf(pod); owner != nil && owner.Kind == "DaemonSet" {
		out := pod.DeepCopy()
		addSpotToleration(out)
		return out, "", nil
	}
	if pinsCapacity(pod) {
		return nil, "the pod chooses its capacity type itself", nil
	}
	w, err := WorkloadOf(ctx, p.Client, pod)
	if err != nil || w == nil {
		return nil, "not part of a Deployment or StatefulSet", err
	}
	policy, err := ClusterPolicyFor(ctx, p.Client, p.Cluster)
	if err != nil || policy == nil {
		return nil, "no ClusterPolicy for this cluster", err
	}
	var rules v1alpha1.WorkloadDistributionRuleList
	if err := p.Client.List(ctx, &rules, client.InNamespace(pod.Namespace)); err != nil {
		return nil, "", err
	}
	rule, _ := Resolve(policy, rules.Items, w.Labels, w.Annotations)
	var decision Decision
	if w.Kind == KindStatefulSet && Ordinal(pod, w.Name) >= 0 {
		decision = DecideOrdinal(rule, w.Replicas, Ordinal(pod, w.Name))
	} else if decision, err = p.decideWithLedger(ctx, w, rule, admissionID); err != nil {
		return nil, "", err
	}
	out := pod.DeepCopy()
	apply(out, w, rule, decision, admissionID)
	return out, "", nil
}

// decideWithLedger decides a Deployment's or ReplicaSet's pod under its ledger.
func (p *Placer) decideWithLedger(ctx context.Context, w *Workload, rule Rule, admissionID string) (Decision, error) {
	pods, err := w.Pods(ctx, p.Client)
	if err != nil {
		return Decision{}, err
	}
	observed, ids := p.observe(ctx, pods)
	var decision Decision
	now := p.Now
	if now == nil {
		now = time.Now
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(w.UID))
	mu := &p.locks[h.Sum32()%uint32(len(p.locks))]
	mu.Lock()
	defer mu.Unlock()
	l := &ledger{api: p.API, now: now}
	_, err = l.reserve(ctx, w, observed, ids, admissionID, func(current Counts) string {
		decision = Decide(rule, w.Replicas, current)
		return decision.Capacity
	})
	return decision, err
}

// observe counts the classes of pods and collects their reservation ids.
func (p *Placer) observe(ctx context.Context, pods []corev1.Pod) (Counts, map[string]bool) {
	var c Counts
	ids := map[string]bool{}
	for i := range pods {
		if id := pods[i].Annotations[ReservationAnnotation]; id != "" {
			ids[id] = true
		}
		if CapacityOf(&pods[i], NodeCapacity(ctx, p.Client)) == v1alpha1.CapacitySpot {
			c.Spot++
		} else {
			c.OnDemand++
		}
	}
	return c, ids
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
	var list v1alpha1.ClusterPolicyList
	if err := c.List(ctx, &list); err != nil {
		return nil, err
	}
	for i := range list.Items {
		if list.Items[i].Spec.Cluster.Name == cluster {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

// pinsCapacity reports whether the pod already chooses Spot or On-Demand itself.
func pinsCapacity(pod *corev1.Pod) bool {
	if _, ok := pod.Spec.NodeSelector[capacityTypeKey]; ok {
		return true
	}
	if _, ok := pod.Labels[v1alpha1.CapacityLabel]; ok {
		return true
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, e := range term.MatchExpressions {
				if e.Key == capacityTypeKey {
					return true
				}
			}
		}
	}
	return false
}
