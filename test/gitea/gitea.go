package gitea

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/ballast-dev/ballast/test/controlplane"
)

// Admin is the administrator every server starts with.
const Admin = "ballast-admin"

// startTimeout bounds how long Gitea may take to answer its first request.
const startTimeout = 2 * time.Minute

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// Binary returns the path of the Gitea binary: BALLAST_GITEA_BIN when set, otherwise
// the one hack/gitea.sh builds and caches (about 13 minutes the first time on two
// cores). It never skips: a missing binary is built.
func Binary() (string, error) {
	binaryOnce.Do(func() {
		if p := os.Getenv("BALLAST_GITEA_BIN"); p != "" {
			binaryPath = p
			return
		}
		binaryPath, binaryErr = controlplane.HackScript("gitea.sh")
	})
	return binaryPath, binaryErr
}

// Server is a running Gitea.
type Server struct {
	// URL is the server's root URL, http://127.0.0.1:PORT.
	URL string
	// AdminToken is an access token of Admin with every scope.
	AdminToken string
	// Dir holds the configuration, the database, the repositories and the log.
	Dir string

	bin    string
	config string
	cmd    *exec.Cmd
	done   chan struct{}
}

// Start starts a Gitea with an administrator and stops it when the test ends. It fails
// the test when Gitea cannot be built or started.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "ballast-gitea-")
	if err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Dir: dir, bin: bin, config: filepath.Join(dir, "app.ini")}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("Gitea log (%s):\n%s", dir, s.Log())
		}
		_ = os.RemoveAll(dir)
	})
	if err := os.WriteFile(s.config, []byte(config(bin, dir, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := s.admin("migrate"); err != nil {
		t.Fatalf("gitea migrate: %v\n%s", err, out)
	}
	if out, err := s.admin("admin", "user", "create", "--username", Admin, "--password", "Ballast-admin-1",
		"--email", Admin+"@example.com", "--admin", "--must-change-password=false"); err != nil {
		t.Fatalf("gitea admin user create: %v\n%s", err, out)
	}
	out, err := s.admin("admin", "user", "generate-access-token", "--username", Admin, "--token-name", "tests", "--scopes", "all", "--raw")
	if err != nil {
		t.Fatalf("gitea admin user generate-access-token: %v\n%s", err, out)
	}
	// The token is the last line; Gitea may log warnings before it.
	lines := strings.Fields(strings.TrimSpace(out))
	if len(lines) == 0 {
		t.Fatalf("gitea admin user generate-access-token printed no token")
	}
	s.AdminToken = lines[len(lines)-1]
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// config is Gitea's app.ini: sqlite, no SSH, no mail, no cron, no Actions, files read
// from the directory of the binary (see hack/gitea.sh).
func config(bin, dir string, port int) string {
	return fmt.Sprintf(`APP_NAME = Ballast tests
RUN_MODE = prod
RUN_USER = %[3]s
WORK_PATH = %[1]s
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[2]d
ROOT_URL = http://127.0.0.1:%[2]d/
APP_DATA_PATH = %[1]s/data
STATIC_ROOT_PATH = %[6]s
DISABLE_SSH = true
START_SSH_SERVER = false
LFS_START_SERVER = false
OFFLINE_MODE = true

[database]
DB_TYPE = sqlite3
PATH = %[1]s/data/gitea.db

[repository]
ROOT = %[1]s/repos
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = %[4]s
INTERNAL_TOKEN = %[5]s

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true

[mailer]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[cron]
ENABLED = false

[actions]
ENABLED = false

[log]
MODE = file
LEVEL = Info
ROOT_PATH = %[1]s/log
`, dir, port, currentUser(), randomHex(32), "internal."+randomHex(32), filepath.Dir(bin))
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("failed to find a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) env() []string {
	return append(os.Environ(), "GITEA_WORK_DIR="+s.Dir, "HOME="+s.Dir, "GITEA_CUSTOM="+filepath.Join(s.Dir, "custom"))
}

// admin runs a gitea subcommand against the server's configuration.
func (s *Server) admin(args ...string) (string, error) {
	cmd := exec.Command(s.bin, append(args, "--config", s.config)...) //nolint:gosec // the cached Gitea binary
	cmd.Dir, cmd.Env = s.Dir, s.env()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

func (s *Server) start() error {
	logFile, err := os.Create(filepath.Join(s.Dir, "web.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "web", "--config", s.config) //nolint:gosec // the cached Gitea binary
	cmd.Dir, cmd.Env = s.Dir, s.env()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("failed to start gitea web: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(s.done)
	}()
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("gitea web exited before answering:\n%s", s.Log())
		default:
		}
		resp, err := http.Get(s.URL + "/api/v1/version") //nolint:noctx // a readiness probe
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("gitea web did not answer on %s within %s:\n%s", s.URL, startTimeout, s.Log())
}

// stop ends Gitea's process group, politely first.
func (s *Server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pgid := -s.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-s.done
	}
}

// Log returns the end of Gitea's logs.
func (s *Server) Log() string {
	var b strings.Builder
	for _, name := range []string{"web.log", filepath.Join("log", "gitea.log")} {
		data, err := os.ReadFile(filepath.Join(s.Dir, name))
		if err != nil {
			continue
		}
		if len(data) > 8000 {
			data = data[len(data)-8000:]
		}
		fmt.Fprintf(&b, "== %s\n%s\n", name, data)
	}
	return b.String()
}

// Client returns an SDK client authenticated with token.
func (s *Server) Client(t testing.TB, token string) *sdk.Client {
	t.Helper()
	c, err := sdk.NewClient(s.URL, sdk.SetToken(token))
	if err != nil {
		t.Fatalf("failed to make a Gitea client: %v", err)
	}
	return c
}

// CreateUser creates a user and returns an access token of theirs with the given
// scopes (all when none).
func (s *Server) CreateUser(t testing.TB, name string, scopes ...sdk.AccessTokenScope) string {
	t.Helper()
	admin := s.Client(t, s.AdminToken)
	no := false
	password := "Pw-" + randomHex(8)
	if _, _, err := admin.AdminCreateUser(sdk.CreateUserOption{Username: name, Email: name + "@example.com", Password: password, MustChangePassword: &no}); err != nil {
		t.Fatalf("failed to create user %s: %v", name, err)
	}
	if len(scopes) == 0 {
		scopes = []sdk.AccessTokenScope{sdk.AccessTokenScopeAll}
	}
	c, err := sdk.NewClient(s.URL, sdk.SetBasicAuth(name, password))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := c.CreateAccessToken(sdk.CreateAccessTokenOption{Name: "tests", Scopes: scopes})
	if err != nil {
		t.Fatalf("failed to create a token for %s: %v", name, err)
	}
	return tok.Token
}

// CreateRepo creates an empty repository owned by the token's user.
func (s *Server) CreateRepo(t testing.TB, token, name string) *sdk.Repository {
	t.Helper()
	repo, _, err := s.Client(t, token).CreateRepo(sdk.CreateRepoOption{Name: name, DefaultBranch: "main"})
	if err != nil {
		t.Fatalf("failed to create repository %s: %v", name, err)
	}
	return repo
}

// PushURL is the HTTP URL that pushes to owner/repo as user with token.
func (s *Server) PushURL(user, token, owner, repo string) string {
	host := strings.TrimPrefix(s.URL, "http://")
	return fmt.Sprintf("http://%s:%s@%s/%s/%s.git", user, token, host, owner, repo)
}

// CreatePullRequest opens a pull request from head into base and returns its number.
// It first waits for both branches: Gitea records pushed branches asynchronously (and
// 1.26.1 answers 500 for a branch of a repository whose first push it is still
// processing).
func (s *Server) CreatePullRequest(t testing.TB, token, owner, repo, head, base, title string) int64 {
	t.Helper()
	c := s.Client(t, token)
	for _, branch := range []string{base, head} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, _, err := c.GetRepoBranch(owner, repo, branch)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("branch %s of %s/%s did not appear: %v", branch, owner, repo, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	pr, _, err := c.CreatePullRequest(owner, repo, sdk.CreatePullRequestOption{Head: head, Base: base, Title: title})
	if err != nil {
		t.Fatalf("failed to open a pull request %s -> %s: %v", head, base, err)
	}
	return pr.Index
}

// RepoWithPullRequest creates repository name owned by the token's user, initialised
// on main, with a commit adding file on branch head, and opens a pull request from
// head into main. It returns the pull request's number.
func (s *Server) RepoWithPullRequest(t testing.TB, token, owner, name, head, file, content string) int64 {
	t.Helper()
	c := s.Client(t, token)
	if _, _, err := c.CreateRepo(sdk.CreateRepoOption{Name: name, DefaultBranch: "main", AutoInit: true, Readme: "Default"}); err != nil {
		t.Fatalf("failed to create repository %s: %v", name, err)
	}
	_, _, err := c.CreateFile(owner, name, file, sdk.CreateFileOptions{
		FileOptions: sdk.FileOptions{Message: "add " + file, BranchName: "main", NewBranchName: head},
		Content:     base64.StdEncoding.EncodeToString([]byte(content)),
	})
	if err != nil {
		t.Fatalf("failed to commit %s on %s: %v", file, head, err)
	}
	return s.CreatePullRequest(t, token, owner, name, head, "main", "Change "+file)
}
