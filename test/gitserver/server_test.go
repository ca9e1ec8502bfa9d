package gitserver

import (
	"os/exec"
	"strings"
	"testing"
)

// TestHTTPWithTheGitCommandLine checks the HTTP server with git itself: reads and
// pushes need the credentials.
func TestHTTPWithTheGitCommandLine(t *testing.T) {
	root := NewRoot(t)
	repo := root.Create(t, "r")
	head := repo.Commit(t, "main", "first", map[string]string{"a": "1"})
	srv := ServeHTTP(t, root, "u", "pw", "tok")
	authed := strings.Replace(srv.RepoURL("r"), "http://", "http://u:pw@", 1)

	if out := root.Git(t, t.TempDir(), "ls-remote", authed, "refs/heads/main"); !strings.HasPrefix(out, head) {
		t.Errorf("ls-remote = %q", out)
	}
	cmd := exec.Command("git", "ls-remote", srv.RepoURL("r"))
	cmd.Env = gitEnv()
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("ls-remote without credentials succeeded: %s", out)
	}
	work := t.TempDir()
	root.Git(t, work, "clone", "-q", authed, ".")
	root.Git(t, work, "commit", "-q", "--allow-empty", "-m", "second")
	root.Git(t, work, "push", "-q", "origin", "main")
	if got, want := repo.Head(t, "main"), root.Git(t, work, "rev-parse", "HEAD"); got != want {
		t.Errorf("after the push main = %s, want %s", got, want)
	}
}

func TestSSHRepoDir(t *testing.T) {
	s := &SSHServer{root: &Root{Dir: "/srv"}}
	for _, tc := range []struct{ in, want string }{
		{"'/r.git'", "/srv/r.git"},
		{"r.git", "/srv/r.git"},
		{"'/../etc.git'", "/srv/etc.git"},
		{"'/a/b.git'", ""},
		{"'/r'", ""},
	} {
		got, err := s.repoDir(tc.in)
		if (err != nil) != (tc.want == "") || got != tc.want {
			t.Errorf("repoDir(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
