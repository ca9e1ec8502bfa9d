package interruption

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
)

// The reasons of the events Karpenter's AWS provider records on a NodeClaim and its
// node when its own interruption queue delivers a notice.
const (
	KarpenterSpotInterrupted = "SpotInterrupted"
	KarpenterRebalance       = "SpotRebalanceRecommendation"
)

// KarpenterEvents reads interruption notices from the events Karpenter records, for
// clusters where Ballast has no queue of its own (Karpenter's queue must not be
// shared: its consumers would take each other's messages). It needs Karpenter's AWS
// provider to run with its interruption queue; the notices then arrive when Karpenter
// handles them, a little later than from a queue.
type KarpenterEvents struct {
	// Events is a REST client of the core API group (see EventsClient): it lists and
	// watches events.
	Events rest.Interface
	// Steer is the controller the notices go to.
	Steer *Reconciler
	// Resync of the informers; none when zero.
	Resync time.Duration
}

// EventsClient is the REST client of the core API group KarpenterEvents reads events
// with. It is not a clientset: a clientset is an interface value holding every typed
// client of every API group, so the linker keeps all of their methods (about 9 MB of
// the binary, and the memory its pages take once loaded).
func EventsClient(cfg *rest.Config, httpClient *http.Client) (rest.Interface, error) {
	return apiutil.RESTClientForGVK(corev1.SchemeGroupVersion.WithKind("Event"), false, false, cfg,
		serializer.NewCodecFactory(clientgoscheme.Scheme), httpClient)
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: one replica steers.
func (k *KarpenterEvents) NeedLeaderElection() bool { return true }

// Start watches Karpenter's interruption events until ctx is done.
func (k *KarpenterEvents) Start(ctx context.Context) error {
	for _, reason := range []string{KarpenterSpotInterrupted, KarpenterRebalance} {
		lw := toolscache.NewFilteredListWatchFromClient(k.Events, "events", corev1.NamespaceAll, func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("reason", reason).String()
		})
		inf := toolscache.NewSharedIndexInformer(lw, &corev1.Event{}, k.Resync, toolscache.Indexers{})
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) {
				if ev, ok := obj.(*corev1.Event); ok {
					k.handle(ctx, ev)
				}
			},
			UpdateFunc: func(_, obj any) {
				if ev, ok := obj.(*corev1.Event); ok {
					k.handle(ctx, ev)
				}
			},
		}); err != nil {
			return err
		}
		go inf.Run(ctx.Done())
	}
	<-ctx.Done()
	return nil
}

// handle turns one Karpenter event into a notice. Failures are logged: the event
// stays in the informer, and a later update (Karpenter counts repeats) retries.
func (k *KarpenterEvents) handle(ctx context.Context, ev *corev1.Event) {
	reason := SpotInterruptionReason
	if ev.Reason == KarpenterRebalance {
		reason = RebalanceRecommendationReason
	}
	n, ok, err := k.notice(ctx, ev, reason)
	if err == nil && ok {
		_, err = k.Steer.update(ctx, []Notice{n})
	}
	if err != nil {
		log.FromContext(ctx).WithName("interruption").Error(err, "failed to record Karpenter's interruption event", "event", ev.Name, "object", ev.InvolvedObject.Name)
	}
}

// notice finds the node or NodeClaim the event is about.
func (k *KarpenterEvents) notice(ctx context.Context, ev *corev1.Event, reason string) (Notice, bool, error) {
	at := eventTime(ev)
	var labels map[string]string
	var providerID string
	switch ev.InvolvedObject.Kind {
	case "NodeClaim":
		var nc karpv1.NodeClaim
		if err := k.Steer.Client.Get(ctx, client.ObjectKey{Name: ev.InvolvedObject.Name}, &nc); err != nil {
			return Notice{}, false, client.IgnoreNotFound(err)
		}
		labels, providerID = nc.Labels, nc.Status.ProviderID
	case "Node":
		var node corev1.Node
		if err := k.Steer.Client.Get(ctx, client.ObjectKey{Name: ev.InvolvedObject.Name}, &node); err != nil {
			return Notice{}, false, client.IgnoreNotFound(err)
		}
		labels, providerID = node.Labels, node.Spec.ProviderID
	default:
		return Notice{}, false, nil
	}
	id := InstanceID(providerID)
	if id == "" {
		return Notice{}, false, fmt.Errorf("%s %s has no provider ID yet", ev.InvolvedObject.Kind, ev.InvolvedObject.Name)
	}
	n, ok := noticeFor(labels, id, reason, at)
	return n, ok, nil
}

// eventTime is when the event first happened.
func eventTime(ev *corev1.Event) time.Time {
	switch {
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	case !ev.FirstTimestamp.IsZero():
		return ev.FirstTimestamp.Time
	}
	return ev.CreationTimestamp.Time
}
