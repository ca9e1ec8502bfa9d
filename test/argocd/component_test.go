package argocd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ssautils "github.com/fluxcd/pkg/ssa/utils"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// TestComponent builds an Argo CD installation with config/argocd as a component (with
// kustomize's library, as `kubectl apply -k` does) and checks what users rely on: the
// health checks land in argocd-cm beside its other keys, the plugin's configuration is
// mounted where argocd-cmp-server reads it, and the sidecar runs argocd-cmp-server from
// the volume Argo CD's init container fills. Then a real API server accepts the result.
func TestComponent(t *testing.T) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join("testdata", "argocd-install"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := ssautils.ReadObjects(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	find := func(kind, prefix string) *unstructured.Unstructured {
		t.Helper()
		for _, o := range objs {
			if o.GetKind() == kind && strings.HasPrefix(o.GetName(), prefix) {
				return o
			}
		}
		t.Fatalf("no %s %s* in the build", kind, prefix)
		return nil
	}

	var argocdCM corev1.ConfigMap
	fromUnstructured(t, find("ConfigMap", "argocd-cm"), &argocdCM)
	if argocdCM.Data["url"] != "https://argocd.example.com" {
		t.Errorf("argocd-cm lost its url: %v", argocdCM.Data)
	}
	for _, kind := range Kinds {
		script, err := Script(Group, kind)
		if err != nil {
			t.Fatal(err)
		}
		if argocdCM.Data[configMapKey(Group, kind)] != script {
			t.Errorf("argocd-cm: %s is not %s", configMapKey(Group, kind), ScriptPath(Group, kind))
		}
	}

	var pluginCM corev1.ConfigMap
	fromUnstructured(t, find("ConfigMap", "ballast-cmp-plugin"), &pluginCM)
	plugin, err := os.ReadFile(filepath.Join(RepoRoot(), "config", "argocd", "cmp-plugin.yaml")) //nolint:gosec // the repository's own file
	if err != nil {
		t.Fatal(err)
	}
	if pluginCM.Data["plugin.yaml"] != string(plugin) || pluginCM.Namespace != "argocd" {
		t.Errorf("ConfigMap %s/%s does not hold cmp-plugin.yaml as plugin.yaml: %v", pluginCM.Namespace, pluginCM.Name, pluginCM.Data)
	}

	var deploy appsv1.Deployment
	fromUnstructured(t, find("Deployment", "argocd-repo-server"), &deploy)
	pod := deploy.Spec.Template.Spec
	var names []string
	var sidecar *corev1.Container
	for i, c := range pod.Containers {
		names = append(names, c.Name)
		if c.Name == "ballast-cmp" {
			sidecar = &pod.Containers[i]
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"argocd-repo-server", "ballast-cmp"}) || sidecar == nil {
		t.Fatalf("argocd-repo-server's containers are %v; want argocd-repo-server and ballast-cmp", names)
	}
	if c := deploy.Spec.Template.Annotations["kubectl.kubernetes.io/default-container"]; c != "argocd-repo-server" {
		t.Errorf("default container %q; want argocd-repo-server, whatever the order", c)
	}
	if sidecar.Image != "registry.example.com/platform/ballast-cmp:0.1.0" {
		t.Errorf("sidecar image %q; want the one images: sets", sidecar.Image)
	}
	if !slices.Equal(sidecar.Command, []string{"/var/run/argocd/argocd-cmp-server"}) {
		t.Errorf("sidecar command %v; want argocd-cmp-server", sidecar.Command)
	}
	if sc := sidecar.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 999 {
		t.Errorf("the sidecar must run as user 999, as Argo CD's plugin server expects")
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range sidecar.VolumeMounts {
		mounts[m.MountPath] = m
		if _, ok := volumes[m.Name]; !ok {
			t.Errorf("the sidecar mounts volume %s, which the pod does not have", m.Name)
		}
	}
	for path, volume := range map[string]string{
		"/var/run/argocd":                            "var-files",
		"/home/argocd/cmp-server/plugins":            "plugins",
		"/home/argocd/cmp-server/config/plugin.yaml": "ballast-cmp-plugin",
		"/tmp": "ballast-cmp-tmp",
	} {
		if mounts[path].Name != volume {
			t.Errorf("the sidecar mounts %q at %s; want %s", mounts[path].Name, path, volume)
		}
	}
	if cm := volumes["ballast-cmp-plugin"].ConfigMap; cm == nil || cm.Name != pluginCM.Name {
		t.Errorf("volume ballast-cmp-plugin is %+v; want ConfigMap %s", volumes["ballast-cmp-plugin"], pluginCM.Name)
	}
	for _, v := range []string{"tmp", "var-files", "plugins"} {
		if _, ok := volumes[v]; !ok {
			t.Errorf("the patch dropped Argo CD's volume %s", v)
		}
	}

	// The API server validates the pod template: mounts of missing volumes, bad
	// security contexts and the like are refused here.
	ctx := context.Background()
	const ns = "argocd-component"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	c := client.WithFieldValidation(env.Client, metav1.FieldValidationStrict)
	for _, o := range objs {
		o.SetNamespace(ns)
		if err := c.Create(ctx, o, client.DryRunAll); err != nil {
			t.Errorf("the API server refused %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

func fromUnstructured(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		t.Fatal(err)
	}
}
