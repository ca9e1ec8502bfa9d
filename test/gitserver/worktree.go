package gitserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// WorkTree is a plain (non-bare) repository made with the git command line in a
// temporary directory, on branch main, with a fixed identity and a clock that advances
// one minute per commit from 2026-11-01 12:00 UTC, so commit times are distinct and
// predictable (the first commit is at 12:01).
type WorkTree struct {
	// Dir is the work tree.
	Dir  string
	t    testing.TB
	tick int
}

// NewWorkTree initialises an empty repository removed when the test ends.
func NewWorkTree(t testing.TB) *WorkTree {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("these tests need the git command line: %v", err)
	}
	w := &WorkTree{Dir: t.TempDir(), t: t}
	w.Git("init", "-q", "-b", "main")
	return w
}

// Git runs git in the work tree and returns its trimmed output; a failure fails the test.
func (w *WorkTree) Git(args ...string) string {
	w.t.Helper()
	when := time.Date(2026, 11, 1, 12, w.tick, 0, 0, time.UTC).Format(time.RFC3339)
	cmd := exec.Command("git", args...)
	cmd.Dir = w.Dir
	cmd.Env = append(gitEnv(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
		"GIT_AUTHOR_DATE="+when, "GIT_COMMITTER_DATE="+when)
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Write writes files by slash-separated path; an empty content removes the file.
func (w *WorkTree) Write(files map[string]string) {
	w.t.Helper()
	for name, content := range files {
		p := filepath.Join(w.Dir, filepath.FromSlash(name))
		if content == "" {
			if err := os.Remove(p); err != nil {
				w.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			w.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			w.t.Fatal(err)
		}
	}
}

// Commit writes files, commits everything with the message and returns the commit SHA.
func (w *WorkTree) Commit(msg string, files map[string]string) string {
	w.t.Helper()
	w.Write(files)
	w.tick++
	w.Git("add", "-A")
	w.Git("commit", "-q", "--allow-empty", "-m", msg)
	return w.Git("rev-parse", "HEAD")
}
