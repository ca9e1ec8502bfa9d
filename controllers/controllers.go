// Package controllers wires Ballast's runtime into a manager: one list of every
// runtime controller and webhook, so that a reader sees what runs from one place.
package controllers

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ballast-dev/ballast/cloud"
	"github.com/ballast-dev/ballast/controllers/binpacking"
	"github.com/ballast-dev/ballast/controllers/commitments"
	costctl "github.com/ballast-dev/ballast/controllers/cost"
	"github.com/ballast-dev/ballast/controllers/distribution"
	"github.com/ballast-dev/ballast/controllers/fallback"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/controllers/internal/scope"
	"github.com/ballast-dev/ballast/controllers/internal/status"
	"github.com/ballast-dev/ballast/controllers/internal/trim"
	"github.com/ballast-dev/ballast/controllers/interruption"
	"github.com/ballast-dev/ballast/controllers/limits"
	"github.com/ballast-dev/ballast/controllers/readiness"
	"github.com/ballast-dev/ballast/cost"
)

// Options configure the runtime controllers.
type Options struct {
	// Cluster is the ClusterPolicy cluster name the controllers serve.
	Cluster string
	// Namespace is Ballast's own namespace, never placed.
	Namespace string
	// ExcludedNamespaces are never placed either, even when opted in.
	ExcludedNamespaces []string
	// DecisionTimeout bounds one placement decision of the webhook.
	DecisionTimeout time.Duration
	// LimitsStallAfter is how long pods may wait with headroom left before one NodePool
	// gets all of the cluster's remaining limit (limits.Reconciler.StallAfter).
	LimitsStallAfter time.Duration
	// BestSpotScore, when set, returns the best Spot placement score for instance types
	// in a region (AWS configured); reverse fallback asks it before a return.
	BestSpotScore func(ctx context.Context, region string, instanceTypes []string, capacity int32) (int32, error)
	// MinSpotScore is the placement score a return to Spot needs.
	MinSpotScore int32
	// UnavailableOfferingsTTL is how long Karpenter does not retry an offering that ran
	// out of capacity (3m in the AWS provider).
	UnavailableOfferingsTTL time.Duration
	// API reads and writes without a cache (the placement ledgers).
	API client.Client
	// Prices is the cost controller's price book (the built-in catalogue when nil).
	Prices *costctl.Prices
	// CostInterval is how often the cost controller prices the nodes.
	CostInterval time.Duration
	// DiscoverCommitments, when set, returns the Reserved Instances and Savings Plans
	// of the account for a region (AWS configured); policies with commitments of
	// source Discover need it.
	DiscoverCommitments func(ctx context.Context, region string) (cost.Commitments, error)
	// BinPackingStablePeriod is how long a node stays below the podEviction thresholds
	// before bin-packing empties it (binpacking.DefaultStablePeriod when zero).
	BinPackingStablePeriod time.Duration
	// BinPackingInterval is the time between bin-packing passes
	// (binpacking.DefaultInterval when zero).
	BinPackingInterval time.Duration
	// InterruptionHalfLife is how quickly the interruption history fades
	// (interruption.DefaultHalfLife when zero).
	InterruptionHalfLife time.Duration
	// PlacementScores, when set, answers Spot placement scores (cached) for the
	// ranking of LeastInterrupted clusters' Spot supply.
	PlacementScores cloud.PlacementScoreSource
	// InterruptionQueue, when set, is Ballast's own queue of interruption notices.
	InterruptionQueue cloud.InterruptionQueue
	// KarpenterEvents, when set and there is no InterruptionQueue, reads interruption
	// notices from the events Karpenter records.
	KarpenterEvents rest.Interface
}

// CacheOptions are the options of the manager's cache the runtime controllers need:
// only Karpenter's insufficient-capacity Events are cached, only the pods that have
// not run to completion (podstore.Unfinished), and, when trimmed, every
// Pod, Node, workload, Namespace and NodeClaim is stripped to the fields Ballast reads
// and every other object (NodePools excepted) loses its managedFields (package
// trim). Untrimmed, the cache holds whole objects: several times the memory, for
// debugging only.
func CacheOptions(trimmed bool) cache.Options {
	byObject := fallback.CacheOptions()
	byObject[&corev1.Pod{}] = cache.ByObject{Field: podstore.Unfinished}
	if !trimmed {
		return cache.Options{ByObject: byObject}
	}
	for obj, transform := range trim.Transforms() {
		merged := false
		for other, o := range byObject {
			if reflect.TypeOf(other) == reflect.TypeOf(obj) {
				o.Transform = transform
				byObject[other], merged = o, true
			}
		}
		if !merged {
			byObject[obj] = cache.ByObject{Transform: transform}
		}
	}
	return cache.Options{ByObject: byObject, DefaultTransform: trim.StripManagedFields}
}

// Scope returns the namespaces the runtime acts on.
func (o Options) scope() scope.Scope {
	return scope.Scope{Own: o.Namespace, Excluded: o.ExcludedNamespaces}
}

// SetupRuntime registers the distribution webhooks on the manager's webhook server
// and the runtime controllers: drift correction for Deployments and StatefulSets, the
// cluster's NodePool limits, fallback to On-Demand with the return to Spot, the
// cluster's cost, the committed NodePool, utilisation bin-packing, and the Ready summary of the policy and its rules. The
// manager's cache must have been built with CacheOptions; the controllers and webhooks
// write through trim.Guard.
func SetupRuntime(ctx context.Context, mgr ctrl.Manager, o Options) error {
	inScope := o.scope()
	// Every runtime controller and webhook reads and writes through the guard: objects
	// read from a trimmed cache must never be written whole.
	c := trim.Guard(mgr.GetClient())
	hooks := mgr.GetWebhookServer()
	// Admissions read their workload's split from counts kept from the pod informer's
	// events, not from a list of its pods.
	pods, err := mgr.GetCache().GetInformer(ctx, &corev1.Pod{})
	if err != nil {
		return fmt.Errorf("failed to get the pod informer: %w", err)
	}
	index, err := distribution.NewPodIndex(pods, c)
	if err != nil {
		return err
	}
	// Every pod reader takes the cache's own records from the informer's store, not
	// copied (a trimmed cache holds podstore.Pod records, which its client cannot
	// list as corev1.Pods).
	allPods, err := podstore.FromInformer(pods)
	if err != nil {
		return err
	}
	// The elected leader decides admissions from memory; the other replicas forward
	// their decisions to it over HTTPS, and decide through the ledgers when it cannot
	// be reached.
	identity, address, certFile := decider(hooks)
	dec := &distribution.Decider{
		API: o.API, Index: index, Identity: identity, Address: address, Namespace: o.Namespace, Cluster: o.Cluster,
		Warmup: distribution.WarmupFor(o.DecisionTimeout),
	}
	if err := mgr.Add(dec); err != nil {
		return err
	}
	placer := &distribution.Placer{
		Client: c, Pods: allPods, API: o.API, Cluster: o.Cluster, Scope: inScope, Timeout: o.DecisionTimeout, Index: index,
		Decider: dec, Forwarder: &distribution.HTTPForwarder{
			API: o.API, Namespace: o.Namespace, Cluster: o.Cluster, Self: identity, Client: distribution.PinnedClient(certFile),
		},
	}
	hooks.Register(distribution.WebhookPath, distribution.Webhook(placer))
	hooks.Register(distribution.DecidePath, &distribution.DecideHandler{Placer: placer})
	hooks.Register(distribution.DaemonSetWebhookPath, distribution.Webhook(&distribution.DaemonSetTolerator{
		Client: c, API: o.API, Scope: inScope,
	}))
	// One judgement of whether the webhook places pods, fed by drift correction's
	// evictions, consulted by every evicting controller.
	placing := distribution.NewPlacementWatch()
	for _, kind := range []string{distribution.KindDeployment, distribution.KindStatefulSet} {
		r := &distribution.Reconciler{
			Client: c, Recorder: status.Events(mgr.GetEventRecorder("ballast-distribution")),
			Kind: kind, Cluster: o.Cluster, Scope: inScope, API: o.API, Placement: placing, Pods: allPods,
		}
		if err := r.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("failed to set up the %s distribution controller: %w", kind, err)
		}
	}
	if err := (&limits.Reconciler{Client: c, Pods: allPods, Cluster: o.Cluster, StallAfter: o.LimitsStallAfter}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("failed to set up the limits controller: %w", err)
	}
	fb := &fallback.Reconciler{
		Client: c, Recorder: status.Events(mgr.GetEventRecorder("ballast-fallback")), Cluster: o.Cluster, Scope: inScope,
		BestScore: o.BestSpotScore, MinScore: o.MinSpotScore, CapacityMemory: o.UnavailableOfferingsTTL, API: o.API,
		Discover: o.DiscoverCommitments, Placement: placing, Pods: allPods,
	}
	if err := fb.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("failed to set up the fallback controller: %w", err)
	}
	if err := (&costctl.Reconciler{Client: c, Pods: allPods, Cluster: o.Cluster, Prices: o.Prices, Interval: o.CostInterval, Discover: o.DiscoverCommitments}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("failed to set up the cost controller: %w", err)
	}
	// Without --discover-commitments, policies with source Discover get
	// CommitmentsReady False (DiscoveryNotConfigured).
	if err := (&commitments.Reconciler{Client: c, Recorder: status.Events(mgr.GetEventRecorder("ballast-commitments")), Cluster: o.Cluster, Discover: o.DiscoverCommitments}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("failed to set up the commitments controller: %w", err)
	}
	bp := &binpacking.Reconciler{
		Client: c, Recorder: status.Events(mgr.GetEventRecorder("ballast-binpacking")), Cluster: o.Cluster, Scope: inScope,
		StablePeriod: o.BinPackingStablePeriod, Interval: o.BinPackingInterval, Discover: o.DiscoverCommitments,
		Placement: placing, Pods: allPods,
	}
	if err := bp.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("failed to set up the bin-packing controller: %w", err)
	}
	catalogue := o.Prices.Catalogue()
	steer := &interruption.Reconciler{
		Client: c, API: mgr.GetAPIReader(), Recorder: status.Events(mgr.GetEventRecorder("ballast-interruption")), Cluster: o.Cluster,
		Shapes: catalogue, Book: catalogue, Scores: o.PlacementScores, HalfLife: o.InterruptionHalfLife,
	}
	if err := steer.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("failed to set up the interruption controller: %w", err)
	}
	switch {
	case o.InterruptionQueue != nil:
		if err := mgr.Add(&interruption.QueueReader{Consumer: &interruption.Consumer{Queue: o.InterruptionQueue, Handle: steer.Handle}}); err != nil {
			return fmt.Errorf("failed to set up the interruption queue: %w", err)
		}
	case o.KarpenterEvents != nil:
		if err := mgr.Add(&interruption.KarpenterEvents{Events: o.KarpenterEvents, Steer: steer}); err != nil {
			return fmt.Errorf("failed to set up the interruption controller's Karpenter events: %w", err)
		}
	}
	if err := (&readiness.Reconciler{Client: c, Cluster: o.Cluster}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("failed to set up the readiness controller: %w", err)
	}
	return nil
}

// decider returns this replica's identity in the decider record, the address where
// the other replicas reach its webhook server (its first non-loopback IP address and
// the server's port), and the file of the serving certificate they present.
func decider(hooks webhook.Server) (identity, address, certFile string) {
	host, _ := os.Hostname()
	identity = host + "_" + string(uuid.NewUUID())
	opts := webhook.Options{}
	if s, ok := hooks.(*webhook.DefaultServer); ok {
		opts = s.Options
	}
	port := opts.Port
	if port == 0 {
		port = webhook.DefaultPort
	}
	dir := opts.CertDir
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs")
	}
	name := opts.CertName
	if name == "" {
		name = "tls.crt"
	}
	return identity, "https://" + net.JoinHostPort(podIP(), strconv.Itoa(port)), filepath.Join(dir, name)
}

// podIP is the address the other replicas reach this one at: POD_IP (the Deployment
// sets it from status.podIP), else the first global unicast address of an interface
// (IPv4 first), else the loopback address.
func podIP() string {
	if ip := net.ParseIP(os.Getenv("POD_IP")); ip != nil {
		return ip.String()
	}
	var v6 string
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			switch {
			case !ok || !n.IP.IsGlobalUnicast():
			case n.IP.To4() != nil:
				return n.IP.String()
			case v6 == "":
				v6 = n.IP.String()
			}
		}
	}
	if v6 != "" {
		return v6
	}
	return "127.0.0.1"

}
