package localcluster

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// TestExampleOverlay builds examples/install/overlay, the installation docs/install-eks.md
// tells users to copy, and checks that its three settings land where the controller
// reads them: the image, the cluster name (CLUSTER_NAME from the generated ConfigMap),
// and the namespace, on every namespaced object and every reference to it. The
// webhooks' namespace selector is checked with the scope it must agree with
// (controllers/internal/scope).
func TestExampleOverlay(t *testing.T) {
	const namespace, cluster, image = "platform-ballast", "prod-eu", "ghcr.io/ballast-dev/ballast:0.1.0"
	objs, err := BuildKustomization("examples/install/overlay")
	if err != nil {
		t.Fatal(err)
	}
	// Nothing of the default namespace is left anywhere: metadata, RBAC subjects, the
	// webhook's service reference, its namespace selector.
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), BallastNamespace) {
			t.Errorf("%s %s still names %s:\n%s", o.GetKind(), o.GetName(), BallastNamespace, data)
		}
		if scoped := o.GetNamespace(); scoped != "" && scoped != namespace {
			t.Errorf("%s %s is in namespace %s, want %s", o.GetKind(), o.GetName(), scoped, namespace)
		}
	}
	if FindObject(objs, "Namespace", namespace) == nil {
		t.Errorf("no Namespace %s", namespace)
	}
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, o := range objs {
			if o.GetKind() != kind {
				continue
			}
			subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
			for _, s := range subjects {
				if s, _ := s.(map[string]any); s["kind"] == "ServiceAccount" && (s["name"] != ballastServiceAccount || s["namespace"] != namespace) {
					t.Errorf("%s %s binds ServiceAccount %s/%s, want %s/%s", kind, o.GetName(), s["namespace"], s["name"], namespace, ballastServiceAccount)
				}
			}
		}
	}

	deploy := FindObject(objs, "Deployment", "ballast-controller")
	if deploy == nil {
		t.Fatal("no Deployment ballast-controller")
	}
	containers, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("want one container, got %d", len(containers))
	}
	container := containers[0].(map[string]any)
	if got := container["image"]; got != image {
		t.Errorf("image %v, want %s", got, image)
	}
	var ref map[string]any
	env, _, _ := unstructured.NestedSlice(container, "env")
	for _, e := range env {
		if e := e.(map[string]any); e["name"] == "CLUSTER_NAME" {
			ref, _, _ = unstructured.NestedMap(e, "valueFrom", "configMapKeyRef")
		}
	}
	if ref == nil {
		t.Fatal("CLUSTER_NAME does not come from a ConfigMap")
	}
	name, _ := ref["name"].(string)
	cm := FindObject(objs, "ConfigMap", name)
	if cm == nil {
		t.Fatalf("CLUSTER_NAME names ConfigMap %s, which the overlay does not create", name)
	}
	key, _ := ref["key"].(string)
	if got, _, _ := unstructured.NestedString(cm.Object, "data", key); got != cluster {
		t.Errorf("ConfigMap %s %s = %q, want %q", name, key, got, cluster)
	}
}
