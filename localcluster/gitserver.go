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
	// WorkTree commits in Work and pushes to Bare.
	*WorkTree

	srv *http.Server
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
	}
	for _, s := range steps {
		if _, err := runGit(s[0], nil, s[1:]...); err != nil {
			return nil, err
		}
	}
	if g.WorkTree, err = PushTree(g.Work, g.Bare, "", tree, path); err != nil {
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
