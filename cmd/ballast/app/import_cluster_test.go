package app

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
)

// TestImportFromCluster runs against a real kube-apiserver with Karpenter's CRDs. For
// every setup of the corpus: the NodePools and EC2NodeClasses the imported policy
// renders, with and without --adopt, are accepted (a server-side dry run); and the
// setup created in the cluster, imported with --kubeconfig, renders back to what the
// API server stores. Applied over the live objects as the controller applies them
// (server-side apply, a dry run), the rendered objects add Ballast's labels and change
// nothing else but the values import reported it writes differently.
func TestImportFromCluster(t *testing.T) {
	env, err := controlplane.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	ctx := context.Background()
	c := env.Client
	kubeconfig := writeKubeconfig(t, env)

	for _, setup := range importSetups(t) {
		t.Run(setup, func(t *testing.T) {
			for _, extra := range [][]string{{"--adopt"}, nil} {
				dir, _, _ := importSetup(t, setup, extra...)
				n := 0
				for _, obj := range renderedObjects(t, dir) {
					if kind := obj.GetObjectKind().GroupVersionKind().Kind; kind != nodePoolKind && kind != nodeClassKind {
						continue
					}
					n++
					u := &unstructured.Unstructured{Object: toUnstructured(t, obj)}
					if err := c.Create(ctx, u, client.DryRunAll); err != nil {
						t.Errorf("%v: the API server refuses the rendered %s %s: %v", extra, u.GetKind(), u.GetName(), err)
					}
				}
				if want := len(corpusObjects(t, filepath.Join(importCorpus, setup))) + 3; n != want {
					t.Errorf("%v: %d Karpenter objects rendered, want %d", extra, n, want)
				}
			}

			var created []*unstructured.Unstructured
			for _, orig := range corpusObjects(t, filepath.Join(importCorpus, setup)) {
				u := &unstructured.Unstructured{Object: asCreated(orig)}
				if err := c.Create(ctx, u); err != nil {
					t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
				}
				created = append(created, u)
			}
			t.Cleanup(func() {
				for _, u := range created {
					// Without finalizers the object is gone when Delete returns.
					if err := c.Delete(ctx, u); err != nil {
						t.Errorf("%s %s: %v", u.GetKind(), u.GetName(), err)
					}
				}
			})
			code, stdout, stderr := run("import", "--kubeconfig", kubeconfig, "--context", "env", "--cluster", "prod", "--region", "eu-west-1", "--adopt")
			if code != ExitOK {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			for l := range strings.Lines(stderr) {
				if !strings.HasPrefix(l, "cluster: ") && !strings.HasPrefix(l, "note: ") && !strings.HasPrefix(l, "imported ClusterPolicy prod") {
					t.Errorf("a report line without its place: %s", l)
				}
			}
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "clusters"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "clusters", "prod.yaml"), []byte(stdout), 0o600); err != nil {
				t.Fatal(err)
			}
			if code, out, errOut := run("validate", dir); code != ExitOK {
				t.Errorf("validate: exit %d\n%s%s", code, out, errOut)
			}
			objs := renderedObjects(t, dir)
			for _, u := range created {
				live := &unstructured.Unstructured{}
				live.SetGroupVersionKind(u.GroupVersionKind())
				if err := c.Get(ctx, client.ObjectKeyFromObject(u), live); err != nil {
					t.Fatal(err)
				}
				rendered := findRendered(objs, u.GetKind(), u.GetName())
				compareImported(t, live.Object, rendered, func(n string) string { return n }, stderr)
				if rendered == nil {
					continue
				}
				applied := &unstructured.Unstructured{Object: toUnstructured(t, rendered)}
				if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(applied), client.FieldOwner("ballast"), client.ForceOwnership, client.DryRunAll); err != nil {
					t.Fatalf("applying %s %s: %v", u.GetKind(), u.GetName(), err)
				}
				checkTakeOver(t, live, applied, stderr)
			}
		})
	}
}

// checkTakeOver checks what applying a rendered object over a live one changes: its
// labels gain Ballast's, its annotations stay, and of its spec only the fields import
// reported it writes differently change.
func checkTakeOver(t *testing.T, live, applied *unstructured.Unstructured, report string) {
	t.Helper()
	object := live.GetKind() + "/" + live.GetName()
	wantLabels := live.GetLabels()
	if wantLabels == nil {
		wantLabels = map[string]string{}
	}
	wantLabels[v1alpha1.SourceLabel], wantLabels[v1alpha1.ClusterLabel], wantLabels[v1alpha1.NodePoolLabel] = "local", "prod", live.GetName()
	if d := cmp.Diff(wantLabels, applied.GetLabels()); d != "" {
		t.Errorf("%s: applying changes its labels (-want +got):\n%s", object, d)
	}
	if d := cmp.Diff(live.GetAnnotations(), applied.GetAnnotations()); d != "" {
		t.Errorf("%s: applying changes its annotations (-live +applied):\n%s", object, d)
	}
	lines := reportLines(report, object)
	for _, c := range jsonDiff("spec", live.Object["spec"], applied.Object["spec"]) {
		if !slices.ContainsFunc(lines, func(l string) bool {
			return strings.HasPrefix(l, "cluster: "+object+": note: written as Karpenter's types write it") && strings.Contains(l, c.path+" ")
		}) {
			t.Errorf("%s: applying changes %s (%v → %v), and import did not say so:\n%s", object, c.path, c.before, c.after, strings.Join(lines, "\n"))
		}
	}
}

// asCreated is an object of the corpus as a user would create it: without status and
// what the API server and Karpenter set (a finalizer would hold the deletion).
func asCreated(obj map[string]any) map[string]any {
	meta := asMap(obj["metadata"])
	outMeta := map[string]any{"name": meta["name"]}
	for _, k := range []string{"labels", "annotations"} {
		if v, ok := meta[k]; ok {
			outMeta[k] = deepCopyJSON(v)
		}
	}
	return map[string]any{"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": outMeta, "spec": deepCopyJSON(obj["spec"])}
}
