package app

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
)

const cleanPolicy = `apiVersion: ballast.dev/v1alpha1
kind: ClusterPolicy
metadata:
  name: prod
spec:
  cluster:
    name: prod
    region: eu-west-1
  nodeClass:
    role: KarpenterNodeRole-prod
`

// tree writes files under a temporary directory, makes it the working directory and
// returns it.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	return dir
}

func run(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Main(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestValidateCommand(t *testing.T) {
	expired := cleanPolicy + "  commitments:\n    enabled: true\n    source: Git\n    reservedInstances:\n      - {instanceType: m6i.large, count: 1, expires: \"2027-01-31\"}\n"
	for _, tc := range []struct {
		name     string
		files    map[string]string
		args     []string
		code     int
		stdout   []string
		stderr   string
		noStdout bool
		// noControl: stdout has no control character but the newlines ending lines.
		noControl bool
	}{
		{name: "clean directory", files: map[string]string{"policies/prod.yaml": cleanPolicy},
			args: []string{"validate", "policies"}, code: ExitOK, stdout: []string{"ok: 1 cluster policy, 0 rules in 1 file\n"}},
		{name: "default path", files: map[string]string{"prod.yaml": cleanPolicy, "rules/web.yaml": "apiVersion: ballast.dev/v1alpha1\nkind: WorkloadDistributionRule\nmetadata: {name: web, namespace: shop}\nspec: {onDemandPercent: 10}\n"},
			args: []string{"validate"}, code: ExitOK, stdout: []string{"ok: 1 cluster policy, 1 rule in 2 files\n"}},
		{name: "findings name files from the working directory", files: map[string]string{"policies/prod.yaml": cleanPolicy + "  distribution:\n    onDemandPercent: 120\n"},
			args: []string{"validate", "./policies/"}, code: ExitFindings,
			stdout: []string{"policies/prod.yaml:12:22: error [out-of-range] spec.distribution.onDemandPercent: ", "1 error in 1 file\n"}},
		{name: "single file", files: map[string]string{"policies/prod.policy": cleanPolicy + "  spot:\n    strategy: Cheap\n"},
			args: []string{"validate", "policies/prod.policy"}, code: ExitFindings, stdout: []string{"policies/prod.policy:12:15: error [invalid-value]"}},
		{name: "warnings fail", files: map[string]string{"p.yaml": cleanPolicy + "  spot:\n    enabled: false\n"},
			args: []string{"validate"}, code: ExitFindings, stdout: []string{"warning [spot-disabled]", "1 warning in 1 file"}},
		{name: "notes do not fail", files: map[string]string{"p.yaml": cleanPolicy, "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"},
			args: []string{"validate", "."}, code: ExitOK, stdout: []string{"cm.yaml:1:1: info [ignored-document]", "ok: 1 cluster policy, 0 rules in 2 files"}},
		{name: "no policies", files: map[string]string{"README.md": "x"},
			args: []string{"validate"}, code: ExitOK, stdout: []string{"ok: 0 cluster policies, 0 rules in 0 files"}, stderr: "no Ballast policy documents"},
		{name: "expired as of --today", files: map[string]string{"p.yaml": expired},
			args: []string{"validate", "--today", "2027-02-01"}, code: ExitFindings, stdout: []string{"warning [expired-commitment]"}},
		{name: "not yet expired as of --today", files: map[string]string{"p.yaml": expired},
			args: []string{"validate", "--today", "2027-01-31"}, code: ExitOK},
		{name: "json", files: map[string]string{"p.yaml": cleanPolicy + "  spot:\n    strategy: Cheap\n"},
			args: []string{"validate", "--format", "json"}, code: ExitFindings, stdout: []string{`"rule": "invalid-value"`, `"errors": 1`}},
		{name: "json when clean prints only JSON", files: map[string]string{"p.yaml": cleanPolicy},
			args: []string{"validate", "--format=json"}, code: ExitOK, stdout: []string{`"findings": []`}},
		{name: "github", files: map[string]string{"p.yaml": cleanPolicy + "  spot:\n    strategy: Cheap\n"},
			args: []string{"validate", "--format", "github"}, code: ExitFindings, stdout: []string{"::error file=p.yaml,line=12,col=15,title=ballast invalid-value::spec.spot.strategy: "}},
		{name: "a hostile file name cannot rewrite the terminal", files: map[string]string{"p/\x1b[2J\x1b[Hx\n.yaml": "kind: [\n"},
			args: []string{"validate", "p"}, code: ExitFindings, stdout: []string{`p/\x1b[2J\x1b[Hx\n.yaml:`, "[yaml-syntax]"}, noControl: true},
		{name: "github annotations escape it too", files: map[string]string{"p/\x1b[2Jx\n.yaml": "kind: [\n"},
			args: []string{"validate", "--format", "github", "p"}, code: ExitFindings, stdout: []string{`::error file=p/\x1b[2Jx%0A.yaml,line=`}, noControl: true},
		{name: "unknown format", files: map[string]string{"p.yaml": cleanPolicy}, args: []string{"validate", "--format", "xml"}, code: ExitError, stderr: "unknown format", noStdout: true},
		{name: "missing path", files: map[string]string{}, args: []string{"validate", "nope"}, code: ExitError, stderr: "nope does not exist", noStdout: true},
		{name: "bad flag", files: map[string]string{}, args: []string{"validate", "--bogus"}, code: ExitError, stderr: "unknown flag", noStdout: true},
		{name: "two paths", files: map[string]string{}, args: []string{"validate", "a", "b"}, code: ExitError, stderr: "accepts at most 1 arg", noStdout: true},
		{name: "bad date", files: map[string]string{}, args: []string{"validate", "--today", "tomorrow"}, code: ExitError, stderr: "--today", noStdout: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree(t, tc.files)
			code, out, errOut := run(tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			if tc.stderr != "" && !strings.Contains(errOut, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, errOut)
			}
			if tc.noControl && strings.ContainsFunc(out, func(r rune) bool { return r != '\n' && unicode.IsControl(r) }) {
				t.Errorf("stdout has control characters: %q", out)
			}
			if tc.noStdout && out != "" {
				t.Errorf("a usage error must print nothing on stdout, got %q", out)
			}
			if slices.ContainsFunc(tc.args, func(a string) bool { return strings.HasSuffix(a, "json") }) && tc.code != ExitError {
				var v map[string]any
				if err := json.Unmarshal([]byte(out), &v); err != nil {
					t.Errorf("stdout is not one JSON document: %v\n%s", err, out)
				}
			}
		})
	}
}

func TestValidateSARIF(t *testing.T) {
	tree(t, map[string]string{"policies/p.yaml": cleanPolicy + "  spot:\n    strategy: Cheap\n"})
	code, out, _ := run("validate", "--format", "sarif", "policies")
	if code != ExitFindings {
		t.Fatalf("exit %d", code)
	}
	var log struct {
		Runs []struct {
			Results []struct {
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
						Region           struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	loc := log.Runs[0].Results[0].Locations[0].PhysicalLocation
	if loc.ArtifactLocation.URI != "policies/p.yaml" || loc.Region.StartLine != 12 {
		t.Errorf("location %+v", loc)
	}
}
