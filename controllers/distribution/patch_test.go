package distribution

import (
	"encoding/json"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

// TestPlacementPatchMakesThePlacedPod: the patch the webhook answers with, applied
// to the pod as the API server sent it (with the JSON patch library the API server
// uses), gives exactly the placed pod, whatever the pod had already (labels, a node
// selector, tolerations, affinities, spread constraints) and whatever the decision,
// and keeps fields of the request that this build's Pod type does not know, and
// those the webhook does not decode (containers).
func TestPlacementPatchMakesThePlacedPod(t *testing.T) {
	w := &Workload{Kind: KindDeployment, Namespace: "ns", Name: "web", MatchLabels: map[string]string{"app": "web"}}
	bare := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "ns"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
	full := *bare.DeepCopy()
	full.Labels = map[string]string{"app": "web", "tier": "front"}
	full.Annotations = map[string]string{"note": "x"}
	full.Spec.NodeSelector = map[string]string{"kubernetes.io/arch": "arm64"}
	full.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
	full.Spec.Affinity = &corev1.Affinity{
		PodAffinity: &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 10, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "zone"}}}},
		PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "zone"}}},
	}
	full.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 2, TopologyKey: "zone", WhenUnsatisfiable: corev1.ScheduleAnyway}}
	for _, pod := range []corev1.Pod{bare, full} {
		for _, strategy := range []v1alpha1.Strategy{v1alpha1.CostOptimized, v1alpha1.LeastInterrupted} {
			for _, d := range []split.Decision{{Capacity: v1alpha1.CapacitySpot, Reason: split.ReasonSplit}, {Capacity: v1alpha1.CapacityOnDemand, Reason: split.ReasonBase}} {
				raw, err := json.Marshal(pod)
				if err != nil {
					t.Fatal(err)
				}
				// A field from a newer API than this build's.
				var generic map[string]any
				if err := json.Unmarshal(raw, &generic); err != nil {
					t.Fatal(err)
				}
				generic["spec"].(map[string]any)["futureField"] = map[string]any{"kept": true}
				raw, _ = json.Marshal(generic)

				// As the webhook does: the pod decoded as far as placing needs, a copy
				// of it placed, the patch between the two.
				admitted, err := decodePlaced(raw)
				if err != nil {
					t.Fatal(err)
				}
				out := admitted.DeepCopy()
				apply(out, w, split.Rule{Strategy: strategy}, d, "admission-1")
				resp := placementPatch(admitted, out)
				placed := pod.DeepCopy()
				apply(placed, w, split.Rule{Strategy: strategy}, d, "admission-1")
				ops, err := json.Marshal(resp.Patches)
				if err != nil {
					t.Fatal(err)
				}
				patch, err := jsonpatch.DecodePatch(ops)
				if err != nil {
					t.Fatal(err)
				}
				patched, err := patch.Apply(raw)
				if err != nil {
					t.Fatalf("%s, %s, %s: the API server could not apply %s: %v", pod.Name, strategy, d.Capacity, ops, err)
				}
				var got corev1.Pod
				if err := json.Unmarshal(patched, &got); err != nil {
					t.Fatal(err)
				}
				if !apiequality.Semantic.DeepEqual(&got, placed) {
					t.Errorf("%s, %s, %s: the patch %s gives\n%+v\nwant\n%+v", pod.Name, strategy, d.Capacity, ops, got.Spec, placed.Spec)
				}
				var back map[string]any
				_ = json.Unmarshal(patched, &back)
				if _, ok := back["spec"].(map[string]any)["futureField"]; !ok {
					t.Errorf("%s, %s, %s: the patch %s lost a field this build does not know", pod.Name, strategy, d.Capacity, ops)
				}
			}
		}
	}
	if resp := placementPatch(&bare, bare.DeepCopy()); len(resp.Patches) != 0 || !resp.Allowed {
		t.Errorf("an unchanged pod got a patch: %+v", resp)
	}
}
