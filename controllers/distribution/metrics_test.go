package distribution

import (
	"context"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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
	// The series as scraped.
	series := func(name string, labels ...string) float64 {
		t.Helper()
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(metrics.WorkloadReplicas, metrics.WorkloadDrift)
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		want := append([]string{"shop", KindDeployment, "web"}, labels...)
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.Metric {
				var got []string
				for _, l := range m.Label {
					got = append(got, l.GetValue())
				}
				// Labels come sorted by name: capacity_type, kind, namespace, split, workload.
				if (len(labels) == 0 && slices.Equal(got, []string{KindDeployment, "shop", "web"})) ||
					(len(labels) == 2 && slices.Equal(got, []string{labels[0], KindDeployment, "shop", labels[1], "web"})) {
					return m.GetGauge().GetValue()
				}
			}
		}
		t.Fatalf("no %s series %v", name, want)
		return 0
	}
	replicas := func(capacity, which string) float64 { return series("ballast_workload_replicas", capacity, which) }
	if replicas(v1alpha1.CapacitySpot, "desired") != 4 || replicas(v1alpha1.CapacitySpot, "observed") != 2 || replicas(v1alpha1.CapacityOnDemand, "observed") != 1 {
		t.Fatalf("series: desired spot %v, observed spot %v, observed on-demand %v", replicas(v1alpha1.CapacitySpot, "desired"),
			replicas(v1alpha1.CapacitySpot, "observed"), replicas(v1alpha1.CapacityOnDemand, "observed"))
	}
	if d := series("ballast_workload_drift_replicas"); d != 1 {
		t.Fatalf("drift = %v, want 1 (one On-Demand replica beyond the split)", d)
	}

	if err := f.c.Delete(context.Background(), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}}); err != nil {
		t.Fatal(err)
	}
	f.reconcile(t)
	if _, ok := metrics.WorkloadSplits.Get("shop", KindDeployment, "web"); ok {
		t.Fatal("the workload's series are still exported after it went")
	}
}
