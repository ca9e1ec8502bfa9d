package distribution

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/metrics"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// TestSplitStatusAndSeries: a pass records the workload's reasons in its status entry
// and its desired and observed split as series; the series go when the workload does.
func TestSplitStatusAndSeries(t *testing.T) {
	f := newDriftFixture(t, true, nil, corev1.PodSpec{})
	f.pod(t, v1alpha1.CapacitySpot, corev1.PodSpec{})
	f.pod(t, v1alpha1.CapacitySpot, corev1.PodSpec{})
	f.pod(t, "", corev1.PodSpec{})
	f.reconcile(t)

	var p v1alpha1.ClusterPolicy
	if err := f.c.Get(context.Background(), client.ObjectKey{Name: "prod"}, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Status.Workloads) != 1 {
		t.Fatalf("status.workloads = %+v", p.Status.Workloads)
	}
	if got := p.Status.Workloads[0].Reasons; got["split"] != 2 || got[NoReason] != 1 || len(got) != 2 {
		t.Fatalf("reasons = %v, want split 2 and none 1", got)
	}
	series := func(capacity, which string) float64 {
		return testutil.ToFloat64(metrics.WorkloadReplicas.WithLabelValues("shop", KindDeployment, "web", capacity, which))
	}
	if series(v1alpha1.CapacitySpot, "desired") != 4 || series(v1alpha1.CapacitySpot, "observed") != 2 || series(v1alpha1.CapacityOnDemand, "observed") != 1 {
		t.Fatalf("series: desired spot %v, observed spot %v, observed on-demand %v", series(v1alpha1.CapacitySpot, "desired"),
			series(v1alpha1.CapacitySpot, "observed"), series(v1alpha1.CapacityOnDemand, "observed"))
	}
	if d := testutil.ToFloat64(metrics.WorkloadDrift.WithLabelValues("shop", KindDeployment, "web")); d != 1 {
		t.Fatalf("drift = %v, want 1 (one On-Demand replica beyond the split)", d)
	}

	if err := f.c.Delete(context.Background(), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}}); err != nil {
		t.Fatal(err)
	}
	f.reconcile(t)
	web := prometheus.Labels{"namespace": "shop", "workload": "web"}
	if n := metrics.WorkloadReplicas.DeletePartialMatch(web); n != 0 {
		t.Fatalf("%d ballast_workload_replicas series left after the workload went", n)
	}
	if n := metrics.WorkloadDrift.DeletePartialMatch(web); n != 0 {
		t.Fatalf("%d ballast_workload_drift_replicas series left after the workload went", n)
	}
}
