package gitserver

import (
	"crypto/subtle"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// HTTPServer serves a Root over Git's smart HTTP protocol with `git http-backend`, as
// GitHub and GitLab do: every request needs the user name and password (basic auth) or
// the bearer token, and pushes are allowed to authenticated users.
type HTTPServer struct {
	*httptest.Server
	// Username and Password are the basic-auth credentials accepted.
	Username, Password string
	// Token is the bearer token accepted.
	Token string

	backend  cgi.Handler
	requests atomic.Int64
	mu       sync.Mutex
	paths    []string
}

// ServeHTTP starts an HTTP server for root that accepts username/password and token;
// it stops when the test ends.
func ServeHTTP(t testing.TB, root *Root, username, password, token string) *HTTPServer {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("failed to find git's exec path: %v", err)
	}
	s := &HTTPServer{Username: username, Password: password, Token: token}
	s.backend = cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Dir:  root.Dir,
		// Rejected ref updates are normal in tests; keep them out of the output.
		Stderr: io.Discard,
		Env: []string{"GIT_PROJECT_ROOT=" + root.Dir, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_CONFIG_NOSYSTEM=1", "HOME=" + root.Dir, "PATH=" + strings.TrimSpace(string(out)) + ":/usr/local/bin:/usr/bin:/bin"},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// RepoURL returns the HTTP URL of repository name.
func (s *HTTPServer) RepoURL(name string) string { return s.URL + "/" + name + ".git" }

// Requests returns how many requests the server answered.
func (s *HTTPServer) Requests() int64 { return s.requests.Load() }

// Paths returns the paths and queries requested so far.
func (s *HTTPServer) Paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.paths...)
}

func (s *HTTPServer) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	s.paths = append(s.paths, r.URL.RequestURI())
	s.mu.Unlock()
	user, ok := s.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	h := s.backend
	h.Env = append(append([]string(nil), s.backend.Env...), "REMOTE_USER="+user)
	h.ServeHTTP(w, r)
}

func (s *HTTPServer) authenticate(r *http.Request) (string, bool) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return "token", s.Token != "" && equal(tok, s.Token)
	}
	u, p, ok := r.BasicAuth()
	if !ok {
		return "", false
	}
	return u, equal(u, s.Username) && equal(p, s.Password)
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
