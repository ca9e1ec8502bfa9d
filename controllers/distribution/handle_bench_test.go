package distribution_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ballast-dev/ballast/controllers/distribution"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// BenchmarkPlacerAnswer measures the Placer's answer to one pod admission in process,
// the part of BenchmarkAdmission that is Ballast's own: the elected decider decides
// from memory, reading the workload, its rule and the NodePools from an informer
// cache, and answers with a JSON patch. The pods are dry-run admissions of one
// ReplicaSet (so that nothing accumulates between iterations), shaped like an
// application pod with a sidecar. status=full runs it again once the ClusterPolicy's
// status lists as many workloads, cost shares and workloads on fallback as it may
// (a large cluster's): the answer must not grow with it.
//
//	go test -run '^$' -bench BenchmarkPlacerAnswer -benchmem ./controllers/distribution/
func BenchmarkPlacerAnswer(b *testing.B) {
	const cluster = "answer"
	ns, rs := fixture(b, cluster, 1000, 2, 30)
	r := newReplica(b, cluster, recordNamespace(b), "a", newServingCert(b))
	r.elect(b)
	waitCached(b, r.placer.Client, rs)
	pod := replicaSetPod(ns, rs)
	pod.Spec = realisticSpec()
	raw, err := json.Marshal(pod)
	if err != nil {
		b.Fatal(err)
	}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: uuid.NewUUID(), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, DryRun: ptr.To(true),
		Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
	}}
	ctx := context.Background()
	handle := func() error {
		if resp := r.placer.Handle(ctx, req); len(resp.Patches) == 0 {
			return fmt.Errorf("the pod was not placed: %+v", resp.Result)
		}
		return nil
	}
	// The same admission as the API server sends it, through the webhook Ballast
	// registers: the AdmissionReview decoded, the answer encoded.
	review, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: req.UID, Kind: req.Kind, Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			RequestKind: &req.Kind, RequestResource: &metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: ns, Operation: admissionv1.Create, DryRun: req.DryRun, Object: req.Object,
			UserInfo: authenticationv1.UserInfo{Username: "system:serviceaccount:kube-system:replicaset-controller", Groups: []string{"system:serviceaccounts", "system:authenticated"}},
			Options:  runtime.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}`)},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	hook := distribution.Webhook(r.placer)
	serve := func() error {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, distribution.WebhookPath, bytes.NewReader(review))
		r.Header.Set("Content-Type", "application/json")
		hook.ServeHTTP(w, r)
		if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(`"patch":`)) {
			return fmt.Errorf("the pod was not placed: %d %s", w.Code, w.Body)
		}
		return nil
	}
	answer := func(once func() error) func(*testing.B) {
		return func(b *testing.B) {
			if err := once(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := once(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	fillPolicyStatus(b, r.placer.Client, cluster, 0, 0)
	b.Run("status=empty", answer(handle))
	b.Run("status=empty,via=http", answer(serve))
	fillPolicyStatus(b, r.placer.Client, cluster, 200, 50)
	b.Run("status=full", answer(handle))
}

// fillPolicyStatus writes the ClusterPolicy's status with workloads and cost shares
// (at most 200 and 50: as many as its schema allows) and waits for the cache to hold
// it.
func fillPolicyStatus(b *testing.B, cached client.Reader, cluster string, workloads, shares int) {
	b.Helper()
	ctx := context.Background()
	var policy v1alpha1.ClusterPolicy
	if err := env.Client.Get(ctx, client.ObjectKey{Name: cluster}, &policy); err != nil {
		b.Fatal(err)
	}
	now := metav1.Now()
	status := &policy.Status
	status.Workloads, status.Cost = nil, nil
	for i := range workloads {
		status.Workloads = append(status.Workloads, v1alpha1.WorkloadPlacement{Kind: "Deployment", Namespace: "shop", Name: fmt.Sprintf("service-%04d", i),
			Replicas: 10, Desired: v1alpha1.PlacementCounts{OnDemand: 3, Spot: 7}, Observed: v1alpha1.PlacementCounts{OnDemand: 3, Spot: 7},
			LastUpdateTime: &now})
	}
	if shares > 0 {
		status.Cost = &v1alpha1.CostStatus{ObservedTime: now, Prices: "live", MonthlyPotential: "30000.00", MonthlyActual: "12000.00",
			MonthlySavings: "18000.00", SpotSavings: "18000.00", CommitmentSavings: "0.00"}
	}
	for i := range shares {
		status.Cost.Workloads = append(status.Cost.Workloads, v1alpha1.CostShare{Namespace: "shop", Workload: fmt.Sprintf("Deployment/service-%04d", i),
			MonthlyCost: "1234.56", MonthlySavings: "456.78"})
	}
	if err := env.Client.Status().Update(ctx, &policy); err != nil {
		b.Fatal(err)
	}
	poll(b, "the cache to hold the ClusterPolicy's status", func() (bool, error) {
		var got v1alpha1.ClusterPolicy
		err := cached.Get(ctx, client.ObjectKey{Name: cluster}, &got)
		return err == nil && len(got.Status.Workloads) == workloads && (got.Status.Cost != nil) == (shares > 0), err
	})
}

// realisticSpec is an application container and a proxy sidecar as a ReplicaSet
// writes them: images, ports, env, probes, resources, mounts.
func realisticSpec() corev1.PodSpec {
	container := func(name, image string, port int32) corev1.Container {
		return corev1.Container{
			Name: name, Image: image, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}},
			Env:            []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(port)}}, PeriodSeconds: 5},
			LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromInt32(port)}}, PeriodSeconds: 10},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi"),
			}},
			VolumeMounts:             []corev1.VolumeMount{{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
			TerminationMessagePath:   "/dev/termination-log",
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			ImagePullPolicy:          corev1.PullIfNotPresent,
		}
	}
	return corev1.PodSpec{
		Containers:         []corev1.Container{container("app", "registry.example.com/team/app:1.42.0", 8080), container("proxy", "registry.example.com/mesh/proxy:1.20.1", 15001)},
		ServiceAccountName: "app", RestartPolicy: corev1.RestartPolicyAlways, DNSPolicy: corev1.DNSClusterFirst,
		TerminationGracePeriodSeconds: ptr.To[int64](30), SchedulerName: corev1.DefaultSchedulerName,
		Volumes: []corev1.Volume{{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}}},
		}}}},
	}
}
