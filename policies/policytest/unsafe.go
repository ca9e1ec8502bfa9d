package policytest

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// UnsafeTree describes the policy tree WriteUnsafeTree writes: a few sound policies
// among paths a loader must not read.
type UnsafeTree struct {
	// Root is the policy tree's directory, relative to the directory written to.
	Root string
	// Unreadable are the paths, relative to Root, each of which must be exactly one
	// unreadable-file finding. A name that is not UTF-8 is written with \xNN escapes,
	// as findings name it.
	Unreadable []string
	// Findings are other findings the sound files yield, as "<path>: <rule>" with
	// paths relative to Root, proving the rest of the tree is validated.
	Findings []string
	// Secret is in a file outside Root that a link points to; no finding may contain it.
	Secret string
}

const unsafeCluster = `apiVersion: ballast.dev/v1alpha1
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

// WriteUnsafeTree writes under dir a policy tree with a sound ClusterPolicy, a rule with
// one mistake, a rule read through a link inside the tree, and symbolic links that
// dangle, loop, lead through a file or to a directory, or leave the tree (to a file
// elsewhere in dir holding a secret, to /etc/passwd, /dev/stdin and /dev/zero), and a
// file whose name is not UTF-8 (left out where the file system refuses such names).
// Git can commit all of it; tests add FIFOs, sockets and the like where the OS
// allows.
func WriteUnsafeTree(dir string) (*UnsafeTree, error) {
	t := &UnsafeTree{Root: "policies", Secret: "s3cr3t-VALUE-that-must-not-leak"}
	files := map[string]string{
		"policies/cluster.yaml": unsafeCluster,
		"policies/rules/web.yaml": "apiVersion: ballast.dev/v1alpha1\nkind: WorkloadDistributionRule\n" +
			"metadata: {name: web, namespace: shop}\nspec: {onDemandPercent: 120}\n",
		"policies/shared/api.rule": "apiVersion: ballast.dev/v1alpha1\nkind: WorkloadDistributionRule\n" +
			"metadata: {name: api, namespace: api}\nspec: {onDemandPercent: 10}\n",
		// Were it read, its value would be echoed by the unknown-field finding.
		"outside/secret.yaml": "apiVersion: ballast.dev/v1alpha1\nkind: ClusterPolicy\nmetadata: {name: x}\nspec:\n  " + t.Secret + ": " + t.Secret + "\n",
	}
	t.Findings = []string{"rules/web.yaml: out-of-range"}
	links := map[string]string{
		"policies/rules/api.yaml": "../shared/api.rule",                   // read, as rules/api.yaml
		"policies/all-rules":      "rules",                                // a directory link: not followed
		"policies/README.md":      "/etc/passwd",                          // not a policy file: never looked at
		"policies/.hidden.yaml":   "/etc/passwd",                          // hidden: never looked at
		"policies/dangling.yaml":  "missing/nowhere.yaml",                 // dangles
		"policies/loop.yaml":      "loop.yaml",                            // loops on itself
		"policies/ping.yaml":      "pong.yaml",                            // loops in two
		"policies/pong.yaml":      "ping.yaml",                            // ...
		"policies/secret.yaml":    "../outside/secret.yaml",               // leaves the tree
		"policies/back.yaml":      "../policies/cluster.yaml",             // leaves the tree, even to come back
		"policies/passwd.yaml":    "/etc/passwd",                          // absolute
		"policies/stdin.yaml":     "/dev/stdin",                           // absolute; would block
		"policies/zero.yaml":      strings.Repeat("../", 40) + "dev/zero", // leaves; would never end
		"policies/dir.yaml":       "rules",                                // a directory
		"policies/through.yaml":   "cluster.yaml/x.yaml",                  // through a file
		"policies/rules/up.yaml":  "../../outside/secret.yaml",            // leaves from below
	}
	t.Unreadable = []string{"back.yaml", "dangling.yaml", "dir.yaml", "loop.yaml", "passwd.yaml", "ping.yaml", "pong.yaml",
		"rules/up.yaml", "secret.yaml", "stdin.yaml", "through.yaml", "zero.yaml"}
	for name, content := range files {
		if err := write(dir, name, content); err != nil {
			return nil, err
		}
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			return nil, fmt.Errorf("failed to link %s: %w", name, err)
		}
	}
	if err := write(dir, "policies/bad\xff.yaml", unsafeCluster); err == nil {
		t.Unreadable = append(t.Unreadable, `bad\xff.yaml`)
	}
	return t, nil
}

func write(dir, name, content string) error {
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("failed to write %s: %w", name, err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		return fmt.Errorf("failed to write %s: %w", name, err)
	}
	return nil
}

// Finding is what Check needs of a policies.Finding (which this package cannot import:
// the policies tests import it).
type Finding struct {
	File, Rule, Severity string
	// Text is the finding as printed.
	Text string
}

// Check returns what is wrong with the findings of the tree, loaded with display naming
// its root: each Unreadable path, and each of extra, must be exactly one unreadable-file
// finding; the expected Findings must be there and no other error or warning; and no
// finding may show the secret or the content of /etc/passwd.
func (t *UnsafeTree) Check(display string, findings []Finding, extra ...string) []string {
	var problems []string
	want := map[string]int{}
	for _, p := range append(slices.Clone(t.Unreadable), extra...) {
		want[path.Join(display, p)] = 0
	}
	expected := map[string]bool{}
	for _, f := range t.Findings {
		expected[path.Join(display, f)] = false
	}
	for _, f := range findings {
		if strings.Contains(f.Text, t.Secret) || strings.Contains(f.Text, "root:x:0") {
			problems = append(problems, "a finding shows what is outside the tree: "+f.Text)
		}
		key := f.File + ": " + f.Rule
		switch n, ok := want[f.File]; {
		case f.Rule == "unreadable-file" && ok:
			want[f.File] = n + 1
		case f.Rule == "unreadable-file":
			problems = append(problems, "unexpected: "+f.Text)
		case hasKey(expected, key):
			expected[key] = true
		case f.Severity == "error" || f.Severity == "warning":
			problems = append(problems, "unexpected: "+f.Text)
		}
	}
	for _, p := range sortedKeys(want) {
		if want[p] != 1 {
			problems = append(problems, fmt.Sprintf("%s: %d unreadable-file findings, want 1", p, want[p]))
		}
	}
	for _, k := range sortedKeys(expected) {
		if !expected[k] {
			problems = append(problems, "missing: "+k+" (the rest of the tree must be validated)")
		}
	}
	return problems
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
