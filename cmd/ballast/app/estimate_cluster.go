package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/cost"
)

// clusterPageSize is how many objects one list request of `ballast estimate
// --kubeconfig` asks for, as kubectl does (its --chunk-size is 500 too); tests make it
// smaller.
var clusterPageSize int64 = 500

// clusterRequestTimeout bounds each list request.
const clusterRequestTimeout = time.Minute

// loadKubeconfig loads the kubeconfig the way kubectl does (path, else $KUBECONFIG,
// else ~/.kube/config; context, else its current one); where names the API server
// and context for messages.
func loadKubeconfig(path, context string, timeout time.Duration) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("failed to load the kubeconfig: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = timeout
	where := cfg.Host
	if raw, err := loader.RawConfig(); err == nil {
		name := raw.CurrentContext
		if context != "" {
			name = context
		}
		if name != "" {
			where += " (context " + name + ")"
		}
	}
	return cfg, where, nil
}

// readCluster reads the nodes, pods and ReplicaSets of the cluster the kubeconfig
// names, clusterPageSize objects a request, keeping only what the estimate uses of
// each page (cost.Collector): what a snapshot of the same objects would give.
func (o *estimateOptions) readCluster(ctx context.Context) (*cost.Workload, string, error) {
	cfg, where, err := loadKubeconfig(o.kubeconfig, o.context, clusterRequestTimeout)
	if err != nil {
		return nil, "", err
	}
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	if err := appsv1.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("failed to reach the API server at %s: %w", where, err)
	}
	col := cost.NewCollector()
	var nodes corev1.NodeList
	if err := listPages(ctx, c, &nodes, "nodes", where, estimateNeeds, func() {
		for i := range nodes.Items {
			col.AddNode(&nodes.Items[i])
		}
	}); err != nil {
		return nil, "", err
	}
	var pods corev1.PodList
	if err := listPages(ctx, c, &pods, "pods", where, estimateNeeds, func() {
		for i := range pods.Items {
			col.AddPod(&pods.Items[i])
		}
	}); err != nil {
		return nil, "", err
	}
	var sets appsv1.ReplicaSetList
	if err := listPages(ctx, c, &sets, "replicasets", where, estimateNeeds, func() {
		for i := range sets.Items {
			col.AddReplicaSet(&sets.Items[i])
		}
	}); err != nil {
		return nil, "", err
	}
	if col.Empty() {
		return nil, "", fmt.Errorf("the cluster at %s has no nodes and no pods", where)
	}
	w, err := col.Workload()
	if err != nil {
		return nil, "", fmt.Errorf("the cluster at %s: %w", where, err)
	}
	return w, "cluster " + where, nil
}

// estimateNeeds is what ballast estimate --kubeconfig may do.
const estimateNeeds = "ballast estimate needs list on nodes, pods and replicasets"

// listPages lists every object of list's kind in all namespaces, a page at a time,
// calling page after each one (list holds that page only); needs says which
// permissions the command needs, for a refusal.
func listPages(ctx context.Context, c client.Reader, list client.ObjectList, what, where, needs string, page func()) error {
	token := ""
	for {
		err := c.List(ctx, list, client.Limit(clusterPageSize), client.Continue(token))
		switch {
		case apierrors.IsResourceExpired(err):
			return fmt.Errorf("the %s at %s changed too much while they were read page by page (the continue token expired); run the command again: %w", what, where, err)
		case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
			return fmt.Errorf("may not list %s at %s (%s): %w", what, where, needs, err)
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("the API server at %s did not answer in time: %w", where, err)
		case err != nil:
			return fmt.Errorf("failed to list %s at %s: %w", what, where, err)
		}
		page()
		if token = list.GetContinue(); token == "" {
			return nil
		}
	}
}
