package render

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

func TestMarshalEmpty(t *testing.T) {
	out, err := Marshal(nil)
	if err != nil || len(out) != 0 {
		t.Errorf("Marshal(nil) = %q, %v", out, err)
	}
}

func TestMarshalDropsZeroValueNoise(t *testing.T) {
	cp := &v1alpha1.ClusterPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "ballast.dev/v1alpha1", Kind: "ClusterPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "a"},
	}
	np := &karpv1.NodePool{
		TypeMeta:   metav1.TypeMeta{APIVersion: "karpenter.sh/v1", Kind: "NodePool"},
		ObjectMeta: metav1.ObjectMeta{Name: "b"},
	}
	out, err := Marshal([]client.Object{cp, np})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, noise := range []string{"creationTimestamp", "status", "null"} {
		if strings.Contains(s, noise) {
			t.Errorf("output contains %q:\n%s", noise, s)
		}
	}
	if !strings.HasPrefix(s, "---\napiVersion: ballast.dev/v1alpha1\n") || strings.Count(s, "---\n") != 2 {
		t.Errorf("not a stream of two documents:\n%s", s)
	}
}

func TestMarshalKeepsStatusThatSaysSomething(t *testing.T) {
	cp := &v1alpha1.ClusterPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "ballast.dev/v1alpha1", Kind: "ClusterPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "a"},
		Status:     v1alpha1.ClusterPolicyStatus{ObservedGeneration: 3},
	}
	out, err := Marshal([]client.Object{cp})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "status:\n  observedGeneration: 3\n") {
		t.Errorf("status lost:\n%s", out)
	}
}
