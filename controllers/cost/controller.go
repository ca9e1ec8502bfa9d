package cost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ballast-dev/ballast/controllers/internal/clusterpolicy"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/controllers/internal/status"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/metrics"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// FieldManager owns status.cost and the CostReported condition of the ClusterPolicy.
const FieldManager = "ballast-cost"

// DefaultInterval is how often the nodes are priced when nothing changes.
const DefaultInterval = time.Minute

// Reconciler prices the cluster's nodes and reports the figures.
type Reconciler struct {
	// Client reads nodes, pods and ReplicaSets (usually from a cache) and applies the
	// status.
	Client client.Client
	// Cluster is the ClusterPolicy cluster name the controller serves.
	Cluster string
	// Prices is the price book.
	Prices *Prices
	// Interval between pricing passes; DefaultInterval when zero.
	Interval time.Duration
	// Discover returns the commitments discovered in AWS for a region, for policies
	// whose commitments have source Discover; nil prices those without commitments.
	Discover func(ctx context.Context, region string) (cost.Commitments, error)
	// Pods reads every pod of the cluster from the cache's store, without copies;
	// through Client when nil.
	Pods podstore.Reader
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	series series
}

// +kubebuilder:rbac:groups=ballast.dev,resources=clusterpolicies/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=nodes;pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list;watch

// Reconcile runs one pricing pass.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	policy, err := clusterpolicy.For(ctx, r.Client, r.Cluster)
	if err != nil {
		return reconcile.Result{}, err
	}
	if policy == nil {
		r.series.forget(r.Cluster)
		return reconcile.Result{}, nil
	}
	now := r.now()
	in, err := r.cluster(ctx)
	if err != nil {
		metrics.CostErrors.WithLabelValues(r.Cluster, "list").Inc()
		return reconcile.Result{}, err
	}
	report, prices, unpriced, liveErr, err := r.price(ctx, policy, in, now)
	if err != nil {
		metrics.CostErrors.WithLabelValues(r.Cluster, "prices").Inc()
		logf.FromContext(ctx).Error(err, "cannot price the nodes")
	} else if liveErr != nil {
		metrics.CostErrors.WithLabelValues(r.Cluster, "prices").Inc()
	}
	s, reason, msg := condition(len(in.Nodes), unpriced, prices, report, err, liveErr)
	cond := status.Condition(policy.Status.Conditions, CostReportedCondition, s, reason, msg, policy.Generation, now)
	current := policy.Status.Cost
	var next *v1alpha1.CostStatus
	if report != nil {
		st := statusOf(report, prices, now)
		r.series.record(r.Cluster, report)
		if sameFigures(current, st) {
			next = current
		} else {
			next = &st
		}
	}
	if next == current && status.Same(policy.Status.Conditions, cond) {
		return reconcile.Result{RequeueAfter: r.interval()}, nil
	}
	fields := map[string]any{}
	if next != nil {
		m, err := status.ToMap(next)
		if err != nil {
			return reconcile.Result{}, err
		}
		fields["cost"] = m
	}
	if err := status.Apply(ctx, r.Client, v1alpha1.GroupVersion.WithKind("ClusterPolicy"), client.ObjectKey{Name: policy.Name}, FieldManager, fields, cond); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: r.interval()}, nil
}

// cluster reads what the pricing needs from the cache.
func (r *Reconciler) cluster(ctx context.Context) (cost.Cluster, error) {
	var nodes corev1.NodeList
	if err := r.Client.List(ctx, &nodes); err != nil {
		return cost.Cluster{}, err
	}
	// Every pod of the cluster, read only: the cache's own objects, without copies,
	// which would double the controller's memory for the pass.
	pods, err := podstore.Or(r.Pods, r.Client).All(ctx)
	if err != nil {
		return cost.Cluster{}, err
	}
	var sets appsv1.ReplicaSetList
	if err := r.Client.List(ctx, &sets); err != nil {
		return cost.Cluster{}, err
	}
	refs := make([]cost.PodRef, len(pods))
	for i, p := range pods {
		refs[i] = cost.PodRef{Meta: &p.ObjectMeta, NodeName: p.Spec.NodeName, Phase: p.Status.Phase, Spec: p.Spec.PodSpec}
	}
	return cost.Cluster{Nodes: nodes.Items, PodRefs: refs, ReplicaSets: sets.Items}, nil
}

// price estimates the cluster as it runs, leaving out the nodes the book has no price
// for (counted in unpriced): one unknown instance type must not hide the figures of
// every other node.
func (r *Reconciler) price(ctx context.Context, policy *v1alpha1.ClusterPolicy, in cost.Cluster, now time.Time) (report *cost.Report, prices string, unpriced int, liveErr, err error) {
	// Nodes without an instance type (Fargate, virtual kubelets) cannot be priced.
	in.Nodes = slices.DeleteFunc(slices.Clone(in.Nodes), func(n corev1.Node) bool {
		if n.Labels[corev1.LabelInstanceTypeStable] == "" && n.Labels[corev1.LabelInstanceType] == "" {
			unpriced++
			return true
		}
		return false
	})
	w, err := cost.FromCluster(in)
	if err != nil {
		return nil, PricesCatalogue, 0, nil, err
	}
	region := w.Region
	if region == "" {
		region = policy.Spec.Cluster.Region
	}
	var types []string
	for _, n := range w.Nodes {
		types = append(types, n.InstanceType)
	}
	slices.Sort(types)
	types = slices.Compact(types)
	book, prices, liveErr := r.Prices.Book(ctx, region, types, now)
	w.Nodes = slices.DeleteFunc(w.Nodes, func(n cost.Node) bool {
		_, od := book.Price(region, n.InstanceType, cost.OnDemand)
		_, sp := book.Price(region, n.InstanceType, cost.Spot)
		if !od || (n.CapacityType == cost.Spot && !sp) {
			unpriced++
			return true
		}
		return false
	})
	if len(w.Nodes) == 0 {
		if unpriced > 0 {
			return nil, prices, unpriced, liveErr, errNoPrices{unpriced}
		}
		return &cost.Report{Region: region}, prices, 0, liveErr, nil
	}
	commitments, _, err := cost.CommitmentsFor(policy, now)
	if err != nil {
		return nil, prices, unpriced, liveErr, err
	}
	if c := policy.Spec.Commitments; c != nil && c.Enabled && c.Source != v1alpha1.CommitmentsFromGit && r.Discover != nil {
		found, derr := r.Discover(ctx, region)
		if derr != nil {
			// Priced without them: the figures say what the nodes cost at most.
			liveErr = errors.Join(liveErr, fmt.Errorf("commitments could not be discovered, so none is counted: %w", derr))
		} else {
			found.Utilization = commitments.Utilization
			commitments = found
		}
	}
	report, err = cost.Estimate(w, book, cost.Options{Region: region, Commitments: commitments})
	return report, prices, unpriced, liveErr, err
}

type errNoPrices struct{ nodes int }

func (e errNoPrices) Error() string {
	return fmt.Sprintf("none of the %d nodes is of an instance type with a price; add their prices with --prices", e.nodes)
}

func (r *Reconciler) interval() time.Duration {
	if r.Interval > 0 {
		return r.Interval
	}
	return DefaultInterval
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func equalJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}
