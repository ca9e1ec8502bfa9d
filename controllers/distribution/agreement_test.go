package distribution_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ballast-dev/ballast/controllers/distribution"
	"github.com/ballast-dev/ballast/controllers/internal/scope"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
)

// TestEstimateAgreesWithWebhook is the promise behind `ballast estimate` and `ballast
// plan`: for any policy, rule, workload annotations and replica count, the split the
// cost estimate plans is exactly what the webhook's decisions add up to when the
// workload's pods are admitted one by one, for Deployments (ledger decisions) and
// StatefulSets (ordinal decisions).
func TestEstimateAgreesWithWebhook(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 17))
	selectors := []v1alpha1.SpotSelector{v1alpha1.All, v1alpha1.SpotReady, ""}
	annotationValues := []string{"", "0", "1", "3", "50", "100", "150", "-1", "x"}
	for run := range 150 {
		policy := &v1alpha1.ClusterPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "agree"},
			Spec: v1alpha1.ClusterPolicySpec{
				Cluster:   v1alpha1.ClusterIdentity{Name: "agree", Region: "eu-west-1"},
				NodeClass: v1alpha1.NodeClassSpec{Role: "r"},
				Spot:      v1alpha1.SpotSpec{Enabled: ptr.To(rng.IntN(10) > 0)},
				Distribution: v1alpha1.DistributionSpec{
					BaseOnDemand: ptr.To(rng.Int32N(4)), OnDemandPercent: ptr.To(rng.Int32N(101)), Selector: selectors[rng.IntN(3)],
				},
			},
		}
		var rules []*v1alpha1.WorkloadDistributionRule
		if rng.IntN(2) == 0 {
			r := &v1alpha1.WorkloadDistributionRule{
				ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
				Spec: v1alpha1.WorkloadDistributionRuleSpec{DistributionSpec: v1alpha1.DistributionSpec{
					BaseOnDemand: ptr.To(rng.Int32N(5)), OnDemandPercent: ptr.To(rng.Int32N(101)), Selector: selectors[rng.IntN(3)],
				}},
			}
			if rng.IntN(2) == 0 {
				r.Spec.WorkloadSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
			}
			if rng.IntN(4) == 0 {
				r.Spec.Clusters = []string{"elsewhere"}
			}
			rules = append(rules, r)
		}
		annotations := map[string]string{}
		for _, key := range []string{v1alpha1.BaseOnDemandAnnotation, v1alpha1.OnDemandPercentAnnotation} {
			if v := annotationValues[rng.IntN(len(annotationValues))]; v != "" {
				annotations[key] = v
			}
		}
		if rng.IntN(8) == 0 {
			annotations[v1alpha1.SpotAnnotation] = "never"
		}
		replicas := rng.Int32N(25)
		kind := distribution.KindDeployment
		if rng.IntN(3) == 0 {
			kind = distribution.KindStatefulSet
		}
		name := fmt.Sprintf("run %d (%s, %d replicas, policy %+v, rules %d, annotations %v)", run, kind, replicas, policy.Spec.Distribution, len(rules), annotations)

		webhook := admitAll(t, policy, rules, kind, replicas, annotations)
		app := cost.App{Namespace: "shop", Name: "web", Kind: kind, Labels: map[string]string{"app": "web"}, Annotations: annotations,
			Replicas: int(replicas), Requests: cost.Resources{MilliCPU: 100, Memory: 128 << 20}}
		report, err := cost.EstimateForPolicy(policy, rules, &cost.Workload{Apps: []cost.App{app}}, cost.DefaultCatalogue())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var planned [2]int
		for _, a := range report.Workloads {
			if a.Namespace == "shop" && a.Workload == "web" {
				planned = [2]int{a.OnDemandReplicas, a.SpotReplicas}
			}
		}
		if planned != webhook {
			t.Fatalf("%s: the estimate plans %d on-demand / %d spot, the webhook placed %d / %d", name, planned[0], planned[1], webhook[0], webhook[1])
		}
	}
}

// admitAll creates the workload in a fake API server and admits its pods one by one
// through the webhook, returning the On-Demand and Spot counts it placed.
func admitAll(t *testing.T, policy *v1alpha1.ClusterPolicy, rules []*v1alpha1.WorkloadDistributionRule, kind string, replicas int32, annotations map[string]string) [2]int {
	t.Helper()
	labels := map[string]string{"app": "web"}
	meta := metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: types.UID("uid-web"), Labels: labels, Annotations: annotations}
	template := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
	sel := &metav1.LabelSelector{MatchLabels: labels}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled}}},
		policy.DeepCopy(),
	}
	for _, r := range rules {
		objs = append(objs, r.DeepCopy())
	}
	for _, np := range ballastPools(t, policy) {
		objs = append(objs, np)
	}
	var owner metav1.OwnerReference
	if kind == distribution.KindStatefulSet {
		objs = append(objs, &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(replicas), Selector: sel, Template: template}})
		owner = metav1.OwnerReference{APIVersion: "apps/v1", Kind: kind, Name: "web", UID: meta.UID, Controller: ptr.To(true)}
	} else {
		objs = append(objs, &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: sel, Template: template}})
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "uid-rs", Labels: labels, OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: distribution.KindDeployment, Name: "web", UID: meta.UID, Controller: ptr.To(true),
			}}},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas), Selector: sel, Template: template},
		}
		objs = append(objs, rs)
		owner = metav1.OwnerReference{APIVersion: "apps/v1", Kind: distribution.KindReplicaSet, Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}
	}
	c := fake.NewClientBuilder().WithScheme(controlplane.Scheme).WithObjects(objs...).Build()
	p := &distribution.Placer{Client: c, API: c, Cluster: policy.Spec.Cluster.Name, Scope: scope.Scope{Own: "ballast-system"}, Timeout: 10 * time.Second}
	var got [2]int
	for i := range replicas {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("web-%d", i), Labels: labels, OwnerReferences: []metav1.OwnerReference{owner}},
			Spec:       template.Spec,
		}
		switch capacityFromPatch(t, handle(t, p, pod)) {
		case v1alpha1.CapacityOnDemand:
			got[0]++
		case v1alpha1.CapacitySpot:
			got[1]++
		default:
			t.Fatalf("pod %s was not placed", pod.Name)
		}
	}
	return got
}
