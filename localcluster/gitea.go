package localcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	sdk "code.gitea.io/sdk/gitea"
)

// GiteaAdmin is the administrator every Gitea starts with.
const GiteaAdmin = "ballast-admin"

// giteaStartTimeout bounds how long Gitea may take to answer its first request.
const giteaStartTimeout = 2 * time.Minute

var (
	giteaOnce sync.Once
	giteaBin  string
	giteaErr  error
)

// GiteaBinary returns the path of the Gitea binary: BALLAST_GITEA_BIN when set,
// otherwise the one hack/gitea.sh builds and caches (about 13 minutes the first time on
// two cores; its progress goes to progress when set). It is found once per process.
func GiteaBinary(progress func(string)) (string, error) {
	giteaOnce.Do(func() {
		if p := os.Getenv("BALLAST_GITEA_BIN"); p != "" {
			giteaBin = p
			return
		}
		giteaBin, giteaErr = HackScript(progress, "gitea.sh")
	})
	return giteaBin, giteaErr
}

// GiteaBuilt says whether a Gitea binary is at hand without building one:
// BALLAST_GITEA_BIN is set, or hack/gitea.sh has built and cached it.
func GiteaBuilt() bool {
	if os.Getenv("BALLAST_GITEA_BIN") != "" {
		return true
	}
	_, err := HackScript(nil, "gitea.sh", "--cached")
	return err == nil
}

// Gitea is a running Gitea server on 127.0.0.1: sqlite, no SSH, no mail, no Actions,
// with an administrator. Ballast's forge tests and `ballast dev --forge gitea` run it.
type Gitea struct {
	// URL is the server's root URL, http://127.0.0.1:PORT.
	URL string
	// AdminToken is an access token of GiteaAdmin with every scope; AdminPassword signs
	// GiteaAdmin in on the web.
	AdminToken, AdminPassword string
	// Dir holds the configuration, the database, the repositories and the logs.
	Dir string

	bin    string
	config string
	web    *component
}

// StartGitea starts a Gitea whose state lives in dir (created when missing), with an
// administrator and an access token of theirs. Stop stops it; it is stopped already when
// StartGitea fails.
func StartGitea(ctx context.Context, dir string, progress func(string)) (*Gitea, error) {
	bin, err := GiteaBinary(progress)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, fmt.Errorf("failed to find a free port for Gitea: %w", err)
	}
	port := ports[0]
	g := &Gitea{URL: fmt.Sprintf("http://127.0.0.1:%d", port), AdminPassword: "Ballast-" + randomHex(8),
		Dir: dir, bin: bin, config: filepath.Join(dir, "app.ini")}
	if err := os.WriteFile(g.config, []byte(giteaConfig(bin, dir, port)), 0o600); err != nil {
		return nil, err
	}
	if out, err := g.admin("migrate"); err != nil {
		return nil, fmt.Errorf("gitea migrate: %w\n%s", err, out)
	}
	if out, err := g.admin("admin", "user", "create", "--username", GiteaAdmin, "--password", g.AdminPassword,
		"--email", GiteaAdmin+"@example.com", "--admin", "--must-change-password=false"); err != nil {
		return nil, fmt.Errorf("gitea admin user create: %w\n%s", err, out)
	}
	out, err := g.admin("admin", "user", "generate-access-token", "--username", GiteaAdmin, "--token-name", "ballast", "--scopes", "all", "--raw")
	if err != nil {
		return nil, fmt.Errorf("gitea admin user generate-access-token: %w\n%s", err, out)
	}
	// The token is 40 hex digits on a line of its own; Gitea may log before and after
	// it (under load, e.g. its shutdown), so the last such field is taken.
	fields := strings.Fields(out)
	for i := len(fields) - 1; i >= 0 && g.AdminToken == ""; i-- {
		if isGiteaToken(fields[i]) {
			g.AdminToken = fields[i]
		}
	}
	if g.AdminToken == "" {
		return nil, errors.New("gitea admin user generate-access-token printed no token")
	}
	if err := g.start(ctx); err != nil {
		g.Stop()
		return nil, err
	}
	return g, nil
}

// giteaConfig is Gitea's app.ini: sqlite, no SSH, no mail, no cron, no Actions, files
// read from the directory of the binary (see hack/gitea.sh).
func giteaConfig(bin, dir string, port int) string {
	return fmt.Sprintf(`APP_NAME = Ballast
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

func (g *Gitea) env() []string {
	return []string{"GITEA_WORK_DIR=" + g.Dir, "HOME=" + g.Dir, "GITEA_CUSTOM=" + filepath.Join(g.Dir, "custom")}
}

// admin runs a gitea subcommand against the server's configuration.
func (g *Gitea) admin(args ...string) (string, error) {
	cmd := exec.Command(g.bin, append(args, "--config", g.config)...) //nolint:gosec // the cached Gitea binary
	cmd.Dir, cmd.Env = g.Dir, append(os.Environ(), g.env()...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

// start runs `gitea web` (logging to web.log) and waits until it answers.
func (g *Gitea) start(ctx context.Context) error {
	web, err := startComponent(g.Dir, "web", g.bin, []string{"web", "--config", g.config}, g.env())
	if err != nil {
		return err
	}
	g.web = web
	ctx, cancel := context.WithTimeout(ctx, giteaStartTimeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if done, _ := web.exited(); done {
			return fmt.Errorf("gitea web exited before answering:\n%s", g.Log())
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.URL+"/api/v1/version", nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gitea web did not answer on %s within %s: %w\n%s", g.URL, giteaStartTimeout, ctx.Err(), g.Log())
		case <-tick.C:
		}
	}
}

// Stop ends Gitea's process group, politely first. The state stays in Dir.
func (g *Gitea) Stop() {
	if g.web != nil {
		g.web.stop()
	}
}

// Log returns the end of Gitea's logs.
func (g *Gitea) Log() string {
	var b strings.Builder
	for _, name := range []string{"web.log", filepath.Join("log", "gitea.log")} {
		data, err := readFile(filepath.Join(g.Dir, name))
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
func (g *Gitea) Client(token string) (*sdk.Client, error) {
	c, err := sdk.NewClient(g.URL, sdk.SetToken(token))
	if err != nil {
		return nil, fmt.Errorf("failed to make a Gitea client for %s: %w", g.URL, err)
	}
	return c, nil
}

// CreateUser creates a user and returns an access token of theirs with the given
// scopes (all when none).
func (g *Gitea) CreateUser(name string, scopes ...sdk.AccessTokenScope) (string, error) {
	admin, err := g.Client(g.AdminToken)
	if err != nil {
		return "", err
	}
	no := false
	password := "Pw-" + randomHex(8)
	if _, _, err := admin.AdminCreateUser(sdk.CreateUserOption{Username: name, Email: name + "@example.com", Password: password, MustChangePassword: &no}); err != nil {
		return "", fmt.Errorf("failed to create Gitea user %s: %w", name, err)
	}
	if len(scopes) == 0 {
		scopes = []sdk.AccessTokenScope{sdk.AccessTokenScopeAll}
	}
	c, err := sdk.NewClient(g.URL, sdk.SetBasicAuth(name, password))
	if err != nil {
		return "", fmt.Errorf("failed to make a Gitea client for %s: %w", g.URL, err)
	}
	tok, _, err := c.CreateAccessToken(sdk.CreateAccessTokenOption{Name: "ballast", Scopes: scopes})
	if err != nil {
		return "", fmt.Errorf("failed to create a token for Gitea user %s: %w", name, err)
	}
	return tok.Token, nil
}

// CreateRepo creates an empty repository, with main as its default branch, owned by
// the token's user.
func (g *Gitea) CreateRepo(token, name string) (*sdk.Repository, error) {
	c, err := g.Client(token)
	if err != nil {
		return nil, err
	}
	repo, _, err := c.CreateRepo(sdk.CreateRepoOption{Name: name, DefaultBranch: "main"})
	if err != nil {
		return nil, fmt.Errorf("failed to create Gitea repository %s: %w", name, err)
	}
	return repo, nil
}

// CreateRepoOf creates an empty repository of user owner, with main as its default
// branch, as the administrator: the user's token needs no write:user scope.
func (g *Gitea) CreateRepoOf(owner, name string) (*sdk.Repository, error) {
	c, err := g.Client(g.AdminToken)
	if err != nil {
		return nil, err
	}
	repo, _, err := c.AdminCreateRepo(owner, sdk.CreateRepoOption{Name: name, DefaultBranch: "main"})
	if err != nil {
		return nil, fmt.Errorf("failed to create Gitea repository %s/%s: %w", owner, name, err)
	}
	return repo, nil
}

// CloneURL is the HTTP URL of owner/repo, without credentials.
func (g *Gitea) CloneURL(owner, repo string) string {
	return fmt.Sprintf("%s/%s/%s.git", g.URL, owner, repo)
}

// PushURL is the HTTP URL that pushes to owner/repo as user with token. It holds the
// token: never log it.
func (g *Gitea) PushURL(user, token, owner, repo string) string {
	host := strings.TrimPrefix(g.URL, "http://")
	return fmt.Sprintf("http://%s:%s@%s/%s/%s.git", user, token, host, owner, repo)
}

// WaitBranch waits until Gitea knows branch of owner/repo: it records pushed branches
// asynchronously (and 1.26.1 answers 500 for a branch of a repository whose first push
// it is still processing).
func (g *Gitea) WaitBranch(ctx context.Context, token, owner, repo, branch string) error {
	c, err := g.Client(token)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, _, err := c.GetRepoBranch(owner, repo, branch)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("branch %s of %s/%s did not appear: %w", branch, owner, repo, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// CreatePullRequest opens a pull request from head into base and returns its number,
// once Gitea knows both branches.
func (g *Gitea) CreatePullRequest(ctx context.Context, token, owner, repo, head, base, title string) (int64, error) {
	for _, branch := range []string{base, head} {
		if err := g.WaitBranch(ctx, token, owner, repo, branch); err != nil {
			return 0, err
		}
	}
	c, err := g.Client(token)
	if err != nil {
		return 0, err
	}
	pr, _, err := c.CreatePullRequest(owner, repo, sdk.CreatePullRequestOption{Head: head, Base: base, Title: title})
	if err != nil {
		return 0, fmt.Errorf("failed to open a pull request %s -> %s on %s/%s: %w", head, base, owner, repo, err)
	}
	return pr.Index, nil
}

// RepoWithPullRequest creates repository name owned by the token's user, initialised
// on main, with a commit adding file on branch head, and opens a pull request from
// head into main. It returns the pull request's number.
func (g *Gitea) RepoWithPullRequest(ctx context.Context, token, owner, name, head, file, content string) (int64, error) {
	c, err := g.Client(token)
	if err != nil {
		return 0, err
	}
	if _, _, err := c.CreateRepo(sdk.CreateRepoOption{Name: name, DefaultBranch: "main", AutoInit: true, Readme: "Default"}); err != nil {
		return 0, fmt.Errorf("failed to create Gitea repository %s: %w", name, err)
	}
	_, _, err = c.CreateFile(owner, name, file, sdk.CreateFileOptions{
		FileOptions: sdk.FileOptions{Message: "add " + file, BranchName: "main", NewBranchName: head},
		Content:     base64.StdEncoding.EncodeToString([]byte(content)),
	})
	if err != nil {
		return 0, fmt.Errorf("failed to commit %s on %s: %w", file, head, err)
	}
	return g.CreatePullRequest(ctx, token, owner, name, head, "main", "Change "+file)
}

// CommitStatus returns the latest status named name (a context, in Gitea's words) on
// commit of owner/repo, or nil when there is none.
func (g *Gitea) CommitStatus(token, owner, repo, commit, name string) (*sdk.Status, error) {
	c, err := g.Client(token)
	if err != nil {
		return nil, err
	}
	var latest *sdk.Status
	opts := sdk.ListStatusesOption{ListOptions: sdk.ListOptions{Page: 1, PageSize: 50}}
	for {
		page, _, err := c.ListStatuses(owner, repo, commit, opts)
		if err != nil {
			return nil, fmt.Errorf("failed to list the statuses of %s/%s@%s: %w", owner, repo, commit, err)
		}
		for _, s := range page {
			if s.Context == name && (latest == nil || s.ID > latest.ID) {
				latest = s
			}
		}
		if len(page) < opts.PageSize {
			return latest, nil
		}
		opts.Page++
	}
}

// isGiteaToken reports whether s has the shape of a Gitea access token: 40 lowercase
// hex digits.
func isGiteaToken(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
