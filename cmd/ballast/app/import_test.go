package app

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	"github.com/google/go-cmp/cmp"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/crdcheck"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// importCorpus is the directory of realistic Karpenter setups, one a directory.
const importCorpus = "testdata/import"

// importNow is the reference time the imported policies are validated and rendered at.
var importNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func importSetups(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(importCorpus)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) < 9 {
		t.Fatalf("%d setups in %s", len(dirs), importCorpus)
	}
	return dirs
}

// corpusObjects reads the NodePools and EC2NodeClasses of a setup as written, with a
// reader of its own (not the one import uses): every document of every file, the
// items of a List too, numbers as the API server reads them.
func corpusObjects(t *testing.T, dir string) []map[string]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, file := range files {
		data, err := os.ReadFile(file) //nolint:gosec // test data
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			asJSON, err := sigsyaml.YAMLToJSON(doc)
			if err != nil {
				t.Fatal(err)
			}
			var obj map[string]any
			if err := utiljson.Unmarshal(asJSON, &obj); err != nil {
				t.Fatal(err)
			}
			items := []any{obj}
			if obj["kind"] == "List" {
				items = obj["items"].([]any)
			}
			for _, item := range items {
				m := item.(map[string]any)
				if m["kind"] == nodePoolKind || m["kind"] == nodeClassKind {
					out = append(out, m)
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no Karpenter object in %s", dir)
	}
	return out
}

// storedForm is what Karpenter reads of an object, as the API server stores it:
// apiVersion, kind, metadata.name and spec with the CRD's defaults. With meta, the
// object's labels and annotations are kept too, without Ballast's own labels.
func storedForm(t *testing.T, obj map[string]any, meta bool) map[string]any {
	t.Helper()
	m, _ := obj["metadata"].(map[string]any)
	outMeta := map[string]any{"name": m["name"]}
	if meta {
		labels := map[string]any{}
		for k, v := range asMap(m["labels"]) {
			if !strings.HasPrefix(k, "ballast.dev/") {
				labels[k] = v
			}
		}
		if len(labels) > 0 {
			outMeta["labels"] = labels
		}
		if a := asMap(m["annotations"]); len(a) > 0 {
			outMeta["annotations"] = a
		}
	}
	out := map[string]any{"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": outMeta, "spec": deepCopyJSON(obj["spec"])}
	checker, err := crdcheck.Karpenter()
	if err != nil {
		t.Fatal(err)
	}
	if err := checker.Default(out); err != nil {
		t.Fatal(err)
	}
	return out
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// typedForm is the object decoded into Karpenter's Go types and written again: what
// Karpenter's controllers read of it (a quantity or a duration by its value).
func typedForm(t *testing.T, obj map[string]any) (map[string]any, string) {
	t.Helper()
	var typed any
	var hash func() string
	switch obj["kind"] {
	case nodePoolKind:
		np := &karpv1.NodePool{}
		typed, hash = np, np.Hash
	case nodeClassKind:
		nc := &awsv1.EC2NodeClass{}
		typed, hash = nc, func() string { return nc.Hash(nil) }
	default:
		t.Fatalf("kind %v", obj["kind"])
	}
	if err := strictDecode(obj, typed); err != nil {
		t.Fatalf("%s %s: %v", obj["kind"], asMap(obj["metadata"])["name"], err)
	}
	m, err := toJSONMap(typed)
	if err != nil {
		t.Fatal(err)
	}
	delete(asMap(m["metadata"]), "creationTimestamp")
	return m, hash()
}

// toUnstructured writes a typed object as the JSON object a client would send.
func toUnstructured(t *testing.T, obj client.Object) map[string]any {
	t.Helper()
	m, err := toJSONMap(obj)
	if err != nil {
		t.Fatal(err)
	}
	delete(asMap(m["metadata"]), "creationTimestamp")
	delete(m, "status")
	return m
}

// rendered renders the policy tree at dir for AWS.
func renderedObjects(t *testing.T, dir string) []client.Object {
	t.Helper()
	repo, err := loadPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	policy, rules, err := repo.ForCluster("prod")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render.Render(render.Input{Policy: policy, Rules: rules, Source: "local", Now: importNow, Target: render.TargetAWS})
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// findRendered returns the rendered object of a kind and name.
func findRendered(objs []client.Object, kind, name string) client.Object {
	for _, o := range objs {
		if o.GetObjectKind().GroupVersionKind().Kind == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// compareImported checks that a rendered object reproduces an imported one: equal as
// Karpenter reads them (its types, its drift hash), and every field whose text
// differs was reported by import for that object. rename maps the imported object's
// name and its nodeClassRef's to the rendered ones; report is import's stderr.
func compareImported(t *testing.T, original map[string]any, rendered client.Object, rename func(string) string, report string) {
	t.Helper()
	kind, _ := original["kind"].(string)
	name, _ := asMap(original["metadata"])["name"].(string)
	if rendered == nil {
		t.Errorf("%s %s is not rendered", kind, name)
		return
	}
	if want := map[string]string{v1alpha1.SourceLabel: "local", v1alpha1.ClusterLabel: "prod", v1alpha1.NodePoolLabel: rendered.GetName()}; !mapsEqual(rendered.GetLabels(), want) {
		t.Errorf("%s %s: labels %v, want %v", kind, rendered.GetName(), rendered.GetLabels(), want)
	}
	want := storedForm(t, original, false)
	got := storedForm(t, toUnstructured(t, rendered), true)
	// The names the policy gave, mapped back.
	asMap(got["metadata"])["name"] = name
	if ref := asMap(asMap(asMap(asMap(got["spec"])["template"])["spec"])["nodeClassRef"]); ref != nil {
		origRef := asMap(asMap(asMap(asMap(want["spec"])["template"])["spec"])["nodeClassRef"])
		if to := rename(origRef["name"].(string)); ref["name"] != to {
			t.Errorf("%s %s: nodeClassRef.name %v, want %s", kind, name, ref["name"], to)
		}
		ref["name"] = origRef["name"]
	}
	wantTyped, wantHash := typedForm(t, want)
	gotTyped, gotHash := typedForm(t, got)
	if d := cmp.Diff(wantTyped, gotTyped); d != "" {
		t.Errorf("%s %s: the rendered object differs from the imported one (-imported +rendered):\n%s", kind, name, d)
	}
	if wantHash != gotHash {
		t.Errorf("%s %s: Karpenter's drift hash %s of the imported object, %s of the rendered one", kind, name, wantHash, gotHash)
	}
	// What differs in writing is what import said it writes differently.
	lines := reportLines(report, kind+"/"+name)
	for _, c := range jsonDiff("", want, got) {
		path := strings.TrimPrefix(c.path, ".")
		if !slices.ContainsFunc(lines, func(l string) bool {
			return strings.Contains(l, "written as Karpenter's types write it") && strings.Contains(l, path+" ")
		}) {
			t.Errorf("%s %s: %s differs in writing (%v → %v), and import did not say so:\n%s", kind, name, path, c.before, c.after, strings.Join(lines, "\n"))
		}
	}
}

// reportLines returns the report's lines about an object (Kind/name).
func reportLines(report, object string) []string {
	var out []string
	for l := range strings.Lines(report) {
		if strings.Contains(l, " "+object+": ") || strings.HasPrefix(l, object+": ") {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// importSetup imports one setup of the corpus through the command into a directory and
// returns the directory, the file's content and the report.
func importSetup(t *testing.T, setup string, extra ...string) (string, []byte, string) {
	t.Helper()
	out := t.TempDir()
	args := append([]string{"import", "-f", filepath.Join(importCorpus, setup), "--cluster", "prod", "--region", "eu-west-1", "-o", out}, extra...)
	code, stdout, stderr := run(args...)
	if code != ExitOK {
		t.Fatalf("ballast %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout with -o: %s", stdout)
	}
	data, err := os.ReadFile(filepath.Join(out, "clusters", "prod.yaml")) //nolint:gosec // the test's directory
	if err != nil {
		t.Fatal(err)
	}
	return out, data, stderr
}

// TestImportRoundTrip imports every setup of the corpus, as a function and through the
// command, with and without --adopt, and renders the policy: every imported object
// comes back, equal as Karpenter reads it and with the same drift hash, and every
// field written differently is in the report. ballast validate passes on the policy.
func TestImportRoundTrip(t *testing.T) {
	for _, setup := range importSetups(t) {
		t.Run(setup, func(t *testing.T) {
			originals := corpusObjects(t, filepath.Join(importCorpus, setup))
			for _, adopt := range []bool{true, false} {
				var extra []string
				// A name of the default supply gets the suffix -imported (the setup
				// min-values has an EC2NodeClass spot).
				rename := func(n string) string {
					if v1alpha1.ReservedName("prod", "ballast-prod-"+n) != "" {
						return "ballast-prod-" + n + "-imported"
					}
					return "ballast-prod-" + n
				}
				if adopt {
					extra = []string{"--adopt"}
					rename = func(n string) string { return n }
				}
				dir, written, report := importSetup(t, setup, extra...)
				if setup == "instance-store" && !strings.Contains(report, ": EC2NodeClass/nvme: note: spec.userData is carried as it is into the policy, and so into Git") {
					t.Errorf("no word that user data goes into Git:\n%s", report)
				}

				// The function gives the same policy and the same report.
				var errOut bytes.Buffer
				opts := &importOptions{files: []string{filepath.Join(importCorpus, setup)}}
				objects, err := opts.readFiles(streams{err: &errOut})
				if err != nil {
					t.Fatal(err, errOut.String())
				}
				out, findings := importPolicy(importInput{objects: objects, cluster: "prod", region: "eu-west-1", adopt: adopt, now: importNow})
				if out == nil {
					t.Fatalf("adopt %v: %v", adopt, findings)
				}
				if !bytes.Equal(out.yaml, written) {
					t.Errorf("adopt %v: the command wrote\n%s\nthe function\n%s", adopt, written, out.yaml)
				}
				for _, f := range findings {
					if !strings.Contains(report, f.String()+"\n") {
						t.Errorf("adopt %v: the command did not report %q:\n%s", adopt, f, report)
					}
				}
				if len(out.pools)+len(out.classes) != len(originals) {
					t.Errorf("adopt %v: %d NodePools and %d EC2NodeClasses imported of %d objects", adopt, len(out.pools), len(out.classes), len(originals))
				}

				if code, stdout, stderr := run("validate", dir); code != ExitOK {
					t.Errorf("adopt %v: ballast validate of the imported policy: exit %d\n%s%s", adopt, code, stdout, stderr)
				}
				objs := renderedObjects(t, dir)
				for _, name := range []string{"ballast-prod-on-demand", "ballast-prod-spot"} {
					if findRendered(objs, nodePoolKind, name) == nil {
						t.Errorf("the default supply's NodePool %s is not rendered", name)
					}
				}
				for _, orig := range originals {
					name, _ := asMap(orig["metadata"])["name"].(string)
					compareImported(t, orig, findRendered(objs, orig["kind"].(string), rename(name)), rename, report)
				}
			}
		})
	}
}

// reportInput has what import reports: a document of another kind, an object's own
// labels and annotations, Karpenter's hash annotation, a field a NodePool has not and
// one its CRD has not (kubelet moved to the EC2NodeClass in v1), names of Ballast's
// default supply, a reference to an EC2NodeClass that is not imported, and one to an
// EC2NodeClass that is renamed.
const reportInput = `apiVersion: v1
kind: ConfigMap
metadata:
  name: karpenter-global-settings
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: ballast-prod-spot
  labels:
    team: web
  annotations:
    karpenter.sh/nodepool-hash: "123"
    owner: web@example.com
spec:
  template:
    spec:
      nodeClassRef:
        group: karpenter.k8s.aws
        kind: EC2NodeClass
        name: elsewhere
      requirements:
        - key: karpenter.sh/capacity-type
          operator: In
          values: [spot]
      kubelet:
        maxPods: 20
  weight: 100
extra: true
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: ballast-prod
spec:
  role: KarpenterNodeRole-prod
  amiSelectorTerms:
    - alias: al2023@latest
  subnetSelectorTerms:
    - tags: {karpenter.sh/discovery: prod}
  securityGroupSelectorTerms:
    - tags: {karpenter.sh/discovery: prod}
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: web
spec:
  template:
    metadata:
      labels: {team: web}
    spec:
      nodeClassRef:
        group: karpenter.k8s.aws
        kind: EC2NodeClass
        name: ballast-prod
      requirements:
        - key: karpenter.sh/capacity-type
          operator: In
          values: [on-demand]
  weight: 30
`

// TestImportReport checks each line of the report, at file:line:column, and that the
// renamed objects render under their new names with the references following.
func TestImportReport(t *testing.T) {
	dir := tree(t, map[string]string{"karpenter/pools.yaml": reportInput})
	code, stdout, stderr := run("import", "-f", "karpenter", "--cluster", "prod", "--region", "eu-west-1", "--adopt")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	want := []string{
		"karpenter/pools.yaml:2:7: ConfigMap/karpenter-global-settings: note: skipped: ConfigMap (v1) is not a NodePool or EC2NodeClass",
		"karpenter/pools.yaml:29:8: NodePool/ballast-prod-spot: warning: extra is not carried: a NodePool has no such field",
		"karpenter/pools.yaml:12:3: NodePool/ballast-prod-spot: warning: the NodePool's own annotations are not carried (owner); the nodes' annotations, spec.template.metadata.annotations, are kept",
		"karpenter/pools.yaml:10:3: NodePool/ballast-prod-spot: warning: the NodePool's own labels are not carried (team): Ballast gives its objects its owner labels; the nodes' labels, spec.template.metadata.labels, are kept",
		"karpenter/pools.yaml:8:1: NodePool/ballast-prod-spot: note: not carried, runtime state that Karpenter and the API server keep: annotation karpenter.sh/nodepool-hash",
		"karpenter/pools.yaml:26:7: NodePool/ballast-prod-spot: warning: spec.template.spec.kubelet is not carried: Karpenter's NodePool CRD has no such field",
		"karpenter/pools.yaml:15:1: NodePool/ballast-prod-spot: note: written as Karpenter's types write it (the same values; kubectl diff shows these): spec.template.metadata absent → {}",
		"karpenter/pools.yaml:34:9: EC2NodeClass/ballast-prod: warning: renamed to ballast-prod-imported: ballast-prod is the name of the default node class, which Ballast renders itself; the NodePools that use it are rewritten to it, so their nodes drift and are replaced",
		"karpenter/pools.yaml:9:9: NodePool/ballast-prod-spot: warning: renamed to ballast-prod-spot-imported: ballast-prod-spot is the name of a NodePool of the default supply, which Ballast renders itself; the nodes it launched are replaced once the old one is deleted",
		"karpenter/pools.yaml:21:15: NodePool/ballast-prod-spot: warning: refers to EC2NodeClass elsewhere, which is not imported: kept as it is; it must stay in the cluster, outside Ballast",
		"karpenter/pools.yaml:56:15: NodePool/web: note: nodeClassRef.name ballast-prod rewritten to ballast-prod-imported, the EC2NodeClass's name in the policy",
		"karpenter/pools.yaml:35:1: EC2NodeClass/ballast-prod: note: Ballast's default supply (EC2NodeClass ballast-prod, NodePools ballast-prod-on-demand and ballast-prod-spot) launches nodes with its role KarpenterNodeRole-prod, its subnets, its security groups, its AMI al2023@latest; change spec.nodeClass to choose otherwise",
		"imported ClusterPolicy prod: 2 NodePools, 1 EC2NodeClass",
	}
	if got := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n"); !slices.Equal(got, want) {
		t.Errorf("the report is\n%s\nwant\n%s", stderr, strings.Join(want, "\n"))
	}
	for _, s := range []string{"kubelet", "extra", "web@example.com", "nodepool-hash"} {
		if strings.Contains(stdout, s) {
			t.Errorf("the policy carries %q:\n%s", s, stdout)
		}
	}
	out := filepath.Join(dir, "policies")
	if err := os.MkdirAll(filepath.Join(out, "clusters"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "clusters", "prod.yaml"), []byte(stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	objs := renderedObjects(t, out)
	spot := findRendered(objs, nodePoolKind, "ballast-prod-spot-imported")
	web := findRendered(objs, nodePoolKind, "web")
	class := findRendered(objs, nodeClassKind, "ballast-prod-imported")
	if spot == nil || web == nil || class == nil {
		t.Fatalf("renamed objects not rendered:\n%s", stdout)
	}
	if ref := web.(*karpv1.NodePool).Spec.Template.Spec.NodeClassRef.Name; ref != "ballast-prod-imported" {
		t.Errorf("web refers to %s", ref)
	}
	if ref := spot.(*karpv1.NodePool).Spec.Template.Spec.NodeClassRef.Name; ref != "elsewhere" {
		t.Errorf("ballast-prod-spot-imported refers to %s", ref)
	}
	if labels := web.(*karpv1.NodePool).Spec.Template.Labels; labels["team"] != "web" {
		t.Errorf("web's template labels %v", labels)
	}
	// The default supply is Ballast's own, beside them.
	if def := findRendered(objs, nodePoolKind, "ballast-prod-spot"); def == nil || def.GetLabels()[v1alpha1.NodePoolLabel] != "" {
		t.Errorf("the default supply's Spot pool: %v", def)
	}
}

// TestImportRenamesTaken checks that a suffix -imported already taken by another
// object is not given twice.
func TestImportRenamesTaken(t *testing.T) {
	pool := func(name string) string {
		return "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata:\n  name: " + name + `
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements: [{key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}]
---
`
	}
	tree(t, map[string]string{"pools.yaml": pool("ballast-prod-on-demand") + pool("ballast-prod-on-demand-imported") + pool("spot")})
	code, stdout, stderr := run("import", "-f", "pools.yaml", "--cluster", "prod", "--region", "eu-west-1", "--adopt", "--role", "KarpenterNodeRole-prod")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"- name: ballast-prod-on-demand-imported-2\n", "- name: ballast-prod-on-demand-imported\n", "- name: spot\n", "role: KarpenterNodeRole-prod\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the policy has no %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "NodePool/ballast-prod-on-demand: warning: renamed to ballast-prod-on-demand-imported-2") ||
		!strings.Contains(stderr, "refers to EC2NodeClass default, which is not imported") ||
		!strings.Contains(stderr, "launches nodes with the role KarpenterNodeRole-prod (--role)") {
		t.Errorf("report:\n%s", stderr)
	}
	// Without --adopt the pool spot would be ballast-prod-spot.
	code, stdout, stderr = run("import", "-f", "pools.yaml", "--cluster", "prod", "--region", "eu-west-1", "--role", "KarpenterNodeRole-prod")
	if code != ExitOK || !strings.Contains(stdout, "- name: ballast-prod-spot-imported\n") || !strings.Contains(stdout, "- name: ballast-prod-ballast-prod-on-demand\n") {
		t.Errorf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestImportFromStdin imports kubectl's List from stdin.
func TestImportFromStdin(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(importCorpus, "kubectl-export", "kubectl-get.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := Main([]string{"import", "-f", "-", "--cluster", "prod", "--region", "eu-west-1", "--adopt"}, bytes.NewReader(data), &out, &errOut)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
	for _, want := range []string{
		"<stdin>:15:5: NodePool/default: warning: the NodePool's own labels are not carried (app.kubernetes.io/managed-by)",
		"<stdin>:69:3: EC2NodeClass/default: note: not carried, runtime state that Karpenter and the API server keep: annotation karpenter.k8s.aws/ec2nodeclass-hash, annotation karpenter.k8s.aws/ec2nodeclass-hash-version, finalizer karpenter.k8s.aws/termination, metadata.creationTimestamp, metadata.generation, metadata.resourceVersion, metadata.uid, status\n",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("the report has no %q:\n%s", want, errOut.String())
		}
	}
	if !strings.Contains(out.String(), "# NodePool default, from <stdin>:5:3\n") {
		t.Errorf("policy:\n%s", out.String())
	}
}

// validPool is a NodePool Karpenter accepts, with its EC2NodeClass.
const validPool = `apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: default
spec:
  role: KarpenterNodeRole-prod
  amiSelectorTerms: [{alias: al2023@latest}]
  subnetSelectorTerms: [{tags: {karpenter.sh/discovery: prod}}]
  securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: prod}}]
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: general
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements: [{key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}]
`

// TestImportRefuses checks what import cannot import: nothing is written, the exit
// status is 1 (2 for a usage error) and the report says why, where.
func TestImportRefuses(t *testing.T) {
	windowsClass := strings.Replace(strings.SplitN(validPool, "---", 2)[0], "al2023@latest", "windows2022@latest", 1)
	long := strings.Repeat("a", 55)
	for _, tc := range []struct {
		name  string
		files map[string]string
		args  []string
		code  int
		want  []string
	}{
		{
			name:  "v1beta1",
			files: map[string]string{"in.yaml": validPool + "---\napiVersion: karpenter.sh/v1beta1\nkind: NodePool\nmetadata:\n  name: old\nspec: {}\n"},
			code:  ExitFindings,
			want:  []string{"in.yaml:21:13: NodePool/old: error: apiVersion karpenter.sh/v1beta1 is not supported: ballast import reads Karpenter's v1 API (karpenter.sh/v1, karpenter.k8s.aws/v1); upgrade Karpenter to v1 first", "nothing written: 1 error"},
		},
		{
			name:  "rejected by Karpenter's CRD",
			files: map[string]string{"in.yaml": validPool + "  disruption:\n    budgets:\n      - nodes: lots\n"},
			code:  ExitFindings,
			want:  []string{"in.yaml:22:16: NodePool/general: error: Karpenter's CRD rejects it: spec.disruption.budgets[0].nodes: Invalid value: \"lots\""},
		},
		{
			name:  "twice",
			files: map[string]string{"a.yaml": validPool, "b.yaml": validPool},
			code:  ExitFindings,
			want:  []string{"b.yaml:4:9: EC2NodeClass/default: error: EC2NodeClass default is imported twice (also at a.yaml:4:9)", "b.yaml:14:9: NodePool/general: error: NodePool general is imported twice (also at a.yaml:14:9)"},
		},
		{
			name:  "no name",
			files: map[string]string{"in.yaml": strings.Replace(validPool, "  name: general\n", "  labels: {}\n", 1)},
			code:  ExitFindings,
			want:  []string{"in.yaml:13:1: NodePool/: error: metadata.name is missing"},
		},
		{
			name:  "no spec",
			files: map[string]string{"in.yaml": "apiVersion: karpenter.k8s.aws/v1\nkind: EC2NodeClass\nmetadata:\n  name: empty\n"},
			code:  ExitFindings,
			want:  []string{"in.yaml:1:1: EC2NodeClass/empty: error: spec is missing or not a mapping"},
		},
		{
			name:  "YAML syntax",
			files: map[string]string{"in.yaml": "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata:\n  name: [x\n"},
			code:  ExitFindings,
			want:  []string{"in.yaml:3: error [yaml-syntax] invalid YAML", "nothing written: 1 error"},
		},
		{
			name:  "duplicate key",
			files: map[string]string{"in.yaml": validPool + "  weight: 1\n  weight: 2\n"},
			code:  ExitFindings,
			want:  []string{"in.yaml:21:3: error [duplicate-key] spec.weight: \"weight\" is set twice in this mapping (first at line 20)"},
		},
		{
			name:  "nothing to import",
			files: map[string]string{"in.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"},
			code:  ExitFindings,
			want:  []string{"in.yaml:2:7: ConfigMap/x: note: skipped", "error: found no NodePool (karpenter.sh/v1) and no EC2NodeClass (karpenter.k8s.aws/v1) to import"},
		},
		{
			name:  "no node class and no role",
			files: map[string]string{"in.yaml": strings.SplitN(validPool, "---\n", 2)[1]},
			code:  ExitFindings,
			want:  []string{"error: no EC2NodeClass is imported: give --role, the IAM role of the nodes of Ballast's default supply"},
		},
		{
			name:  "only Windows",
			files: map[string]string{"in.yaml": windowsClass},
			code:  ExitFindings,
			want:  []string{"error: every imported EC2NodeClass launches Windows nodes: give --role"},
		},
		{
			name:  "name too long for the prefix",
			files: map[string]string{"in.yaml": strings.Replace(validPool, "name: general", "name: "+long, 1)},
			args:  []string{"--adopt=false"},
			code:  ExitFindings,
			want:  []string{"in.yaml:14:9: NodePool/" + long + ": error: the name ballast-prod-" + long + " cannot be given: must be no more than 63 bytes; import with --adopt, or rename it"},
		},
		{
			name:  "invalid cluster name",
			files: map[string]string{"in.yaml": validPool},
			args:  []string{"--cluster", "Prod_1"},
			code:  ExitFindings,
			want:  []string{`error: the imported policy would not validate [invalid-value]: spec.cluster.name: "Prod_1" is not a valid cluster name`},
		},
		{
			name:  "files and a cluster",
			files: map[string]string{"in.yaml": validPool},
			args:  []string{"--kubeconfig="},
			code:  ExitError,
			want:  []string{"Error: import either files (-f) or a cluster (--kubeconfig / --context), not both"},
		},
		{
			name:  "missing file",
			files: map[string]string{"in.yaml": validPool},
			args:  []string{"-f", "missing.yaml"},
			code:  ExitError,
			want:  []string{"Error: missing.yaml does not exist"},
		},
		{
			name:  "missing region",
			files: map[string]string{"in.yaml": validPool},
			args:  []string{"--region="},
			code:  ExitError,
			want:  []string{"Error: --region is required"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tree(t, tc.files)
			args := []string{"import", "--cluster", "prod", "--region", "eu-west-1", "--adopt", "-o", "out"}
			for _, name := range slices.Sorted(maps.Keys(tc.files)) {
				args = append(args, "-f", name)
			}
			code, stdout, stderr := run(append(args, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr has no %q:\n%s", w, stderr)
				}
			}
			if stdout != "" {
				t.Errorf("stdout: %s", stdout)
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("something was written: %v", err)
			}
		})
	}
}

// TestImportUsage checks the choice of source and the output file.
func TestImportUsage(t *testing.T) {
	tree(t, map[string]string{"in.yaml": validPool})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster", "prod", "--region", "eu-west-1"}, "say what to import: -f FILE or DIR, or --kubeconfig FILE / --context NAME"},
		{[]string{"-f", "in.yaml", "--context", "prod", "--cluster", "prod", "--region", "eu-west-1"}, "import either files (-f) or a cluster"},
		{[]string{"-f", "in.yaml", "--region", "eu-west-1"}, "--cluster is required"},
		{[]string{"-f", "in.yaml", "--cluster", "prod", "--region", "eu-west-1", "extra"}, `unknown command "extra"`},
		{[]string{"--kubeconfig", "missing-kubeconfig", "--context", "prod", "--cluster", "prod", "--region", "eu-west-1"}, "failed to load the kubeconfig"},
	} {
		code, _, stderr := run(append([]string{"import"}, tc.args...)...)
		if code != ExitError || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d\n%s", tc.args, code, stderr)
		}
	}

	args := []string{"import", "-f", "in.yaml", "--cluster", "prod", "--region", "eu-west-1", "--adopt", "-o", "policies"}
	if code, _, stderr := run(args...); code != ExitOK || !strings.Contains(stderr, "wrote policies/clusters/prod.yaml (ClusterPolicy prod: 1 NodePool, 1 EC2NodeClass)\n") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if err := os.WriteFile("policies/clusters/prod.yaml", []byte("# mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(args...)
	if data, _ := os.ReadFile("policies/clusters/prod.yaml"); code != ExitError || string(data) != "# mine\n" || !strings.Contains(stderr, "policies/clusters/prod.yaml exists: give --force to overwrite it") {
		t.Errorf("exit %d, file %q\n%s", code, data, stderr)
	}
	if code, _, stderr := run(append(args, "--force")...); code != ExitOK {
		t.Errorf("--force: exit %d\n%s", code, stderr)
	}
	if code, stdout, stderr := run("validate", "policies"); code != ExitOK {
		t.Errorf("validate: exit %d\n%s%s", code, stdout, stderr)
	}
	entries, err := os.ReadDir("policies/clusters")
	if err != nil || len(entries) != 1 {
		t.Errorf("policies/clusters holds %v (%v): a temporary file left behind?", entries, err)
	}
}

// TestImportSkipsWhatBallastRenders: a cluster already on Ballast has Ballast's own
// NodePools and EC2NodeClass (its default supply, the pools it imported before): import
// leaves them out, with a note, instead of renaming them into copies.
func TestImportSkipsWhatBallastRenders(t *testing.T) {
	tree(t, map[string]string{"karpenter/pools.yaml": `apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: ballast-prod-spot
  labels: {ballast.dev/cluster: prod, ballast.dev/source: main}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: ballast-prod}
      requirements: [{key: karpenter.sh/capacity-type, operator: In, values: [spot]}]
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: batch
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: ballast-prod}
      requirements: [{key: karpenter.sh/capacity-type, operator: In, values: [spot]}]
`})
	code, stdout, stderr := run("import", "-f", "karpenter", "--cluster", "prod", "--region", "eu-west-1", "--adopt", "--role", "KarpenterNodeRole-prod")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, `karpenter/pools.yaml:5:3: NodePool/ballast-prod-spot: note: skipped: Ballast renders it from the policy of cluster "prod" already`) {
		t.Errorf("no note on the skipped NodePool:\n%s", stderr)
	}
	if strings.Contains(stdout, "ballast-prod-spot") || !strings.Contains(stdout, "name: batch") {
		t.Errorf("the policy should hold batch only:\n%s", stdout)
	}
}
