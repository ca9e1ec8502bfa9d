package render

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kwokv1alpha1 "sigs.k8s.io/karpenter/kwok/apis/v1alpha1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// TestKwokTarget: for Karpenter's kwok provider, the node class is a KWOKNodeClass, the
// NodePools reference it and ask for what kwok's catalogue carries, and the rest is
// what the AWS target renders.
func TestKwokTarget(t *testing.T) {
	p := &v1alpha1.ClusterPolicy{ObjectMeta: metav1.ObjectMeta{Name: "dev"}, Spec: v1alpha1.ClusterPolicySpec{
		Cluster:   v1alpha1.ClusterIdentity{Name: "dev", Region: "eu-west-1"},
		NodeClass: v1alpha1.NodeClassSpec{Role: "r"},
		Instances: v1alpha1.InstancesSpec{
			Categories: []string{"c", "m", "r"}, Families: []string{"m6i"}, MinGeneration: ptr.To[int32](5),
			CPU: &v1alpha1.IntRange{Min: ptr.To[int32](2), Max: ptr.To[int32](16)}, Zones: []string{"eu-west-1a", "eu-west-1b"},
		},
	}}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	aws, err := Render(Input{Policy: p, Source: "local", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	kwok, err := Render(Input{Policy: p, Source: "local", Now: now, Target: TargetKwok})
	if err != nil {
		t.Fatal(err)
	}
	if len(aws) != len(kwok) {
		t.Fatalf("%d objects for AWS, %d for kwok", len(aws), len(kwok))
	}
	if nc, ok := kwok[0].(*kwokv1alpha1.KWOKNodeClass); !ok || nc.Name != "ballast-dev" {
		t.Fatalf("first object %T %s, want the KWOKNodeClass ballast-dev", kwok[0], kwok[0].GetName())
	}
	for i, o := range kwok {
		np, ok := o.(*karpv1.NodePool)
		if !ok {
			continue
		}
		ref := np.Spec.Template.Spec.NodeClassRef
		if ref.Kind != "KWOKNodeClass" || ref.Group != "karpenter.kwok.sh" || ref.Name != "ballast-dev" {
			t.Errorf("%s references %+v", np.Name, ref)
		}
		got := map[string][]string{}
		for _, r := range np.Spec.Template.Spec.Requirements {
			got[r.Key+" "+string(r.Operator)] = r.Values
		}
		want := map[string][]string{
			"karpenter.sh/capacity-type In":        got["karpenter.sh/capacity-type In"],
			"karpenter.kwok.sh/instance-family In": {"c", "m"},
			"karpenter.kwok.sh/instance-cpu Gt":    {"1"},
			"karpenter.kwok.sh/instance-cpu Lt":    {"17"},
			corev1.LabelTopologyZone + " In":       {"test-zone-a", "test-zone-b"},
			corev1.LabelArchStable + " In":         {"amd64"},
		}
		if len(got) != len(want) {
			t.Errorf("%s requirements %v, want %v", np.Name, got, want)
		}
		for k, v := range want {
			if g := got[k]; len(g) != len(v) || (len(v) > 0 && g[0] != v[0]) {
				t.Errorf("%s: %s = %v, want %v", np.Name, k, g, v)
			}
		}
		// Everything but the node class and requirements is as for AWS.
		a := aws[i].(*karpv1.NodePool).DeepCopy()
		k := np.DeepCopy()
		a.Spec.Template.Spec.NodeClassRef, k.Spec.Template.Spec.NodeClassRef = nil, nil
		a.Spec.Template.Spec.Requirements, k.Spec.Template.Spec.Requirements = nil, nil
		ma, _ := Marshal([]client.Object{a})
		mk, _ := Marshal([]client.Object{k})
		if string(ma) != string(mk) {
			t.Errorf("%s differs beyond the node class:\n%s", np.Name, lineDiff(string(ma), string(mk)))
		}
	}
}
