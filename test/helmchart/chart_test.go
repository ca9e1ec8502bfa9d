package helmchart_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/helmchart"
)

// release is the chart installed as the README says: release ballast in ballast-system,
// where every name equals config/default's.
func release(values map[string]any) helmchart.Release {
	v := map[string]any{"clusterName": "prod"}
	for k, val := range values {
		v[k] = val
	}
	return helmchart.Release{Name: "ballast", Namespace: "ballast-system", Values: v}
}

// otherRelease is the chart under another release name and namespace: every name and
// the controller's flags follow.
func otherRelease(values map[string]any) helmchart.Release {
	r := release(values)
	r.Name, r.Namespace = "cost", "platform"
	return r
}

// combinations are the value sets the tests lint, render and validate.
func combinations() map[string]helmchart.Release {
	return map[string]helmchart.Release{
		"defaults":            release(nil),
		"other-release":       otherRelease(nil),
		"cert-manager":        release(map[string]any{"certManager": map[string]any{"enabled": true}}),
		"cert-manager-issuer": release(map[string]any{"certManager": map[string]any{"enabled": true, "issuerRef": map[string]any{"kind": "ClusterIssuer", "name": "corp-ca"}}}),
		"service-monitor":     release(map[string]any{"metrics": map[string]any{"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}}}}),
		"monitoring": release(map[string]any{"metrics": map[string]any{
			"prometheusRule": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
			"dashboard":      map[string]any{"enabled": true, "namespace": "ballast-system"},
		}}),
		"policy-source-git": release(map[string]any{"policySource": gitPolicySource()}),
		"policy-source-flux": release(map[string]any{"policySource": map[string]any{
			"enabled": true, "git": map[string]any{"url": ""},
			"sourceRef": map[string]any{"kind": "GitRepository", "name": "platform", "namespace": "flux-system"},
		}}),
		"everything-set": otherRelease(map[string]any{
			"image":          map[string]any{"digest": "sha256:" + strings.Repeat("ab", 32)},
			"serviceAccount": map[string]any{"annotations": map[string]any{"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/ballast"}},
			"aws":            map[string]any{"region": "eu-west-1"},
			"controller": map[string]any{"spotPlacementScores": true, "minSpotPlacementScore": 7, "excludeNamespaces": []string{"batch"},
				"policySourceNamespaces": []string{"team-a"},
				"eventsAddr":             "http://notification-controller.flux-system.svc.cluster.local./", "livePrices": true, "costInterval": "30s", "discoverCommitments": true,
				"interruptionHalfLife": "6h", "karpenterInterruptionEvents": false,
				"interruptionQueue": "ballast-prod-eu"},
			"prices":              "prices:\n  eu-west-1:\n    m5.large: [0.1, 0.04]\n",
			"extraArgs":           []string{"--log-encoding=console"},
			"extraEnv":            []any{map[string]any{"name": "GOMEMLIMIT", "value": "400MiB"}},
			"podDisruptionBudget": map[string]any{"enabled": false},
			"priorityClassName":   "",
			"commonLabels":        map[string]any{"team": "platform"},
		}),
	}
}

func gitPolicySource() map[string]any {
	return map[string]any{
		"enabled": true,
		"git": map[string]any{
			"url": "https://git.example.com/platform/policies.git", "ref": map[string]any{"branch": "release"},
			"secretRef": map[string]any{"name": "policies-git"},
		},
		"path": "./clusters", "interval": "10m", "retryInterval": "1m", "serviceAccountName": "policies",
		"statusWriteBack": map[string]any{"commitStatus": map[string]any{
			"provider": "github", "repository": "platform/policies", "secretRef": map[string]any{"name": "github-token"},
		}},
	}
}

func render(t *testing.T, r helmchart.Release) []*unstructured.Unstructured {
	t.Helper()
	objs, err := helmchart.Template(r)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// find returns the object of the kind and name, failing the test when there is none.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	if o := localcluster.FindObject(objs, kind, name); o != nil {
		return o
	}
	var have []string
	for _, o := range objs {
		have = append(have, o.GetKind()+"/"+o.GetName())
	}
	t.Fatalf("no %s %s among %v", kind, name, have)
	return nil
}

func kinds(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func decode[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

func has(list []string, item string) bool { return slices.Contains(list, item) }

// appVersion reads the chart's appVersion.
func appVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(helmchart.Dir(), "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(data, &chart); err != nil || chart.AppVersion == "" {
		t.Fatalf("no appVersion in Chart.yaml: %v", err)
	}
	return chart.AppVersion
}

func TestLint(t *testing.T) {
	for name, r := range combinations() {
		t.Run(name, func(t *testing.T) {
			if out, err := helmchart.Lint(r); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// TestDeployment checks what operators rely on: two replicas with leader election, a
// PodDisruptionBudget, spread over nodes and zones, off Spot and off Ballast's own
// nodes, a restricted security context with writable directories for certificates,
// checkouts and temporary files, and the image of the chart's appVersion.
func TestDeployment(t *testing.T) {
	objs := render(t, release(nil))
	d := decode[appsv1.Deployment](t, find(t, objs, "Deployment", "ballast-controller"))
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	podLabels := labels.Set(d.Spec.Template.Labels)
	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || !sel.Matches(podLabels) {
		t.Errorf("the Deployment's selector %v does not match its pods' labels %v", d.Spec.Selector, podLabels)
	}
	c := pod.Containers[0]
	for _, arg := range []string{"controller", "--cluster=prod", "--enable-leader-election"} {
		if !has(c.Args, arg) {
			t.Errorf("args %v lack %s", c.Args, arg)
		}
	}
	if has(c.Args, "--cert-manager") {
		t.Error("--cert-manager without certManager.enabled")
	}
	if want := "ghcr.io/ballast-dev/ballast:" + appVersion(t); c.Image != want {
		t.Errorf("image %s, want %s", c.Image, want)
	}
	if pod.ServiceAccountName != "ballast-controller" || pod.PriorityClassName != "system-cluster-critical" {
		t.Errorf("serviceAccountName %q, priorityClassName %q", pod.ServiceAccountName, pod.PriorityClassName)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %v: want CPU and memory requests and a memory limit", c.Resources)
	}

	psc, sc := pod.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot:
		t.Errorf("pod securityContext %+v: want runAsNonRoot", psc)
	case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("pod securityContext %+v: want seccomp RuntimeDefault", psc)
	case sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("container securityContext %+v: want allowPrivilegeEscalation false", sc)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("container securityContext %+v: want a read-only root filesystem", sc)
	case sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
		t.Errorf("container securityContext %+v: want capabilities dropped", sc)
	}
	emptyDirs := map[string]bool{}
	for _, v := range pod.Volumes {
		emptyDirs[v.Name] = v.EmptyDir != nil
	}
	mounted := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounted[m.MountPath] = emptyDirs[m.Name]
	}
	for _, path := range []string{"/tmp/ballast/certs", "/tmp/ballast/sources", "/tmp"} {
		if !mounted[path] {
			t.Errorf("no emptyDir at %s: %v", path, c.VolumeMounts)
		}
	}

	// Off Spot and off the nodes of Ballast's NodePools (render puts the capacity label on
	// them): the controller must not run on capacity it moves.
	var required []corev1.NodeSelectorRequirement
	if a := pod.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			required = append(required, term.MatchExpressions...)
		}
	}
	for _, want := range []corev1.NodeSelectorRequirement{
		{Key: karpv1.CapacityTypeLabelKey, Operator: corev1.NodeSelectorOpNotIn, Values: []string{karpv1.CapacityTypeSpot}},
		{Key: v1alpha1.CapacityLabel, Operator: corev1.NodeSelectorOpDoesNotExist},
	} {
		if !slices.ContainsFunc(required, func(r corev1.NodeSelectorRequirement) bool { return reflect.DeepEqual(r, want) }) {
			t.Errorf("node affinity %v lacks %v", required, want)
		}
	}

	spread := map[string]bool{}
	for _, tsc := range pod.TopologySpreadConstraints {
		sel, err := metav1.LabelSelectorAsSelector(tsc.LabelSelector)
		if err != nil || !sel.Matches(podLabels) {
			t.Errorf("topology spread on %s selects %v, not the controller's pods", tsc.TopologyKey, tsc.LabelSelector)
		}
		spread[tsc.TopologyKey] = true
	}
	if !spread[corev1.LabelHostname] || !spread[corev1.LabelTopologyZone] {
		t.Errorf("pods spread over %v, want hostname and zone", spread)
	}

	pdb := decode[policyv1.PodDisruptionBudget](t, find(t, objs, "PodDisruptionBudget", "ballast-controller"))
	if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || !sel.Matches(podLabels) {
		t.Errorf("the PodDisruptionBudget selects %v, not the controller's pods", pdb.Spec.Selector)
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget minAvailable %v, want 1", pdb.Spec.MinAvailable)
	}
	for _, svc := range kinds(objs, "Service") {
		s := decode[corev1.Service](t, svc)
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			t.Errorf("Service %s selects %v, not the controller's pods", s.Name, s.Spec.Selector)
		}
		for _, p := range s.Spec.Ports {
			if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.TargetPort.String() }) {
				t.Errorf("Service %s targets port %s, which the container does not name", s.Name, p.TargetPort.String())
			}
		}
	}
}

// TestSameAsConfigDefault: installed as release ballast in ballast-system, the chart
// creates what config/default creates, under the same names (the controller's flag
// defaults), with the same RBAC rules (config/rbac, generated from the controllers'
// markers) and the same webhooks, namespace selector included.
func TestSameAsConfigDefault(t *testing.T) {
	chart := render(t, release(nil))
	kustomized, err := localcluster.BuildManifests("default")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range kustomized {
		switch want.GetKind() {
		case "Namespace", "CustomResourceDefinition": // helm install --create-namespace; crds/
			continue
		case "ConfigMap": // config/default's cluster name; the chart passes clusterName directly
			continue
		}
		got := find(t, chart, want.GetKind(), want.GetName())
		if got.GetNamespace() != want.GetNamespace() {
			t.Errorf("%s %s in namespace %q, config/default puts it in %q", want.GetKind(), want.GetName(), got.GetNamespace(), want.GetNamespace())
		}
		for _, field := range [][]string{{"rules"}, {"roleRef"}, {"subjects"}, {"webhooks"}} {
			w, wok, _ := unstructured.NestedFieldNoCopy(want.Object, field...)
			g, _, _ := unstructured.NestedFieldNoCopy(got.Object, field...)
			if wok && !reflect.DeepEqual(w, g) {
				t.Errorf("%s %s: %s differs from config/default's:\nchart:\n%s\nconfig/default:\n%s", want.GetKind(), want.GetName(), field[0], toYAML(t, g), toYAML(t, w))
			}
		}
	}
	// config/rbac's ClusterRole and Role are generated; compare with them directly too,
	// in case config/default ever patches them.
	generated, err := os.ReadFile(filepath.Join(localcluster.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range bytes.Split(generated, []byte("\n---\n")) {
		var role struct {
			Kind  string `json:"kind"`
			Rules []any  `json:"rules"`
		}
		if err := yaml.Unmarshal(doc, &role); err != nil {
			t.Fatal(err)
		}
		if role.Kind == "" {
			continue
		}
		got, _, _ := unstructured.NestedSlice(find(t, chart, role.Kind, "ballast-manager-role").Object, "rules")
		if want := roundTrip(t, role.Rules); !reflect.DeepEqual(got, want) {
			t.Errorf("%s rules differ from config/rbac/role.yaml:\nchart:\n%s\nconfig/rbac:\n%s", role.Kind, toYAML(t, got), toYAML(t, want))
		}
	}
}

// roundTrip converts a decoded YAML value to what unstructured objects hold.
func roundTrip(t *testing.T, v []any) []any {
	t.Helper()
	data, err := json.Marshal(map[string]any{"v": v})
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(append([]byte(`{"kind":"X","apiVersion":"v1",`), data[1:]...)); err != nil {
		t.Fatal(err)
	}
	out, _, _ := unstructured.NestedSlice(u.Object, "v")
	return out
}

func toYAML(t *testing.T, v any) string {
	t.Helper()
	data, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestOtherReleaseName: under another release name and namespace every object's name
// follows, and the controller is told the names it manages (webhook configuration,
// Service, certificate Secret), which its RBAC lets it update.
func TestOtherReleaseName(t *testing.T) {
	objs := render(t, otherRelease(nil))
	const (
		mwcName = "cost-ballast-mutating-webhook-configuration"
		svcName = "cost-ballast-webhook-service"
	)
	d := decode[appsv1.Deployment](t, find(t, objs, "Deployment", "cost-ballast-controller"))
	if d.Namespace != "platform" || d.Spec.Template.Spec.ServiceAccountName != "cost-ballast-controller" {
		t.Errorf("Deployment in %s as %s", d.Namespace, d.Spec.Template.Spec.ServiceAccountName)
	}
	args := d.Spec.Template.Spec.Containers[0].Args
	for _, arg := range []string{"--webhook-configuration=" + mwcName, "--webhook-service=" + svcName, "--cert-secret=cost-ballast-webhook-cert"} {
		if !has(args, arg) {
			t.Errorf("args %v lack %s", args, arg)
		}
	}
	find(t, objs, "Service", svcName)
	mwc := find(t, objs, "MutatingWebhookConfiguration", mwcName)
	webhooks, _, _ := unstructured.NestedSlice(mwc.Object, "webhooks")
	if len(webhooks) != 2 {
		t.Fatalf("%d webhooks, want the pod and DaemonSet webhooks", len(webhooks))
	}
	for _, w := range webhooks {
		svc, _, _ := unstructured.NestedStringMap(w.(map[string]any), "clientConfig", "service")
		if svc["name"] != svcName || svc["namespace"] != "platform" {
			t.Errorf("webhook calls %v", svc)
		}
		excluded, _, _ := unstructured.NestedSlice(w.(map[string]any), "namespaceSelector", "matchExpressions")
		if !strings.Contains(toYAML(t, excluded), "- platform") || strings.Contains(toYAML(t, excluded), "ballast-system") {
			t.Errorf("the webhooks' namespace selector leaves out %v, want the release namespace platform", excluded)
		}
	}
	role := find(t, objs, "ClusterRole", "cost-ballast-manager-role")
	if !strings.Contains(toYAML(t, role.Object["rules"]), "- "+mwcName) {
		t.Errorf("the ClusterRole does not let the controller update %s:\n%s", mwcName, toYAML(t, role.Object["rules"]))
	}
	for _, kind := range []string{"Role", "RoleBinding"} {
		for _, o := range kinds(objs, kind) {
			if o.GetNamespace() != "platform" {
				t.Errorf("%s %s in %q, want platform", kind, o.GetName(), o.GetNamespace())
			}
		}
	}
	for _, kind := range []string{"RoleBinding", "ClusterRoleBinding"} {
		for _, o := range kinds(objs, kind) {
			if got := toYAML(t, o.Object["subjects"]); !strings.Contains(got, "name: cost-ballast-controller") || !strings.Contains(got, "namespace: platform") {
				t.Errorf("%s %s binds %s", kind, o.GetName(), got)
			}
		}
	}
}

// TestCertManager: with certManager.enabled, cert-manager issues the certificate into
// the Secret the controller serves from and injects its CA; the controller manages
// nothing (--cert-manager).
func TestCertManager(t *testing.T) {
	objs := render(t, combinations()["cert-manager"])
	cert := find(t, objs, "Certificate", "ballast-webhook-cert")
	issuer := find(t, objs, "Issuer", "ballast-selfsigned")
	if name, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name"); name != issuer.GetName() {
		t.Errorf("the Certificate's issuer is %s", name)
	}
	dns, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	if !has(dns, "ballast-webhook-service.ballast-system.svc") {
		t.Errorf("dnsNames %v lack the Service's", dns)
	}
	secret, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	mwc := find(t, objs, "MutatingWebhookConfiguration", "ballast-mutating-webhook-configuration")
	if got := mwc.GetAnnotations()["cert-manager.io/inject-ca-from"]; got != "ballast-system/"+cert.GetName() {
		t.Errorf("inject-ca-from %q", got)
	}
	d := decode[appsv1.Deployment](t, find(t, objs, "Deployment", "ballast-controller"))
	if !has(d.Spec.Template.Spec.Containers[0].Args, "--cert-manager") {
		t.Error("the controller manages certificates although cert-manager does")
	}
	var certsVolume string
	for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
		if m.MountPath == "/tmp/ballast/certs" {
			certsVolume = m.Name
		}
	}
	if !slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
		return v.Name == certsVolume && v.Secret != nil && v.Secret.SecretName == secret
	}) {
		t.Errorf("/tmp/ballast/certs is not the Secret %s: %v", secret, d.Spec.Template.Spec.Volumes)
	}

	objs = render(t, combinations()["cert-manager-issuer"])
	if len(kinds(objs, "Issuer")) != 0 {
		t.Error("a self-signed Issuer although issuerRef names one")
	}
	ref, _, _ := unstructured.NestedStringMap(find(t, objs, "Certificate", "ballast-webhook-cert").Object, "spec", "issuerRef")
	if ref["kind"] != "ClusterIssuer" || ref["name"] != "corp-ca" {
		t.Errorf("issuerRef %v", ref)
	}
}

// TestServiceMonitor: off by default; on, it scrapes the metrics Service's port.
func TestServiceMonitor(t *testing.T) {
	if sm := kinds(render(t, release(nil)), "ServiceMonitor"); len(sm) != 0 {
		t.Error("a ServiceMonitor by default")
	}
	objs := render(t, combinations()["service-monitor"])
	sm := find(t, objs, "ServiceMonitor", "ballast")
	if sm.GetLabels()["release"] != "prometheus" {
		t.Errorf("labels %v lack metrics.serviceMonitor.labels", sm.GetLabels())
	}
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	svc := decode[corev1.Service](t, find(t, objs, "Service", "ballast-metrics"))
	if !labels.SelectorFromSet(sel).Matches(labels.Set(svc.Labels)) {
		t.Errorf("the ServiceMonitor selects %v, not the metrics Service (%v)", sel, svc.Labels)
	}
	for _, other := range kinds(objs, "Service") {
		if other.GetName() != svc.Name && labels.SelectorFromSet(sel).Matches(labels.Set(other.GetLabels())) {
			t.Errorf("the ServiceMonitor selects Service %s too", other.GetName())
		}
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 || endpoints[0].(map[string]any)["port"] != svc.Spec.Ports[0].Name {
		t.Errorf("endpoints %v, want the Service's port %s", endpoints, svc.Spec.Ports[0].Name)
	}
}

// TestMonitoring: no PrometheusRule or dashboard by default; on, the PrometheusRule has
// config/monitoring's rules and the selecting labels, and the dashboard ConfigMap holds
// config/monitoring's dashboard with the sidecar's label, in the namespace asked for.
func TestMonitoring(t *testing.T) {
	objs := render(t, release(nil))
	if len(kinds(objs, "PrometheusRule")) != 0 || localcluster.FindObject(objs, "ConfigMap", "ballast-dashboard") != nil {
		t.Error("a PrometheusRule or dashboard by default")
	}
	objs = render(t, otherRelease(map[string]any{"metrics": map[string]any{
		"prometheusRule": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
		"dashboard":      map[string]any{"enabled": true, "namespace": "grafana"},
	}}))
	rule := find(t, objs, "PrometheusRule", "cost-ballast")
	if rule.GetLabels()["release"] != "prometheus" || rule.GetNamespace() != "platform" {
		t.Errorf("PrometheusRule in %q with labels %v, want namespace platform and metrics.prometheusRule.labels", rule.GetNamespace(), rule.GetLabels())
	}
	data, err := os.ReadFile(filepath.Join(localcluster.RepoRoot(), "config", "monitoring", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := yaml.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rule.Object["spec"], want["spec"]) {
		t.Errorf("the chart's rules differ from config/monitoring/prometheusrule.yaml's (run make manifests):\n%s", toYAML(t, rule.Object["spec"]))
	}
	dashboard, err := os.ReadFile(filepath.Join(localcluster.RepoRoot(), "config", "monitoring", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	cm := decode[corev1.ConfigMap](t, find(t, objs, "ConfigMap", "cost-ballast-dashboard"))
	if cm.Namespace != "grafana" || cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap in %q with labels %v, want namespace grafana and grafana_dashboard=1", cm.Namespace, cm.Labels)
	}
	if cm.Data["ballast.json"] != string(dashboard) {
		t.Error("the chart's dashboard differs from config/monitoring/grafana-dashboard.json (run make manifests)")
	}
}

// TestPolicySource: the inline PolicySource is a valid ballast.dev/v1alpha1 object in
// the release namespace for the chart's cluster.
func TestPolicySource(t *testing.T) {
	if ps := kinds(render(t, release(nil)), "PolicySource"); len(ps) != 0 {
		t.Error("a PolicySource by default")
	}
	ps := decode[v1alpha1.PolicySource](t, find(t, render(t, combinations()["policy-source-git"]), "PolicySource", "policies"))
	s := ps.Spec
	switch {
	case ps.Namespace != "ballast-system" || s.Cluster != "prod":
		t.Errorf("PolicySource %s/%s for cluster %s", ps.Namespace, ps.Name, s.Cluster)
	case s.Git == nil || s.Git.URL != "https://git.example.com/platform/policies.git" || s.Git.Ref == nil || s.Git.Ref.Branch != "release":
		t.Errorf("git %+v", s.Git)
	case s.Git.SecretRef == nil || s.Git.SecretRef.Name != "policies-git":
		t.Errorf("git secretRef %+v", s.Git.SecretRef)
	case s.Path != "./clusters" || s.Interval.Duration.String() != "10m0s" || s.RetryInterval == nil || !s.Prune || s.Suspend || s.ServiceAccountName != "policies":
		t.Errorf("spec %+v", s)
	case s.StatusWriteBack == nil || s.StatusWriteBack.CommitStatus == nil || s.StatusWriteBack.CommitStatus.Repository != "platform/policies":
		t.Errorf("statusWriteBack %+v", s.StatusWriteBack)
	case ps.Annotations["helm.sh/resource-policy"] != "keep":
		// Deleted with the controller, it would prune every NodePool or hang on its finalizer.
		t.Errorf("annotations %v: helm uninstall would delete the PolicySource", ps.Annotations)
	}
	flux := decode[v1alpha1.PolicySource](t, find(t, render(t, combinations()["policy-source-flux"]), "PolicySource", "policies"))
	if flux.Spec.Git != nil || flux.Spec.SourceRef == nil || flux.Spec.SourceRef.Name != "platform" {
		t.Errorf("git %+v, sourceRef %+v", flux.Spec.Git, flux.Spec.SourceRef)
	}
}

// TestValuesAct: every value changes what is rendered (a few for each kind of value).
func TestValuesAct(t *testing.T) {
	objs := render(t, combinations()["everything-set"])
	d := decode[appsv1.Deployment](t, find(t, objs, "Deployment", "cost-ballast-controller"))
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if want := "ghcr.io/ballast-dev/ballast@sha256:" + strings.Repeat("ab", 32); c.Image != want {
		t.Errorf("image %s, want %s", c.Image, want)
	}
	for _, arg := range []string{"--spot-placement-scores=true", "--min-spot-placement-score=7", "--exclude-namespaces=batch",
		"--events-addr=http://notification-controller.flux-system.svc.cluster.local./", "--live-prices=true", "--cost-interval=30s", "--discover-commitments=true",
		"--prices=/etc/ballast/prices/prices.yaml", "--policy-source-namespaces=team-a",
		"--interruption-queue=ballast-prod-eu", "--interruption-half-life=6h", "--karpenter-interruption-events=false"} {
		if !has(c.Args, arg) {
			t.Errorf("args %v lack %s", c.Args, arg)
		}
	}
	prices := decode[corev1.ConfigMap](t, find(t, objs, "ConfigMap", "cost-ballast-prices"))
	if !strings.Contains(prices.Data["prices.yaml"], "m5.large: [0.1, 0.04]") {
		t.Errorf("prices ConfigMap %v", prices.Data)
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || m.MountPath == "/etc/ballast/prices"
	}
	if !mounted {
		t.Errorf("the prices are not mounted: %v", c.VolumeMounts)
	}
	if c.Args[len(c.Args)-1] != "--log-encoding=console" {
		t.Errorf("extraArgs do not come last: %v", c.Args)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["AWS_REGION"] != "eu-west-1" || env["GOMEMLIMIT"] != "400MiB" {
		t.Errorf("env %v", c.Env)
	}
	if _, ok := env["POD_NAMESPACE"]; !ok {
		t.Errorf("env %v lacks POD_NAMESPACE", c.Env)
	}
	if pod.PriorityClassName != "" {
		t.Errorf("priorityClassName %q, want none", pod.PriorityClassName)
	}
	sa := find(t, objs, "ServiceAccount", "cost-ballast-controller")
	if sa.GetAnnotations()["eks.amazonaws.com/role-arn"] != "arn:aws:iam::111122223333:role/ballast" {
		t.Errorf("ServiceAccount annotations %v", sa.GetAnnotations())
	}
	if len(kinds(objs, "PodDisruptionBudget")) != 0 {
		t.Error("a PodDisruptionBudget although disabled")
	}
	for _, o := range objs {
		if o.GetLabels()["team"] != "platform" {
			t.Errorf("%s %s lacks commonLabels", o.GetKind(), o.GetName())
		}
	}
	if role := find(t, objs, "Role", "cost-ballast-policysources"); role.GetNamespace() != "team-a" {
		t.Errorf("the PolicySource Role is in %q, want team-a", role.GetNamespace())
	}
	mwc := find(t, objs, "MutatingWebhookConfiguration", "cost-ballast-mutating-webhook-configuration")
	if !strings.Contains(toYAML(t, mwc.Object["webhooks"]), "- batch") {
		t.Error("the webhooks still see excluded namespace batch")
	}

	// One replica: no PodDisruptionBudget to block node drains.
	if pdb := kinds(render(t, release(map[string]any{"replicaCount": 1})), "PodDisruptionBudget"); len(pdb) != 0 {
		t.Error("a PodDisruptionBudget for a single replica")
	}

	// An existing ServiceAccount instead of the chart's.
	objs = render(t, release(map[string]any{"serviceAccount": map[string]any{"create": false, "name": "ballast-irsa"}}))
	if len(kinds(objs, "ServiceAccount")) != 0 {
		t.Error("a ServiceAccount although serviceAccount.create is false")
	}
	d = decode[appsv1.Deployment](t, find(t, objs, "Deployment", "ballast-controller"))
	if d.Spec.Template.Spec.ServiceAccountName != "ballast-irsa" {
		t.Errorf("serviceAccountName %s", d.Spec.Template.Spec.ServiceAccountName)
	}
	if got := toYAML(t, find(t, objs, "ClusterRoleBinding", "ballast-manager-rolebinding").Object["subjects"]); !strings.Contains(got, "name: ballast-irsa") {
		t.Errorf("the ClusterRoleBinding binds %s", got)
	}
}

// TestInvalidValuesFail: what cannot work fails at install with a message that says
// what to set.
func TestInvalidValuesFail(t *testing.T) {
	for name, tc := range map[string]struct {
		values map[string]any
		want   string
	}{
		"no cluster name": {map[string]any{"clusterName": ""}, "clusterName is required"},
		"policy source without git or sourceRef": {
			map[string]any{"policySource": map[string]any{"enabled": true}}, "set exactly one of policySource.git.url and policySource.sourceRef",
		},
		"policy source with git and sourceRef": {
			map[string]any{"policySource": map[string]any{"enabled": true, "git": map[string]any{"url": "https://git.example.com/p.git"}, "sourceRef": map[string]any{"kind": "GitRepository", "name": "p"}}},
			"set exactly one of policySource.git.url and policySource.sourceRef",
		},
		"no service account name": {map[string]any{"serviceAccount": map[string]any{"create": false}}, "serviceAccount.name is required"},
		"unknown value":           {map[string]any{"replicas": 3}, "additional properties 'replicas' not allowed"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := helmchart.TemplateYAML(release(tc.values))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
