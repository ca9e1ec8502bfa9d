package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/localcluster"
)

// smokeTaint keeps other tests' pods off the smoke tests' NodePool.
var smokeTaint = corev1.Taint{Key: "e2e.ballast.dev/smoke", Value: "true", Effect: corev1.TaintEffectNoSchedule}

// smokeDeployment is a deployment that runs on the smoke tests' NodePool (it tolerates
// its taint and, unless it selects a dedicated pool, selects it, so it never uses spare
// room on Ballast's pools).
func smokeDeployment(ns, name string, replicas int32, cpu string, nodeSelector map[string]string) *appsv1.Deployment {
	d := deployment(ns, name, replicas, cpu, nodeSelector)
	if _, dedicated := nodeSelector["ballast.dev/e2e-pool"]; !dedicated {
		if d.Spec.Template.Spec.NodeSelector == nil {
			d.Spec.Template.Spec.NodeSelector = map[string]string{}
		}
		d.Spec.Template.Spec.NodeSelector[karpv1.NodePoolLabelKey] = "default"
	}
	d.Spec.Template.Spec.Tolerations = append(d.Spec.Template.Spec.Tolerations, corev1.Toleration{
		Key: smokeTaint.Key, Operator: corev1.TolerationOpEqual, Value: smokeTaint.Value, Effect: smokeTaint.Effect,
	})
	return d
}

func deployment(ns, name string, replicas int32, cpu string, nodeSelector map[string]string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector:                  nodeSelector,
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					Containers: []corev1.Container{{
						Name: "app", Image: "registry.example/app:1",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}},
					}},
				},
			},
		},
	}
}

func newNamespace(t testing.TB) string {
	t.Helper()
	ns, err := kube.NewNamespace(context.Background(), "e2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	})
	return ns
}

// dedicatedPool creates a NodePool whose nodes carry the label ballast.dev/e2e-pool=ns,
// so that pods selecting it need new nodes rather than reusing another test's.
func dedicatedPool(t testing.TB, ns string, capacityTypes ...string) map[string]string {
	t.Helper()
	np := localcluster.NodePool(ns, "10s", capacityTypes...)
	np.Spec.Template.Labels = map[string]string{"ballast.dev/e2e-pool": ns}
	if err := kube.Client.Create(context.Background(), np); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.Client.Delete(context.Background(), np) })
	return map[string]string{"ballast.dev/e2e-pool": ns}
}

func appSelector(name string) labels.Selector { return labels.SelectorFromSet(labels.Set{"app": name}) }

// nodesOf returns the distinct nodes the pods run on.
func nodesOf(pods []corev1.Pod) map[string]bool {
	out := map[string]bool{}
	for _, p := range pods {
		out[p.Spec.NodeName] = true
	}
	return out
}

// TestDeploymentRunsOnKarpenterNodesAndConsolidates: ten 1-CPU replicas become Running
// on nodes Karpenter launched; scaled to two, Karpenter removes the nodes left empty.
func TestDeploymentRunsOnKarpenterNodesAndConsolidates(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	start := time.Now()
	web := smokeDeployment(ns, "web", 10, "1", nil)
	// One replica per node, so that scaling down leaves whole nodes empty.
	web.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			TopologyKey:   corev1.LabelHostname,
		}},
	}}
	if err := kube.Client.Create(ctx, web); err != nil {
		t.Fatal(err)
	}
	pods, err := kube.WaitPodsRunning(ctx, ns, appSelector("web"), 10, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("10 replicas Running %s after the Deployment was created", time.Since(start).Round(100*time.Millisecond))
	for _, p := range pods {
		node, err := kube.NodeOf(ctx, &p)
		if err != nil {
			t.Fatal(err)
		}
		if node.Labels[karpv1.NodePoolLabelKey] != "default" {
			t.Errorf("pod %s runs on %s, which Karpenter did not launch (labels %v)", p.Name, node.Name, node.Labels)
		}
	}
	before := nodesOf(pods)
	if len(before) != 10 {
		t.Fatalf("10 replicas with hostname anti-affinity run on %d nodes", len(before))
	}

	scale(t, ns, "web", 2)
	if _, err := kube.WaitPodsRunning(ctx, ns, appSelector("web"), 2, time.Minute); err != nil {
		t.Fatal(err)
	}
	// Consolidation: every Karpenter node that held only this test's pods and is now
	// empty goes away; what remains hosts the two replicas.
	err = kube.Eventually(ctx, "Karpenter to remove the emptied nodes", 4*time.Minute, func(ctx context.Context) (bool, string, error) {
		running, err := kube.RunningPods(ctx, ns, appSelector("web"))
		if err != nil {
			return false, "", err
		}
		var nodes corev1.NodeList
		if err := kube.Client.List(ctx, &nodes, client.HasLabels{karpv1.NodePoolLabelKey}); err != nil {
			return false, "", err
		}
		inUse := nodesOf(running)
		empty := 0
		for _, n := range nodes.Items {
			if before[n.Name] && !inUse[n.Name] {
				empty++
			}
		}
		return empty == 0 && len(running) == 2,
			fmt.Sprintf("%d emptied nodes remain, replicas on %d nodes", empty, len(inUse)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSpotNodeSelector: a pod that asks for Spot lands on a Spot node Karpenter launched.
func TestSpotNodeSelector(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	sel := map[string]string{karpv1.CapacityTypeLabelKey: karpv1.CapacityTypeSpot}
	if err := kube.Client.Create(ctx, smokeDeployment(ns, "spot", 1, "500m", sel)); err != nil {
		t.Fatal(err)
	}
	pods, err := kube.WaitPodsRunning(ctx, ns, appSelector("spot"), 1, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	node, err := kube.NodeOf(ctx, &pods[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := node.Labels[karpv1.CapacityTypeLabelKey]; got != karpv1.CapacityTypeSpot {
		t.Fatalf("pod runs on a %q node, want spot", got)
	}
}

// TestSpotCapacityUnavailable: with Spot unavailable everywhere, a Spot-only pod stays
// pending and Karpenter's launches fail for insufficient capacity; once Spot is
// available again, the pod runs on Spot.
func TestSpotCapacityUnavailable(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	if err := kube.SetUnavailable(localcluster.Pool{CapacityType: karpv1.CapacityTypeSpot}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.SetUnavailable() })
	sel := dedicatedPool(t, ns)
	sel[karpv1.CapacityTypeLabelKey] = karpv1.CapacityTypeSpot
	d := smokeDeployment(ns, "ice", 1, "3", sel)
	if err := kube.Client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	err := kube.Eventually(ctx, "a Karpenter event reporting insufficient capacity", 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		var events corev1.EventList
		if err := kube.Client.List(ctx, &events); err != nil {
			return false, "", err
		}
		var reasons []string
		for _, e := range events.Items {
			if e.Reason == "InsufficientCapacityError" && strings.Contains(e.Message, "InsufficientInstanceCapacity") {
				return true, "", nil
			}
			reasons = append(reasons, e.Reason)
		}
		return false, fmt.Sprintf("event reasons %v", reasons), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	running, err := kube.RunningPods(ctx, ns, appSelector("ice"))
	if err != nil {
		t.Fatal(err)
	}
	if len(running) != 0 {
		t.Fatalf("a Spot pod runs on %s although Spot is unavailable", running[0].Spec.NodeName)
	}
	if err := kube.SetUnavailable(); err != nil {
		t.Fatal(err)
	}
	pods, err := kube.WaitPodsRunning(ctx, ns, appSelector("ice"), 1, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	node, err := kube.NodeOf(ctx, &pods[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := node.Labels[karpv1.CapacityTypeLabelKey]; got != karpv1.CapacityTypeSpot {
		t.Fatalf("pod runs on a %q node, want spot", got)
	}
}

// TestWebhookCalledForReplicaSetPods: a mutating webhook served by the test process is
// called for the pods the ReplicaSet controller creates.
func TestWebhookCalledForReplicaSetPods(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	wh, err := kube.ServeMutatingWebhook(ctx, "label-"+ns, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		patch := []byte(`[{"op":"add","path":"/metadata/labels/mutated-by","value":"test-webhook"}]`)
		review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true, Patch: patch, PatchType: ptr.To(admissionv1.PatchTypeJSONPatch)}
		review.Request = nil
		_ = json.NewEncoder(w).Encode(review)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wh.Stop(context.Background()) })
	// Give the API server a moment to load the new configuration: retry until a pod
	// created through a Deployment carries the label.
	if err := kube.Client.Create(ctx, smokeDeployment(ns, "hooked", 2, "100m", nil)); err != nil {
		t.Fatal(err)
	}
	err = kube.Eventually(ctx, "pods created by the ReplicaSet controller to be mutated", time.Minute, func(ctx context.Context) (bool, string, error) {
		var pods corev1.PodList
		if err := kube.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "hooked"}); err != nil {
			return false, "", err
		}
		mutated := 0
		for _, p := range pods.Items {
			if p.Labels["mutated-by"] == "test-webhook" {
				mutated++
			}
		}
		if mutated < len(pods.Items) && len(pods.Items) > 0 {
			// Pods created before the configuration was loaded: recreate them.
			for _, p := range pods.Items {
				if p.Labels["mutated-by"] == "" {
					_ = kube.Client.Delete(ctx, &p)
				}
			}
		}
		return mutated == 2, fmt.Sprintf("%d of %d pods mutated", mutated, len(pods.Items)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
