package localcluster

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// GitServer serves one policy repository over Git's smart HTTP protocol (`git
// http-backend`) on 127.0.0.1, with basic auth, as a forge would; its work tree takes
// commits, as a user pushing to the forge would.
type GitServer struct {
	// URL is the repository's URL.
	URL string
	// Username and Password are the credentials the server accepts.
	Username, Password string
	// Bare is the served repository; Work its work tree.
	Bare, Work string

	srv *http.Server
	mu  sync.Mutex
}

// ServeGit creates a repository under dir whose main branch holds the files of tree
// under path (e.g. policies/), and serves it.
func ServeGit(dir, tree, path string) (*GitServer, error) {
	gitExec, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("ballast dev needs the git command line: %w", err)
	}
	secret := make([]byte, 12)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	g := &GitServer{Username: "ballast", Password: hex.EncodeToString(secret),
		Bare: filepath.Join(dir, "policies.git"), Work: filepath.Join(dir, "work")}
	for _, d := range []string{g.Bare, g.Work} {
		if err := os.RemoveAll(d); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	steps := [][]string{
		{dir, "init", "-q", "--bare", "-b", "main", g.Bare},
		{g.Bare, "config", "http.receivepack", "true"},
		{g.Bare, "config", "uploadpack.allowReachableSHA1InWant", "true"},
		{dir, "init", "-q", "-b", "main", g.Work},
		{g.Work, "remote", "add", "origin", g.Bare},
	}
	for _, s := range steps {
		if _, err := g.git(s[0], s[1:]...); err != nil {
			return nil, err
		}
	}
	if err := copyTree(tree, filepath.Join(g.Work, path)); err != nil {
		return nil, err
	}
	if _, err := g.Commit("policy repository for ballast dev", nil); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	backend := cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(gitExec)), "git-http-backend"), Dir: dir, Stderr: io.Discard,
		Env: []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + dir, "PATH=" + strings.TrimSpace(string(gitExec)) + ":/usr/local/bin:/usr/bin:/bin"},
	}
	g.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(g.Username)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(g.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		h := backend
		h.Env = append(append([]string(nil), backend.Env...), "REMOTE_USER="+u)
		h.ServeHTTP(w, r)
	})}
	go func() { _ = g.srv.Serve(l) }()
	g.URL = fmt.Sprintf("http://%s/policies.git", l.Addr())
	return g, nil
}

// Stop stops serving.
func (g *GitServer) Stop() {
	if g.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = g.srv.Shutdown(ctx)
	}
}

// Commit writes files (slash-separated paths relative to the work tree; empty content
// deletes) on main, commits everything with message and pushes; it returns the commit.
func (g *GitServer) Commit(message string, files map[string]string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for p, content := range files {
		path := filepath.Join(g.Work, filepath.FromSlash(p))
		if content == "" {
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				return "", err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return "", err
		}
	}
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "--allow-empty", "-m", message}, {"push", "-q", "origin", "main"}} {
		if _, err := g.git(g.Work, args...); err != nil {
			return "", err
		}
	}
	return g.git(g.Work, "rev-parse", "HEAD")
}

// Read returns a file of branch (e.g. the status file on ballast-status), or "".
func (g *GitServer) Read(branch, path string) string {
	out, err := g.git(g.Bare, "show", branch+":"+path)
	if err != nil {
		return ""
	}
	return out
}

// File returns a file of the work tree.
func (g *GitServer) File(path string) (string, error) {
	data, err := os.ReadFile(filepath.Join(g.Work, filepath.FromSlash(path))) //nolint:gosec // our work tree
	return string(data), err
}

func (g *GitServer) git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=ballast dev", "GIT_AUTHOR_EMAIL=dev@ballast.invalid",
		"GIT_COMMITTER_NAME=ballast dev", "GIT_COMMITTER_EMAIL=dev@ballast.invalid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// copyTree copies the regular files of src (no links, nothing hidden) to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && rel != "." {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p) //nolint:gosec // the user's policy tree
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o600)
	})
}
