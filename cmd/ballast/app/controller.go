package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	runtimeclient "github.com/fluxcd/pkg/runtime/client"
	runtimectrl "github.com/fluxcd/pkg/runtime/controller"
	runtimeevents "github.com/fluxcd/pkg/runtime/events"
	"github.com/fluxcd/pkg/runtime/features"
	"github.com/fluxcd/pkg/runtime/jitter"
	"github.com/fluxcd/pkg/runtime/leaderelection"
	"github.com/fluxcd/pkg/runtime/logger"
	"github.com/fluxcd/pkg/runtime/metrics"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/cloud"
	"github.com/ballast-dev/ballast/controllers"
	"github.com/ballast-dev/ballast/controllers/certs"
	"github.com/ballast-dev/ballast/controllers/interruption"
	"github.com/ballast-dev/ballast/controllers/source"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/gitsync/gogit"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

type controllerOptions struct {
	cluster              string
	namespace            string
	metricsAddr          string
	prices               string
	livePrices           bool
	interruptionHalfLife time.Duration
	karpenterEvents      bool
	interruptionQueue    string
	discoverCommitments  bool
	costInterval         time.Duration
	binPackingStable     time.Duration
	binPackingInterval   time.Duration
	probeAddr            string
	pprofAddr            string
	webhookPort          int
	certDir              string
	certManager          bool
	certSecret           string
	webhookService       string
	webhookConfiguration string
	webhookURL           string
	excluded             []string
	decisionTimeout      time.Duration
	limitsStallAfter     time.Duration
	spotScores           bool
	minSpotScore         int32
	offeringsTTL         time.Duration
	renderTarget         string
	sourceDir            string
	concurrent           int
	eventsAddr           string
	allowInsecureHTTP    bool
	trimCache            bool
	sourceNamespaces     []string

	// The flag sets Flux controllers share, so operators find the same knobs.
	client         runtimeclient.Options
	logger         logger.Options
	leader         leaderelection.Options
	rateLimiter    runtimectrl.RateLimiterOptions
	watch          runtimectrl.WatchOptions
	intervalJitter jitter.IntervalOptions
	features       features.FeatureGates
}

func newControllerCommand(s streams) *cobra.Command {
	o := controllerOptions{}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the in-cluster manager: policy sync, the distribution webhook and reconcilers",
		Long: `Controller runs Ballast in the cluster: the PolicySource controller that syncs policy
repositories (Git or Flux sources), validates, renders and applies them with server-side
apply and prunes what it created; the mutating webhook that places every new pod of a
Deployment or StatefulSet on Spot or On-Demand, and the reconcilers that evict surplus
replicas until each workload's split is exact. It serves metrics and health probes,
elects a leader among replicas (the webhook runs on every replica), recovers from
panics in reconcilers, and keeps its webhook certificate valid itself unless
--cert-manager is set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.cluster == "" {
				return usageError(s, "--cluster is required: the ClusterPolicy cluster name this controller serves")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runController(ctx, s, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.cluster, "cluster", "", "the ClusterPolicy cluster name this controller serves (required)")
	f.StringVar(&o.namespace, "namespace", envOr("POD_NAMESPACE", "ballast-system"), "the namespace Ballast runs in")
	f.StringVar(&o.metricsAddr, "metrics-addr", ":8080", "address of the Prometheus metrics endpoint")
	f.StringVar(&o.probeAddr, "health-addr", ":9440", "address of the health and readiness probes")
	f.StringVar(&o.pprofAddr, "pprof-addr", "", "address of Go's profiling endpoints (/debug/pprof/: heap, CPU, goroutines) for diagnosing memory or CPU use; off unless set, and never expose it outside the pod")
	f.IntVar(&o.webhookPort, "webhook-port", 9443, "port of the admission webhook server")
	f.StringVar(&o.certDir, "cert-dir", "/tmp/ballast/certs", "directory of the webhook's tls.crt and tls.key")
	f.BoolVar(&o.certManager, "cert-manager", false, "certificates come from cert-manager; do not manage them")
	f.StringVar(&o.certSecret, "cert-secret", "ballast-webhook-cert", "Secret holding the self-managed webhook certificate")
	f.StringVar(&o.webhookService, "webhook-service", "ballast-webhook-service", "Service in front of the webhook")
	f.StringVar(&o.webhookConfiguration, "webhook-configuration", "ballast-mutating-webhook-configuration", "MutatingWebhookConfiguration whose caBundle to keep current")
	f.StringVar(&o.webhookURL, "webhook-url", "", "https://host:port where the API server reaches the webhook server, for a controller running outside the cluster (default: the webhook Service)")
	f.StringSliceVar(&o.excluded, "exclude-namespaces", nil, "namespaces never placed even when opted in (besides Ballast's own, kube-system, kube-public and kube-node-lease)")
	f.DurationVar(&o.decisionTimeout, "decision-timeout", 2*time.Second, "longest time the webhook spends placing one pod before admitting it unchanged")
	f.BoolVar(&o.spotScores, "spot-placement-scores", false, "ask EC2 GetSpotPlacementScores (AWS credentials from the environment: IRSA, Pod Identity) before returning fallback replicas to Spot, and to rank the Spot supply of LeastInterrupted clusters")
	f.Int32Var(&o.minSpotScore, "min-spot-placement-score", 5, "the Spot placement score (1-10) a return to Spot needs, with --spot-placement-scores")
	f.DurationVar(&o.offeringsTTL, "unavailable-offerings-ttl", 3*time.Minute, "how long Karpenter does not retry a Spot offering that ran out of capacity (its AWS provider's unavailable-offerings cache); a return to Spot waits at least this long after the last failure")
	f.StringVar(&o.renderTarget, "render-target", "aws", "the cloud PolicySources render NodePools for: aws, or kwok (Karpenter's kwok provider, as `ballast dev` runs it)")
	f.DurationVar(&o.limitsStallAfter, "limits-stall-after", 15*time.Second, "how long pods may wait with cluster limit left and no NodePool growing before the pool with the most demand gets all of it")
	f.StringVar(&o.sourceDir, "source-dir", "/tmp/ballast/sources", "directory of the PolicySources' checkouts and artifacts")
	f.IntVar(&o.concurrent, "concurrent", 2, "how many PolicySources sync at once")
	f.StringVar(&o.prices, "prices", "", "a price file laid over the built-in catalogue for the cost controller (same format as cost/prices.yaml), e.g. negotiated prices or instance types the catalogue lacks")
	f.BoolVar(&o.livePrices, "live-prices", false, "price nodes with the AWS Pricing and EC2 Spot price APIs (AWS credentials from the environment: IRSA, Pod Identity), cached for an hour, the catalogue for what they do not answer")
	f.BoolVar(&o.discoverCommitments, "discover-commitments", false, "read Reserved Instances and Savings Plans from AWS for policies whose commitments have source Discover (needs ec2:DescribeReservedInstances and savingsplans:DescribeSavingsPlans through IRSA or Pod Identity)")
	f.DurationVar(&o.costInterval, "cost-interval", time.Minute, "how often the cost controller prices the nodes when none comes or goes")
	f.DurationVar(&o.binPackingStable, "binpacking-stable-period", 5*time.Minute, "how long a node stays below binPacking.podEviction's thresholds before bin-packing empties it")
	f.DurationVar(&o.binPackingInterval, "binpacking-interval", time.Minute, "time between bin-packing passes (each evicts at most binPacking.podEviction.maxEvictionsPerPass pods)")
	f.DurationVar(&o.interruptionHalfLife, "interruption-half-life", 24*time.Hour, "how quickly the interruption history of a Spot pool fades: a notice counts half as much after this long")
	f.StringVar(&o.interruptionQueue, "interruption-queue", "", "URL or name of Ballast's own SQS queue of EC2 interruption notices (docs/interruptions.md; never Karpenter's queue); AWS credentials from the environment: IRSA, Pod Identity")
	f.BoolVar(&o.karpenterEvents, "karpenter-interruption-events", true, "without --interruption-queue, read interruption notices from the events Karpenter records (SpotInterrupted, SpotRebalanceRecommendation)")
	f.StringVar(&o.eventsAddr, "events-addr", "", "also send PolicySource events to this address (e.g. Flux's notification-controller)")
	f.StringSliceVar(&o.sourceNamespaces, "policy-source-namespaces", nil, "namespaces besides its own whose PolicySources the controller syncs, or * for every namespace; "+
		"a PolicySource elsewhere gets Ready=False (NamespaceNotAllowed) and nothing of it is read or applied")
	f.BoolVar(&o.allowInsecureHTTP, "allow-insecure-http", false, "also accept http:// and file:// Git addresses and http:// forge addresses (local development and tests only: credentials and policy would travel unencrypted)")
	f.BoolVar(&o.trimCache, "trim-cache", true, "cache only the fields Ballast reads of pods, nodes, workloads, namespaces and NodeClaims (false: whole objects, several times the memory; for debugging)")
	o.client.BindFlags(f)
	o.logger.BindFlags(f)
	o.leader.BindFlags(f)
	o.rateLimiter.BindFlags(f)
	o.watch.BindFlags(f)
	o.intervalJitter.BindFlags(f)
	o.features.BindFlags(f)
	return cmd
}

// allowedNamespaces returns the namespaces whose PolicySources sync: the controller's
// own and those of --policy-source-namespaces, or source.AllNamespaces alone.
func (o controllerOptions) allowedNamespaces() ([]string, error) {
	out := []string{o.namespace}
	for _, ns := range o.sourceNamespaces {
		ns = strings.TrimSpace(ns)
		if ns == source.AllNamespaces {
			return []string{source.AllNamespaces}, nil
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("--policy-source-namespaces: %q is no namespace name (%s); list names, or * for every namespace", ns, strings.Join(errs, "; "))
		}
		if !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// controllerScheme returns the kinds the controller reads and writes.
func controllerScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	karpenter := schema.GroupVersion{Group: "karpenter.sh", Version: "v1"}
	s.AddKnownTypes(karpenter, &karpv1.NodePool{}, &karpv1.NodePoolList{}, &karpv1.NodeClaim{}, &karpv1.NodeClaimList{})
	metav1.AddToGroupVersion(s, karpenter)
	return s, v1alpha1.AddToScheme(s)
}

// managerCacheOptions is the manager's cache as `ballast controller` configures it: the
// runtime controllers' (trimmed objects unless --trim-cache=false), and PolicySources
// scoped by the watch options and, when not watching every namespace, the allowed
// namespaces.
func managerCacheOptions(o controllerOptions, allowed []string) (cache.Options, error) {
	watchSelector, err := runtimectrl.GetWatchSelector(o.watch)
	if err != nil {
		return cache.Options{}, err
	}
	opts := controllers.CacheOptions(o.trimCache)
	// The watch options scope PolicySources (sharding, namespaces), never the pods and
	// workloads the distributor must see everywhere. Watching every namespace (the
	// default) lets a PolicySource in a namespace not allowed be told so.
	sources := cache.ByObject{Label: watchSelector}
	if !o.watch.AllNamespaces {
		sources.Namespaces = map[string]cache.Config{}
		for _, ns := range allowed {
			sources.Namespaces[ns] = cache.Config{}
		}
	}
	opts.ByObject[&v1alpha1.PolicySource{}] = sources
	return opts, nil
}

func runController(ctx context.Context, s streams, o controllerOptions) error {
	// Every log line, whoever writes it, passes through redaction.
	logger.SetLogger(redactingLogger(logger.NewLogger(o.logger)))
	log := ctrllog.Log.WithName("ballast")
	if limit := containerMemoryLimit(); limit > 0 {
		debug.SetMemoryLimit(limit)
		log.Info("Go memory limit set to 90% of the container's", "bytes", limit)
	}
	if percent := goGCPercent(os.Getenv); percent > 0 {
		debug.SetGCPercent(percent)
	}
	if err := o.features.WithLogger(log).SupportedFeatures(map[string]bool{}, nil); err != nil {
		return usageError(s, "%v", err)
	}
	if err := o.intervalJitter.SetGlobalJitter(nil); err != nil {
		return usageError(s, "%v", err)
	}
	allowed, err := o.allowedNamespaces()
	if err != nil {
		return usageError(s, "%v", err)
	}
	if !o.watch.AllNamespaces && slices.Contains(allowed, source.AllNamespaces) {
		return usageError(s, "--policy-source-namespaces=* needs --watch-all-namespaces")
	}
	scheme, err := controllerScheme()
	if err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("failed to find the cluster: %w", err)
	}
	cfg.QPS, cfg.Burst = o.client.QPS, o.client.Burst
	cacheOpts, err := managerCacheOptions(o, allowed)
	if err != nil {
		return usageError(s, "%v", err)
	}
	// Secrets are read through an uncached client only: never cached cluster-wide.
	direct, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	if o.renderTarget != string(render.TargetAWS) && o.renderTarget != string(render.TargetKwok) {
		return usageError(s, "--render-target %q: write aws or kwok", o.renderTarget)
	}
	if o.webhookURL != "" && !strings.HasPrefix(o.webhookURL, "https://") {
		return usageError(s, "--webhook-url must be an https:// address")
	}
	if !o.certManager {
		cm := &certs.Manager{
			Client: direct, Namespace: o.namespace, SecretName: o.certSecret, Service: o.webhookService,
			WebhookConfiguration: o.webhookConfiguration, CertDir: o.certDir, URL: o.webhookURL,
		}
		if err := cm.Ensure(ctx); err != nil {
			return fmt.Errorf("failed to provide the webhook certificate: %w", err)
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:        o.probeAddr,
		PprofBindAddress:              o.pprofAddr,
		Cache:                         cacheOpts,
		LeaderElection:                o.leader.Enable,
		LeaderElectionReleaseOnCancel: o.leader.ReleaseOnCancel,
		LeaseDuration:                 &o.leader.LeaseDuration,
		RenewDeadline:                 &o.leader.RenewDeadline,
		RetryPeriod:                   &o.leader.RetryPeriod,
		LeaderElectionID:              "ballast-controller-" + o.cluster,
		LeaderElectionNamespace:       o.namespace,
		WebhookServer:                 webhook.NewServer(webhook.Options{Port: o.webhookPort, CertDir: o.certDir}),
	})
	if err != nil {
		return fmt.Errorf("failed to create the manager: %w", err)
	}
	if !o.certManager {
		if err := mgr.Add(&certs.Manager{
			Client: direct, Namespace: o.namespace, SecretName: o.certSecret, Service: o.webhookService,
			WebhookConfiguration: o.webhookConfiguration, CertDir: o.certDir, URL: o.webhookURL,
		}); err != nil {
			return err
		}
	}
	var bestScore func(context.Context, string, []string, int32) (int32, error)
	var placementScores cloud.PlacementScoreSource
	if o.spotScores {
		if placementScores, bestScore, err = newSpotScores(ctx); err != nil {
			return err
		}
	}
	prices, err := o.priceBook(ctx, s)
	if err != nil {
		return err
	}
	var discover func(context.Context, string) (cost.Commitments, error)
	if o.discoverCommitments {
		if discover, err = newCommitmentDiscovery(ctx); err != nil {
			return err
		}
	}
	var queue cloud.InterruptionQueue
	if o.interruptionQueue != "" {
		if queue, err = newInterruptionQueue(ctx, o.interruptionQueue); err != nil {
			return err
		}
	}
	var karpenterEvents rest.Interface
	if o.karpenterEvents && queue == nil {
		if karpenterEvents, err = interruption.EventsClient(mgr.GetConfig(), mgr.GetHTTPClient()); err != nil {
			return err
		}
	}
	if err := controllers.SetupRuntime(ctx, mgr, controllers.Options{
		Prices: prices, CostInterval: o.costInterval, DiscoverCommitments: discover,
		BinPackingStablePeriod: o.binPackingStable, BinPackingInterval: o.binPackingInterval,
		Cluster: o.cluster, Namespace: o.namespace, ExcludedNamespaces: o.excluded, DecisionTimeout: o.decisionTimeout, API: direct,
		LimitsStallAfter: o.limitsStallAfter, BestSpotScore: bestScore, MinSpotScore: o.minSpotScore,
		UnavailableOfferingsTTL: o.offeringsTTL,
		InterruptionHalfLife:    o.interruptionHalfLife, KarpenterEvents: karpenterEvents, InterruptionQueue: queue, PlacementScores: placementScores,
	}); err != nil {
		return err
	}
	recorder, err := runtimeevents.NewRecorder(log, o.eventsAddr, "ballast-controller", runtimeevents.WithManager(mgr))
	if err != nil {
		return usageError(s, "--events-addr: %v", err)
	}
	src := &source.Reconciler{
		Client: mgr.GetClient(),
		Fetcher: source.Sources{
			// Credentials are read through the uncached client: Secrets are never cached.
			Git:      &source.GitFetcher{Cloner: gogit.NewCloner(), Secrets: direct, Dir: filepath.Join(o.sourceDir, "git")},
			Artifact: &source.ArtifactFetcher{Client: mgr.GetAPIReader(), HTTP: &http.Client{Timeout: 2 * time.Minute}, Dir: filepath.Join(o.sourceDir, "artifacts")},
		},
		Recorder:          recorder,
		Metrics:           metrics.MustMakeRecorder(),
		Reporter:          &source.GitReporter{Secrets: direct, Statuses: statusSetterFor, AllowInsecureHTTP: o.allowInsecureHTTP},
		Cluster:           o.cluster,
		Target:            render.Target(o.renderTarget),
		AllowInsecureHTTP: o.allowInsecureHTTP,
		Namespaces:        allowed,
		// spec.serviceAccountName: applied and pruned as that ServiceAccount.
		Impersonate: source.Impersonator(cfg, client.Options{Scheme: scheme, Mapper: mgr.GetRESTMapper()}),
	}
	if err := src.SetupWithManager(ctx, mgr, source.SetupOptions{
		MaxConcurrentReconciles: o.concurrent, WatchFluxSources: true, RateLimiter: runtimectrl.GetRateLimiter(o.rateLimiter),
	}); err != nil {
		return fmt.Errorf("failed to set up the PolicySource controller: %w", err)
	}
	statusFiles := &source.StatusFileReconciler{
		Client: mgr.GetClient(), Secrets: direct, Files: gogit.NewFileWriter(), Recorder: recorder, Cluster: o.cluster,
		AllowInsecureHTTP: o.allowInsecureHTTP, Namespaces: allowed,
	}
	if err := statusFiles.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("failed to set up the status-file controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return err
	}
	if o.allowInsecureHTTP {
		log.Info("--allow-insecure-http: http:// and file:// Git addresses and http:// forge addresses are accepted; use it for local development only")
	}
	log.Info("starting", "cluster", o.cluster, "namespace", o.namespace, "policySourceNamespaces", allowed, "version", Version())
	return mgr.Start(ctx)
}
