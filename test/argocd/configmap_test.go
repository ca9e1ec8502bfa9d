package argocd

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite config/argocd/argocd-cm.yaml from the health checks")

// configMapFile is the argocd-cm snippet, generated from the scripts.
const configMapFile = "config/argocd/argocd-cm.yaml"

// configMapKey is the argocd-cm key Argo CD reads the health check of group/kind from.
func configMapKey(group, kind string) string {
	return "resource.customizations.health." + group + "_" + kind
}

// configMap renders the snippet: every script as a literal block under its key.
func configMap(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(`# Generated from config/argocd/health/ballast.dev/<Kind>/health.lua by
# ` + "`go test ./test/argocd -update`" + `: edit the scripts, not this file.
#
# Ballast's Argo CD health checks as argocd-cm keys (docs/argocd.md). Merge them into
# Argo CD's argocd-cm, e.g.
#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file config/argocd/argocd-cm.yaml
# or use config/argocd as a kustomize component of your Argo CD installation.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
data:
`)
	for _, kind := range Kinds {
		script, err := Script(Group, kind)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(script, "\n") || strings.HasSuffix(script, "\n\n") || strings.HasPrefix(script, " ") {
			t.Fatalf("%s: a script must start unindented and end with exactly one newline to survive a YAML literal block", ScriptPath(Group, kind))
		}
		b.WriteString("  " + configMapKey(Group, kind) + ": |\n")
		for line := range strings.SplitSeq(strings.TrimSuffix(script, "\n"), "\n") {
			if strings.TrimSpace(line) == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("    " + line + "\n")
		}
	}
	return b.Bytes()
}

// TestConfigMapMatchesScripts fails when config/argocd/argocd-cm.yaml and the scripts
// differ; `go test ./test/argocd -update` rewrites it.
func TestConfigMapMatchesScripts(t *testing.T) {
	path := filepath.Join(RepoRoot(), configMapFile)
	want := configMap(t)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil { //nolint:gosec // a manifest
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path) //nolint:gosec // the repository's own file
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./test/argocd -update and commit it", configMapFile)
	}
	// And it holds exactly the scripts, byte for byte, once YAML is decoded.
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(got, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Name != "argocd-cm" || len(cm.Data) != len(Kinds) {
		t.Fatalf("%s: ConfigMap %q with %d keys; want argocd-cm with %d", configMapFile, cm.Name, len(cm.Data), len(Kinds))
	}
	for _, kind := range Kinds {
		script, err := Script(Group, kind)
		if err != nil {
			t.Fatal(err)
		}
		if cm.Data[configMapKey(Group, kind)] != script {
			t.Errorf("%s: %s is not %s", configMapFile, configMapKey(Group, kind), ScriptPath(Group, kind))
		}
	}
}

// TestConfigMapMergesIntoArgoCD merges the snippet into an argocd-cm on a real API
// server the way `kubectl patch --type merge --patch-file` does, and runs the scripts
// read back from it: the other keys stay, and the checks work from there.
func TestConfigMapMergesIntoArgoCD(t *testing.T) {
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "argocd-cm", Namespace: "argocd"},
		Data: map[string]string{
			"url": "https://argocd.example.com",
			"resource.customizations.ignoreDifferences.admissionregistration.k8s.io_MutatingWebhookConfiguration": "jqPathExpressions:\n- '.webhooks[]?.clientConfig.caBundle'\n",
		},
	}
	if err := env.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(RepoRoot(), configMapFile)) //nolint:gosec // the repository's own file
	if err != nil {
		t.Fatal(err)
	}
	patch, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Patch(ctx, cm, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatalf("the API server refused the snippet as a merge patch: %v", err)
	}
	got := &corev1.ConfigMap{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(cm), got); err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 2+len(Kinds) || got.Data["url"] != "https://argocd.example.com" {
		t.Errorf("argocd-cm after the merge has %d keys (url %q); want the 2 it had and %d more", len(got.Data), got.Data["url"], len(Kinds))
	}
	for kind, cases := range healthCases {
		script := got.Data[configMapKey(Group, kind)]
		for _, tc := range cases {
			status, message, err := Run(script, fixture(t, kind, tc.name).Object)
			if err != nil || status != tc.status || message != tc.message {
				t.Errorf("%s/%s from argocd-cm: %s %q, %v; want %s %q", kind, tc.name, status, message, err, tc.status, tc.message)
			}
		}
	}
}
