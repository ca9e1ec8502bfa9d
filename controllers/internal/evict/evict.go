package evict

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/metrics"
)

// DoNotDisruptAnnotation is Karpenter's: a pod carrying it with the value "true" is
// never evicted.
const DoNotDisruptAnnotation = "karpenter.sh/do-not-disrupt"

// Causes of an eviction, the cause label of ballast_evictions_total.
const (
	// CauseDrift: the drift reconciler moves a replica to restore the split.
	CauseDrift = "drift"
	// CauseFallback: a Spot replica waiting for capacity is replaced On-Demand.
	CauseFallback = "fallback"
	// CauseReturn: a fallback replica moves back to Spot.
	CauseReturn = "return"
	// CauseBinPacking: a pod leaves an underused node so that the node can go.
	CauseBinPacking = "binpacking"
)

// BlockedReason is the reason of the Warning event on a pod whose eviction a
// PodDisruptionBudget refused, unless the request names its own.
const BlockedReason = "EvictionBlocked"

// Result is what became of one eviction; its value is the result label of
// ballast_evictions_total (Skipped is never counted: nothing was attempted).
type Result string

const (
	// Evicted: the API server accepted the eviction; the pod is terminating.
	Evicted Result = "evicted"
	// Blocked: a PodDisruptionBudget refused (429); try again later.
	Blocked Result = "blocked"
	// Gone: the pod no longer exists, or a different pod has its name now (404/409);
	// nothing is left to do.
	Gone Result = "gone"
	// Failed: any other error; Outcome.Err says which.
	Failed Result = "failed"
	// Skipped: the pod must not be disrupted (karpenter.sh/do-not-disrupt), or, for
	// DeletePending, it is scheduled already; nothing was attempted.
	Skipped Result = "skipped"
)

// Outcome is the typed result of one request.
type Outcome struct {
	Result Result
	// Err is the API error of Blocked and Failed (nil otherwise).
	Err error
}

// Done reports whether the pod is on its way out or already gone.
func (o Outcome) Done() bool { return o.Result == Evicted || o.Result == Gone }

// Request is one pod to remove.
type Request struct {
	// Pod is the pod, as last read: its UID (and, for DeletePending, its
	// resourceVersion) are the preconditions.
	Pod *podstore.Pod
	// Cause labels the metric.
	Cause string
	// Before, when set, runs just before the API call (e.g. to record the pod's
	// departure in its placement ledger); the function it returns, when not nil, runs
	// when the pod stays after all (blocked or failed).
	Before func(ctx context.Context) (undo func(context.Context))
	// BlockedReason and BlockedNote are the Warning event recorded on the pod when a
	// PodDisruptionBudget refuses; BlockedReason and a generic note when empty.
	BlockedReason, BlockedNote string
}

// Evictor removes pods. The zero value with a Client works; without a Recorder no
// events are recorded.
type Evictor struct {
	// Client creates evictions and deletes pods.
	Client client.Client
	// Recorder records the Warning event of a blocked eviction on the pod.
	Recorder events.EventRecorder
}

// Protected reports whether Karpenter's do-not-disrupt annotation protects the pod.
func Protected(pod *podstore.Pod) bool {
	return pod.Annotations[DoNotDisruptAnnotation] == "true"
}

// Evict evicts the pod through the Eviction API with its UID as precondition, so that
// PodDisruptionBudgets apply and a pod recreated under the same name is left alone.
// A pod protected by karpenter.sh/do-not-disrupt is Skipped without a call.
func (e *Evictor) Evict(ctx context.Context, req Request) Outcome {
	pod := req.Pod
	if Protected(pod) {
		return Outcome{Result: Skipped}
	}
	uid := pod.UID
	return e.do(ctx, req, func() error {
		return e.Client.SubResource("eviction").Create(ctx, pod.Object(), &policyv1.Eviction{
			ObjectMeta:    metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
			DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}},
		})
	})
}

// DeletePending deletes a pod that is not scheduled, with its UID and resourceVersion
// as preconditions: a pod bound to a node since it was read fails the precondition
// (Gone) and keeps running. A Pending pod is not running anything that a
// PodDisruptionBudget protects, so it is deleted rather than evicted (the Eviction API
// takes no resourceVersion precondition from every server version). A pod with a node
// already, or terminating, is Skipped.
func (e *Evictor) DeletePending(ctx context.Context, req Request) Outcome {
	pod := req.Pod
	if pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil {
		return Outcome{Result: Skipped}
	}
	uid, rv := pod.UID, pod.ResourceVersion
	return e.do(ctx, req, func() error {
		return e.Client.Delete(ctx, pod.Object(), client.Preconditions{UID: &uid, ResourceVersion: &rv})
	})
}

func (e *Evictor) do(ctx context.Context, req Request, call func() error) Outcome {
	var undo func(context.Context)
	if req.Before != nil {
		undo = req.Before(ctx)
	}
	err := call()
	out := classify(err)
	metrics.Evictions.WithLabelValues(req.Cause, string(out.Result)).Inc()
	if !out.Done() && undo != nil {
		undo(ctx)
	}
	if out.Result == Blocked && e.Recorder != nil {
		reason, note := req.BlockedReason, req.BlockedNote
		if reason == "" {
			reason = BlockedReason
		}
		if note == "" {
			note = "Eviction (" + req.Cause + ") blocked by a PodDisruptionBudget; Ballast tries again later"
		}
		e.Recorder.Eventf(req.Pod.Object(), nil, corev1.EventTypeWarning, reason, "Evict", "%s", note)
	}
	return out
}

// classify maps an API error to a Result.
func classify(err error) Outcome {
	switch {
	case err == nil:
		return Outcome{Result: Evicted}
	case apierrors.IsTooManyRequests(err):
		return Outcome{Result: Blocked, Err: err}
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return Outcome{Result: Gone}
	default:
		return Outcome{Result: Failed, Err: err}
	}
}
