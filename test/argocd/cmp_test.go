package argocd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// plugin is the part of Argo CD's ConfigManagementPlugin that cmp-plugin.yaml may use;
// decoding it strictly catches a misspelt field Argo CD would ignore.
type plugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version  string   `json:"version,omitempty"`
		Init     *command `json:"init,omitempty"`
		Generate command  `json:"generate"`
		Discover struct {
			FileName string `json:"fileName,omitempty"`
			Find     struct {
				command
				Glob string `json:"glob,omitempty"`
			} `json:"find"`
		} `json:"discover"`
	} `json:"spec"`
}

type command struct {
	Command []string `json:"command,omitempty"`
	Args    []string `json:"args,omitempty"`
}

func readPlugin(t *testing.T) plugin {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(RepoRoot(), "config", "argocd", "cmp-plugin.yaml")) //nolint:gosec // the repository's own file
	if err != nil {
		t.Fatal(err)
	}
	var p plugin
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		t.Fatalf("cmp-plugin.yaml: %v", err)
	}
	if p.APIVersion != "argoproj.io/v1alpha1" || p.Kind != "ConfigManagementPlugin" || p.Metadata.Name != "ballast" {
		t.Fatalf("cmp-plugin.yaml is a %s %s named %q; want argoproj.io/v1alpha1 ConfigManagementPlugin ballast", p.APIVersion, p.Kind, p.Metadata.Name)
	}
	if p.Spec.Init != nil || len(p.Spec.Generate.Command) == 0 || len(p.Spec.Discover.Find.Command) == 0 {
		t.Fatalf("cmp-plugin.yaml: want a generate and a discover command and no init")
	}
	return p
}

// run runs a plugin command the way argocd-cmp-server does: the command and its args
// as one argv (no shell of its own), in the application's directory, with the sidecar's
// environment (here: a PATH holding the ballast binary) plus Argo CD's build environment
// and the Application's plugin env, prefixed ARGOCD_ENV_ (entries with empty values are
// dropped, as Argo CD drops them).
func run(t *testing.T, c command, dir string, pluginEnv map[string]string) (stdout, stderr string, err error) {
	t.Helper()
	bin, err := localcluster.BuildBallast()
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append([]string{}, c.Command...), c.Args...)
	cmd := exec.Command(argv[0], argv[1:]...) //nolint:gosec // the plugin's own command
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + "/usr/local/bin:/usr/bin:/bin",
		"HOME=" + t.TempDir(),
		"ARGOCD_APP_NAME=ballast-prod-eu",
		"ARGOCD_APP_NAMESPACE=argocd",
		"ARGOCD_APP_REVISION=3f1c9a4be07d52e8a61f0c7d94b2e5a8c6d1f093",
		"ARGOCD_APP_SOURCE_PATH=policies",
		"ARGOCD_APP_SOURCE_REPO_URL=https://git.example.com/platform/policies.git",
		"ARGOCD_APP_SOURCE_TARGET_REVISION=main",
		"KUBE_VERSION=1.35.4",
	}
	for k, v := range pluginEnv {
		if v != "" {
			cmd.Env = append(cmd.Env, "ARGOCD_ENV_"+k+"="+v)
		}
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// appDir copies a directory of the repository, as Argo CD hands the plugin a copy of
// the Application's source.
func appDir(t *testing.T, from string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "policies")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(RepoRoot(), from))); err != nil {
		t.Fatal(err)
	}
	return dir
}

// documents splits a YAML stream into its objects, failing on anything that is not
// an object: Argo CD applies every document of the stream.
func documents(t *testing.T, stream string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	for doc := range strings.SplitSeq(stream, "\n---\n") {
		doc = strings.TrimPrefix(doc, "---\n")
		if strings.TrimSpace(doc) == "" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil || u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			t.Fatalf("a document that is no object (%v):\n%s", err, doc)
		}
		objs = append(objs, u)
	}
	return objs
}

func TestPluginGenerate(t *testing.T) {
	p := readPlugin(t)
	app := appDir(t, "examples/policies")
	rendered := map[string]map[string]bool{} // cluster -> kind/namespace/name
	for _, cluster := range []string{"prod-eu", "prod-us"} {
		stdout, stderr, err := run(t, p.Spec.Generate, app, map[string]string{"BALLAST_CLUSTER": cluster})
		if err != nil {
			t.Fatalf("%s: %v\n%s", cluster, err, stderr)
		}
		objs := documents(t, stdout)
		rendered[cluster] = map[string]bool{}
		kinds := map[string]int{}
		for _, o := range objs {
			kinds[o.GetKind()]++
			rendered[cluster][o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] = true
			if l := o.GetLabels(); l[v1alpha1.ClusterLabel] != cluster || l[v1alpha1.SourceLabel] != "argocd" {
				t.Errorf("%s: %s %s has labels %v; want %s=%s, %s=argocd", cluster, o.GetKind(), o.GetName(), l,
					v1alpha1.ClusterLabel, cluster, v1alpha1.SourceLabel)
			}
			for _, m := range []map[string]string{o.GetLabels(), o.GetAnnotations()} {
				for k := range m {
					if strings.HasPrefix(k, "argocd.argoproj.io/") || k == "app.kubernetes.io/instance" {
						t.Errorf("%s: %s %s carries Argo CD's tracking key %s: Argo CD sets its own", cluster, o.GetKind(), o.GetName(), k)
					}
				}
			}
		}
		if kinds["EC2NodeClass"] != 1 || kinds["NodePool"] != 2 || kinds["ClusterPolicy"] != 1 || kinds["WorkloadDistributionRule"] == 0 {
			t.Errorf("%s: rendered %v; want an EC2NodeClass, two NodePools, a ClusterPolicy and its rules", cluster, kinds)
		}
		if !rendered[cluster]["ClusterPolicy//"+cluster] || !rendered[cluster]["NodePool//ballast-"+cluster+"-spot"] {
			t.Errorf("%s: rendered %v; want ClusterPolicy %s and NodePool ballast-%s-spot", cluster, rendered[cluster], cluster, cluster)
		}
	}
	for id := range rendered["prod-eu"] {
		if strings.HasPrefix(id, "ClusterPolicy/") || strings.HasPrefix(id, "NodePool/") || strings.HasPrefix(id, "EC2NodeClass/") {
			if rendered["prod-us"][id] {
				t.Errorf("%s rendered for both clusters", id)
			}
		}
	}
}

func TestPluginGenerateFails(t *testing.T) {
	p := readPlugin(t)
	for _, tc := range []struct {
		name, dir, cluster string
		stderr             []string
	}{
		{"no cluster in the plugin env", "examples/policies", "",
			[]string{"ARGOCD_ENV_BALLAST_CLUSTER", "set BALLAST_CLUSTER in the Application's spec.source.plugin.env"}},
		{"a cluster the repository does not have", "examples/policies", "staging",
			[]string{`no ClusterPolicy for cluster "staging" (clusters: prod-eu, prod-us)`}},
		{"a policy that does not validate", "examples/invalid/unknown-field", "prod",
			[]string{`[unknown-field] spec.spot.enabeld: unknown field "enabeld"`, "nothing rendered"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := run(t, p.Spec.Generate, appDir(t, tc.dir), map[string]string{"BALLAST_CLUSTER": tc.cluster})
			if err == nil {
				t.Fatalf("the plugin rendered:\n%s", stdout)
			}
			if stdout != "" {
				t.Errorf("a failed render wrote to stdout, which Argo CD would read as manifests:\n%s", stdout)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q does not say %q", stderr, want)
				}
			}
		})
	}
}

func TestPluginDiscover(t *testing.T) {
	p := readPlugin(t)
	other := t.TempDir()
	for name, doc := range map[string]string{
		// Kyverno's ClusterPolicy has the same kind in another group.
		"kyverno.yaml": "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata:\n  name: require-labels\nspec:\n  rules: []\n",
		"app.yml":      "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n",
	} {
		if err := os.WriteFile(filepath.Join(other, name), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, dir string
		match     bool
	}{
		{"a policy repository", appDir(t, "examples/policies"), true},
		{"a PolicySource without policies", appDir(t, "config/samples"), false},
		{"another kind of repository", other, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := run(t, p.Spec.Discover.Find.command, tc.dir, nil)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			// Argo CD takes any output as a match.
			if got := strings.TrimSpace(stdout) != ""; got != tc.match {
				t.Errorf("match %v (output %q); want %v", got, stdout, tc.match)
			}
		})
	}
}
