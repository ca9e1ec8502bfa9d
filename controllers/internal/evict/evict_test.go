package evict

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/metrics"
)

// recorder records the reasons of events.
type recorder struct{ reasons []string }

func (r *recorder) Eventf(_, _ runtime.Object, _, reason, _, _ string, _ ...any) {
	r.reasons = append(r.reasons, reason)
}

func testPod(annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1", Annotations: annotations}}
}

// TestEvictOutcomes: each answer of the Eviction API maps to its result, is counted,
// runs the undo of Before only when the pod stays, and a refusal by a
// PodDisruptionBudget records a Warning on the pod.
func TestEvictOutcomes(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	for _, tc := range []struct {
		name      string
		err       error
		pod       *corev1.Pod
		want      Result
		calls     int
		undone    bool
		events    []string
		countedAs string
	}{
		{"accepted", nil, testPod(nil), Evicted, 1, false, nil, "evicted"},
		{"429: a PodDisruptionBudget", apierrors.NewTooManyRequests("pdb", 10), testPod(nil), Blocked, 1, true, []string{"Held"}, "blocked"},
		{"404: gone", apierrors.NewNotFound(gr, "p"), testPod(nil), Gone, 1, false, nil, "gone"},
		{"409: another pod under the name", apierrors.NewConflict(gr, "p", errors.New("uid")), testPod(nil), Gone, 1, false, nil, "gone"},
		{"500", apierrors.NewInternalError(errors.New("boom")), testPod(nil), Failed, 1, true, nil, "failed"},
		{"do-not-disrupt", nil, testPod(map[string]string{DoNotDisruptAnnotation: "true"}), Skipped, 0, false, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			var uid string
			c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithInterceptorFuncs(interceptor.Funcs{
				SubResourceCreate: func(_ context.Context, _ client.Client, sub string, _ client.Object, in client.Object, _ ...client.SubResourceCreateOption) error {
					calls++
					if sub != "eviction" {
						t.Errorf("subresource %q", sub)
					}
					if e, ok := in.(*policyv1.Eviction); ok {
						uid = string(*e.DeleteOptions.Preconditions.UID)
					}
					return tc.err
				},
			}).Build()
			rec := &recorder{}
			e := &Evictor{Client: c, Recorder: rec}
			before := testutil.ToFloat64(metrics.Evictions.WithLabelValues("test", tc.countedAs))
			undone := false
			out := e.Evict(context.Background(), Request{Pod: podstore.FromPod(tc.pod), Cause: "test", BlockedReason: "Held",
				Before: func(context.Context) func(context.Context) { return func(context.Context) { undone = true } }})
			if out.Result != tc.want || calls != tc.calls || undone != tc.undone {
				t.Fatalf("result %s, calls %d, undone %v; want %s, %d, %v", out.Result, calls, undone, tc.want, tc.calls, tc.undone)
			}
			if tc.calls > 0 && uid != "u1" {
				t.Errorf("precondition UID %q, want u1", uid)
			}
			if len(rec.reasons) != len(tc.events) || (len(tc.events) > 0 && rec.reasons[0] != tc.events[0]) {
				t.Errorf("events %v, want %v", rec.reasons, tc.events)
			}
			if tc.countedAs != "" {
				if got := testutil.ToFloat64(metrics.Evictions.WithLabelValues("test", tc.countedAs)) - before; got != 1 {
					t.Errorf("counted %v times as %s", got, tc.countedAs)
				}
			}
		})
	}
}

// TestDeletePendingPreconditions: an unscheduled pod is deleted with its UID and
// resourceVersion as preconditions; a scheduled one is never touched.
func TestDeletePendingPreconditions(t *testing.T) {
	var got client.Preconditions
	calls := 0
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithInterceptorFuncs(interceptor.Funcs{
		Delete: func(_ context.Context, _ client.WithWatch, _ client.Object, opts ...client.DeleteOption) error {
			calls++
			o := &client.DeleteOptions{}
			o.ApplyOptions(opts)
			if o.Preconditions != nil {
				got = client.Preconditions(*o.Preconditions)
			}
			return nil
		},
	}).Build()
	e := &Evictor{Client: c}
	p := testPod(nil)
	p.ResourceVersion = "7"
	if out := e.DeletePending(context.Background(), Request{Pod: podstore.FromPod(p), Cause: "test"}); out.Result != Evicted {
		t.Fatalf("result %s", out.Result)
	}
	if got.UID == nil || *got.UID != "u1" || got.ResourceVersion == nil || *got.ResourceVersion != "7" {
		t.Fatalf("preconditions %+v", got)
	}
	p.Spec.NodeName = "n1"
	if out := e.DeletePending(context.Background(), Request{Pod: podstore.FromPod(p), Cause: "test"}); out.Result != Skipped || calls != 1 {
		t.Fatalf("scheduled pod: result %s, %d calls", out.Result, calls)
	}
}
