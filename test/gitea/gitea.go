package gitea

import (
	"context"
	"os"
	"testing"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/ballast-dev/ballast/localcluster"
)

// Admin is the administrator every server starts with.
const Admin = localcluster.GiteaAdmin

// Server is a running Gitea (localcluster.Gitea) with helpers that fail the test
// instead of returning errors.
type Server struct {
	*localcluster.Gitea
}

// Start starts a Gitea with an administrator in a temporary directory and stops it
// (printing its logs when the test failed) and removes the directory when the test
// ends. It fails the test when Gitea cannot be built or started; it never skips.
func Start(t testing.TB) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "ballast-gitea-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	g, err := localcluster.StartGitea(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Gitea: g}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("Gitea log (%s):\n%s", dir, s.Log())
		}
	})
	return s
}

// Client returns an SDK client authenticated with token.
func (s *Server) Client(t testing.TB, token string) *sdk.Client {
	t.Helper()
	c, err := s.Gitea.Client(token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// CreateUser creates a user and returns an access token of theirs with the given
// scopes (all when none).
func (s *Server) CreateUser(t testing.TB, name string, scopes ...sdk.AccessTokenScope) string {
	t.Helper()
	token, err := s.Gitea.CreateUser(name, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// CreateRepo creates an empty repository owned by the token's user.
func (s *Server) CreateRepo(t testing.TB, token, name string) *sdk.Repository {
	t.Helper()
	repo, err := s.Gitea.CreateRepo(token, name)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// CreatePullRequest opens a pull request from head into base and returns its number,
// once Gitea knows both branches.
func (s *Server) CreatePullRequest(t testing.TB, token, owner, repo, head, base, title string) int64 {
	t.Helper()
	pr, err := s.Gitea.CreatePullRequest(context.Background(), token, owner, repo, head, base, title)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// RepoWithPullRequest creates repository name owned by the token's user, initialised
// on main, with a commit adding file on branch head, and opens a pull request from
// head into main. It returns the pull request's number.
func (s *Server) RepoWithPullRequest(t testing.TB, token, owner, name, head, file, content string) int64 {
	t.Helper()
	pr, err := s.Gitea.RepoWithPullRequest(context.Background(), token, owner, name, head, file, content)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}
