package localcluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// WorkTree is a clone of a policy repository that takes commits on main and pushes
// them, as a user of the forge would.
type WorkTree struct {
	// Dir is the work tree.
	Dir string

	// env carries the credentials of the remote into every git command.
	env []string
	mu  sync.Mutex
}

// PushTree creates a work tree in dir (emptied first) whose main branch holds the files
// of tree under path, and pushes it to remote: a path, or an HTTP URL without
// credentials. authorization, when set, is the value of the Authorization header of
// every request to remote (e.g. Basic with a forge token); it stays out of the URL, the
// repository's configuration and errors.
func PushTree(dir, remote, authorization, tree, path string) (*WorkTree, error) {
	w := &WorkTree{Dir: dir}
	if authorization != "" {
		w.env = []string{"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: " + authorization}
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, err
	}
	if _, err := runGit(filepath.Dir(dir), nil, "init", "-q", "-b", "main", dir); err != nil {
		return nil, err
	}
	if _, err := runGit(dir, nil, "remote", "add", "origin", remote); err != nil {
		return nil, err
	}
	if err := copyTree(tree, filepath.Join(dir, path)); err != nil {
		return nil, err
	}
	if _, err := w.Commit("policy repository for ballast dev", nil); err != nil {
		return nil, err
	}
	return w, nil
}

// Commit writes files (slash-separated paths relative to the work tree; empty content
// deletes) on main, commits everything with message and pushes; it returns the commit.
func (w *WorkTree) Commit(message string, files map[string]string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, content := range files {
		path := filepath.Join(w.Dir, filepath.FromSlash(p))
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
		if _, err := runGit(w.Dir, w.env, args...); err != nil {
			return "", err
		}
	}
	return runGit(w.Dir, nil, "rev-parse", "HEAD")
}

// Read returns a file of branch of the remote (e.g. the status file on
// ballast-status), fetched now, or "".
func (w *WorkTree) Read(branch, path string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	ref := "refs/remotes/origin/" + branch
	if _, err := runGit(w.Dir, w.env, "fetch", "-q", "origin", "+refs/heads/"+branch+":"+ref); err != nil {
		return ""
	}
	out, err := runGit(w.Dir, nil, "show", ref+":"+path)
	if err != nil {
		return ""
	}
	return out
}

// File returns a file of the work tree.
func (w *WorkTree) File(path string) (string, error) {
	data, err := os.ReadFile(filepath.Join(w.Dir, filepath.FromSlash(path))) //nolint:gosec // our work tree
	return string(data), err
}

// runGit runs git in dir with env added, without the user's configuration, as the
// author and committer of ballast dev.
func runGit(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=ballast dev", "GIT_AUTHOR_EMAIL=dev@ballast.invalid",
		"GIT_COMMITTER_NAME=ballast dev", "GIT_COMMITTER_EMAIL=dev@ballast.invalid"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}
