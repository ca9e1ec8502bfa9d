package render

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/yaml"

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

// TestMarshalAsSigsYAML: marshalling skips the JSON-to-YAML detour of
// sigs.k8s.io/yaml but writes the same bytes, numbers, number-like strings, special
// characters and key order included.
func TestMarshalAsSigsYAML(t *testing.T) {
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "c", Labels: map[string]string{"a.io/x": "123", "b": "true", "c": "null", "d": "1e3", "e": "010", "é": "ü\t\"'"},
			Annotations: map[string]string{"long": strings.Repeat("word ", 40), "multi": "line 1\nline 2\n", "colon": "a: b", "dash": "- x"}},
		Data: map[string]string{"10": "ten", "9": "nine", "key-2": "x", "key-10": "y"},
	}
	np := &karpv1.NodePool{
		TypeMeta:   metav1.TypeMeta{APIVersion: "karpenter.sh/v1", Kind: "NodePool"},
		ObjectMeta: metav1.ObjectMeta{Name: "n"},
		Spec: karpv1.NodePoolSpec{Weight: ptr.To(int32(0)), Limits: karpv1.Limits{corev1.ResourceCPU: resource.MustParse("1.5"),
			corev1.ResourceMemory: resource.MustParse("1e3"), "nvidia.com/gpu": resource.MustParse("18446744073709551615")}},
	}
	raw := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "x/v1", "kind": "Y", "metadata": map[string]any{"name": "u"},
		"spec": map[string]any{"f": 1.0, "g": 1.5e300, "h": math.Copysign(0, -1), "i": uint64(18446744073709551615), "j": int64(-9223372036854775808), "k": 0.1}}}
	for _, obj := range []client.Object{cm, np, raw} {
		got, err := marshalObject(obj)
		if err != nil {
			t.Fatal(err)
		}
		data, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		delete(m["metadata"].(map[string]any), "creationTimestamp")
		if status, ok := m["status"]; ok && isEmpty(status) {
			delete(m, "status")
		}
		DropNulls(m)
		want, err := yaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s: got\n%s\nwant (sigs.k8s.io/yaml)\n%s", obj.GetName(), got, want)
		}
	}
}
