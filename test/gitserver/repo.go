package gitserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Root is a directory of bare repositories that the servers serve.
type Root struct {
	// Dir holds the repositories, as <name>.git.
	Dir string

	mu   sync.Mutex
	tick int
}

// NewRoot returns an empty root in a temporary directory removed when the test ends.
func NewRoot(t testing.TB) *Root {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("these tests need the git command line: %v", err)
	}
	return &Root{Dir: t.TempDir()}
}

// Git runs git in dir with a fixed identity, no user or system configuration and a
// clock that advances one minute per call, and returns its trimmed output.
func (r *Root) Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	r.mu.Lock()
	r.tick++
	when := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(r.tick) * time.Minute).Format(time.RFC3339)
	r.mu.Unlock()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(gitEnv(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
		"GIT_AUTHOR_DATE="+when, "GIT_COMMITTER_DATE="+when)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// gitEnv is the environment of every git the package runs: no user or system
// configuration.
func gitEnv() []string {
	return append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
}

// Repo is a bare repository under a Root, with a work tree to make commits in.
type Repo struct {
	root *Root
	// Name is the repository's name; the servers serve it as /<Name>.git.
	Name string
	// Bare is the bare repository's directory.
	Bare string
	// Work is a clone used to commit and push.
	Work string
}

// Create makes a bare repository name.git whose default branch is main, and a work
// tree for it. Fetching any reachable commit by hash is allowed, as GitHub and GitLab
// do.
func (r *Root) Create(t testing.TB, name string) *Repo {
	t.Helper()
	repo := &Repo{root: r, Name: name, Bare: filepath.Join(r.Dir, name+".git"), Work: t.TempDir()}
	r.Git(t, r.Dir, "init", "-q", "--bare", "-b", "main", repo.Bare)
	r.Git(t, repo.Bare, "config", "uploadpack.allowReachableSHA1InWant", "true")
	r.Git(t, repo.Bare, "config", "http.receivepack", "true")
	r.Git(t, repo.Work, "init", "-q", "-b", "main")
	r.Git(t, repo.Work, "remote", "add", "origin", repo.Bare)
	return repo
}

// Commit writes files (slash-separated paths; an empty content deletes the file) on
// branch in the work tree, commits them with message and pushes the branch. It
// returns the commit's hash. A branch the work tree does not have yet starts from the
// current one.
func (p *Repo) Commit(t testing.TB, branch, message string, files map[string]string) string {
	t.Helper()
	p.checkout(t, branch)
	head := p.commitOnly(t, message, files)
	p.root.Git(t, p.Work, "push", "-q", "origin", branch)
	return head
}

func (p *Repo) checkout(t testing.TB, branch string) {
	t.Helper()
	if p.root.Git(t, p.Work, "symbolic-ref", "--short", "HEAD") == branch {
		return
	}
	if out := p.root.Git(t, p.Work, "branch", "--list", branch); out == "" {
		p.root.Git(t, p.Work, "checkout", "-q", "-b", branch)
		return
	}
	p.root.Git(t, p.Work, "checkout", "-q", branch)
}

// Tag creates an annotated tag on commit and pushes it.
func (p *Repo) Tag(t testing.TB, name, commit string) {
	t.Helper()
	p.root.Git(t, p.Work, "tag", "-a", name, "-m", "release "+name, commit)
	p.root.Git(t, p.Work, "push", "-q", "origin", "refs/tags/"+name)
}

// ForcePush rewrites branch: it resets it to the parent of its head, commits files
// there with message and force-pushes, so that the old head is gone from the branch.
// It returns the new head.
func (p *Repo) ForcePush(t testing.TB, branch, message string, files map[string]string) string {
	t.Helper()
	p.checkout(t, branch)
	p.root.Git(t, p.Work, "reset", "-q", "--hard", "HEAD~1")
	head := p.commitOnly(t, message, files)
	p.root.Git(t, p.Work, "push", "-q", "--force", "origin", branch)
	// Drop the old head from the server, as a forge's garbage collection would.
	p.root.Git(t, p.Bare, "reflog", "expire", "--expire=now", "--all")
	p.root.Git(t, p.Bare, "gc", "-q", "--prune=now")
	return head
}

func (p *Repo) commitOnly(t testing.TB, message string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(p.Work, filepath.FromSlash(name))
		if content == "" {
			_ = os.Remove(path)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p.root.Git(t, p.Work, "add", "-A")
	p.root.Git(t, p.Work, "commit", "-q", "--allow-empty", "-m", message)
	return p.root.Git(t, p.Work, "rev-parse", "HEAD")
}

// Show returns the content of path at rev in the bare repository ("" when absent).
func (p *Repo) Show(t testing.TB, rev, path string) string {
	t.Helper()
	cmd := exec.Command("git", "show", rev+":"+path)
	cmd.Dir, cmd.Env = p.Bare, gitEnv()
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// Head returns the hash branch points at in the bare repository ("" when missing).
func (p *Repo) Head(t testing.TB, branch string) string {
	t.Helper()
	cmd := exec.Command("git", "rev-parse", "--verify", "-q", "refs/heads/"+branch)
	cmd.Dir, cmd.Env = p.Bare, gitEnv()
	out, _ := cmd.Output()
	return strings.TrimSpace(string(out))
}

// FileURL is the repository's file:// URL.
func (p *Repo) FileURL() string { return fmt.Sprintf("file://%s", p.Bare) }
