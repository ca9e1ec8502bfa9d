//go:build unix

package app

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/ballast-dev/ballast/policies/policytest"
	"github.com/ballast-dev/ballast/test/gitserver"
)

// findingLine is a finding of the text format: file[:line[:column]]: severity [rule] message.
var findingLine = regexp.MustCompile(`^(.+?)(?::\d+){0,2}: (error|warning|info) \[([a-z-]+)\] `)

// unsafeTree writes policytest's unsafe tree under dir with two FIFOs (one behind a
// link) and returns it with the paths that Git cannot hold.
func unsafeTree(t *testing.T, dir string) (*policytest.UnsafeTree, []string) {
	t.Helper()
	ut, err := policytest.WriteUnsafeTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, ut.Root)
	for _, p := range []string{"fifo.yaml", "pipe"} {
		if err := syscall.Mkfifo(filepath.Join(root, p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("pipe", filepath.Join(root, "to-fifo.yaml")); err != nil {
		t.Fatal(err)
	}
	return ut, []string{"fifo.yaml", "to-fifo.yaml"}
}

// TestValidateUnsafeTree checks that ballast validate reads a hostile tree without
// hanging or reading outside it, and exits 1 with one finding per bad path (not 2).
func TestValidateUnsafeTree(t *testing.T) {
	dir := tree(t, nil)
	ut, extra := unsafeTree(t, dir)
	code, stdout, stderr := run("validate", "policies")
	if code != ExitFindings || stderr != "" {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitFindings, stdout, stderr)
	}
	var findings []policytest.Finding
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	for _, line := range lines[:len(lines)-1] { // the summary last
		m := findingLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a finding: %q", line)
		}
		findings = append(findings, policytest.Finding{File: m[1], Severity: m[2], Rule: m[3], Text: line})
	}
	for _, p := range ut.Check("policies", findings, extra...) {
		t.Error(p)
	}

	code, stdout, _ = run("validate", "--format", "json", "policies")
	var report struct {
		Counts map[string]int `json:"counts"`
	}
	if err := json.Unmarshal([]byte(stdout), &report); code != ExitFindings || err != nil {
		t.Fatalf("json: exit %d, %v\n%s", code, err, stdout)
	}
	if want := len(ut.Unreadable) + len(extra) + len(ut.Findings); report.Counts["errors"] != want {
		t.Errorf("json: %d errors, want %d", report.Counts["errors"], want)
	}
}

// TestDiffAndPlanUnsafeTree checks diff and plan on a hostile working tree: the
// findings at the working tree, no hang, and a cost scenario behind a link out of the
// repository left unread.
func TestDiffAndPlanUnsafeTree(t *testing.T) {
	clearCI(t)
	r := gitserver.NewWorkTree(t)
	r.Commit("policy tree", map[string]string{"policies/clusters/prod.yaml": prodPolicy, "scenarios/prod.yaml": prodScenario})
	t.Chdir(r.Dir)
	outside := filepath.Join(t.TempDir(), "scenario.yaml")
	if err := os.WriteFile(outside, []byte(strings.Replace(prodScenario, "name: prod", "name: s3cr3t", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove("scenarios/prod.yaml"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, "scenarios/prod.yaml"); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run("plan", "--time", at, "--base", "HEAD", "policies")
	if code != ExitOK || !strings.Contains(stdout, "scenarios/prod.yaml, which cannot be read at working tree") ||
		!strings.Contains(stdout, "absolute") || strings.Contains(stdout, "s3cr3t") {
		t.Errorf("plan with a scenario out of the repository: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	unsafeTree(t, filepath.Join(r.Dir, "more"))
	code, _, stderr = run("diff", "--time", at, "--base", "HEAD", "more/policies")
	if code != ExitError || !strings.Contains(stderr, "working tree has validation errors") ||
		!strings.Contains(stderr, "more/policies/fifo.yaml: error [unreadable-file] the file is a named pipe (FIFO)") ||
		!strings.Contains(stderr, "more/policies/secret.yaml: error [unreadable-file] the symbolic link leads out of the policy tree") ||
		strings.Contains(stderr, "s3cr3t") {
		t.Errorf("diff of a hostile working tree: exit %d\n%s", code, stderr)
	}
}

// TestWorkTree checks workTree as an fs.FS, links included.
func TestWorkTree(t *testing.T) {
	dir := tree(t, map[string]string{"a/b.yaml": "b", "c.yaml": "c"})
	if err := os.Symlink("a/b.yaml", filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	w, err := openWorkTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close() }()
	if err := fstest.TestFS(w, "a/b.yaml", "c.yaml", "link.yaml"); err != nil {
		t.Fatal(err)
	}
	// os.Root, even when a link appears after the checks of policies.Load.
	if err := os.WriteFile(filepath.Join(dir, "..", "outside"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../outside", filepath.Join(dir, "out.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Open("out.yaml"); err == nil {
		t.Error("opened a link out of the tree")
	}
	// A FIFO opens without blocking (no writer ever comes), even if Load were to open one.
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := w.Open("fifo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if fi, err := f.Stat(); err != nil || fi.Mode().Type() != fs.ModeNamedPipe {
		t.Errorf("Stat = %v, %v", fi, err)
	}
}
