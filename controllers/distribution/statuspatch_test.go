package distribution

import (
	"encoding/json"
	"reflect"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// TestWorkloadsPatch: the status write's merge patch changes the workloads list and
// nothing else of the object, removes the list when it empties, and carries the
// resourceVersion read (the optimistic lock).
func TestWorkloadsPatch(t *testing.T) {
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "p", ResourceVersion: "41", Labels: map[string]string{"a": "b"}},
		Spec:       v1alpha1.ClusterPolicySpec{Cluster: v1alpha1.ClusterIdentity{Name: "c", Region: "eu-west-1"}},
		Status: v1alpha1.ClusterPolicyStatus{
			Workloads: []v1alpha1.WorkloadPlacement{{Kind: KindDeployment, Namespace: "shop", Name: "old", Replicas: 2}},
			Fallback:  &v1alpha1.FallbackStatus{State: v1alpha1.FallbackFallenBack},
		},
	}
	doc, err := json.Marshal(policy)
	if err != nil {
		t.Fatal(err)
	}
	for _, list := range [][]v1alpha1.WorkloadPlacement{
		{{Kind: KindDeployment, Namespace: "shop", Name: "web", Replicas: 10, Desired: v1alpha1.PlacementCounts{OnDemand: 3, Spot: 7}}},
		{},
		nil,
	} {
		patch, err := workloadsPatch("41", list)
		if err != nil {
			t.Fatal(err)
		}
		patched, err := jsonpatch.MergePatch(doc, patch)
		if err != nil {
			t.Fatal(err)
		}
		var got v1alpha1.ClusterPolicy
		if err := json.Unmarshal(patched, &got); err != nil {
			t.Fatal(err)
		}
		want := policy.DeepCopy()
		want.Status.Workloads = list
		if len(list) == 0 {
			want.Status.Workloads = nil
		}
		if !reflect.DeepEqual(&got, want) {
			t.Errorf("patch %s gives %+v, want %+v", patch, got, want)
		}
		var fields map[string]any
		_ = json.Unmarshal(patched, &fields)
		if _, kept := fields["status"].(map[string]any)["workloads"]; kept != (len(list) > 0) {
			t.Errorf("patch %s: status.workloads present %v with %d entries", patch, kept, len(list))
		}
		var p struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(patch, &p); err != nil || p.Metadata.ResourceVersion != "41" {
			t.Errorf("patch %s does not carry the resourceVersion read", patch)
		}
	}
}
