package gogit_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	gitlib "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"golang.org/x/crypto/ssh"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gogit"
	"github.com/ballast-dev/ballast/test/gitserver"
)

func TestWriteFile(t *testing.T) {
	ctx := context.Background()
	r := newRemotes(t)
	main := r.repo.Commit(t, "main", "policies", map[string]string{"a.yaml": "1"})
	w := gogit.NewFileWriter()
	w.Now = func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }

	r.each(t, func(t *testing.T, url string, auth gitsync.Auth) {
		branch := "status-" + strings.ReplaceAll(t.Name()[strings.LastIndex(t.Name(), "/")+1:], "-", "")
		opts := gitsync.FileWriteOptions{URL: url, Auth: auth, Branch: branch, Path: "status/prod.yaml",
			Content: []byte("revision: 1\n"), AuthorName: "Ballast Bot", AuthorEmail: "bot@example.com"}
		// A missing branch starts as an orphan holding only the file.
		c1, changed, err := w.WriteFile(ctx, opts)
		if err != nil || !changed {
			t.Fatalf("first write = %s, %v, %v", c1, changed, err)
		}
		if head := r.repo.Head(t, branch); head != c1 {
			t.Errorf("branch head = %s, want %s", head, c1)
		}
		if got := r.repo.Show(t, c1, "status/prod.yaml"); got != "revision: 1\n" {
			t.Errorf("file = %q", got)
		}
		if got := git(t, r.repo.Bare, "log", "--format=%P|%an <%ae>|%s", c1); got != "|Ballast Bot <bot@example.com>|Update status/prod.yaml" {
			t.Errorf("commit = %q, want a root commit by the bot", got)
		}
		if got := git(t, r.repo.Bare, "ls-tree", "-r", "--name-only", c1); got != "status/prod.yaml" {
			t.Errorf("tree = %q", got)
		}
		// Same content: nothing pushed.
		c2, changed, err := w.WriteFile(ctx, opts)
		if err != nil || changed || c2 != c1 {
			t.Errorf("unchanged write = %s, %v, %v", c2, changed, err)
		}
		// New content: one commit on top.
		opts.Content, opts.Message = []byte("revision: 2\n"), "Status of prod"
		c3, changed, err := w.WriteFile(ctx, opts)
		if err != nil || !changed {
			t.Fatalf("second write = %s, %v, %v", c3, changed, err)
		}
		if got := git(t, r.repo.Bare, "log", "--format=%P %s", "-1", c3); got != c1+" Status of prod" {
			t.Errorf("commit = %q", got)
		}
		if r.repo.Head(t, "main") != main {
			t.Errorf("main moved")
		}
	})
}

func TestWriteFileAuthFailure(t *testing.T) {
	r := newRemotes(t)
	_, _, err := gogit.NewFileWriter().WriteFile(context.Background(), gitsync.FileWriteOptions{URL: r.http.RepoURL("policies"),
		Auth: gitsync.Auth{Username: testUser, Password: "wrong-pa55word"}, Branch: "status", Path: "s.yaml", Content: []byte("x")})
	if !gitsync.IsAuth(err) || strings.Contains(err.Error(), "wrong-pa55word") {
		t.Errorf("err = %v, want an AuthError without the password", err)
	}
}

// TestWriteFileConcurrently races writers on one branch, over HTTP: writers of
// different files and of the same file. Every write must land as a commit, and the
// final tree must hold every file's last content.
func TestWriteFileConcurrently(t *testing.T) {
	ctx := context.Background()
	r := newRemotes(t)
	r.repo.Commit(t, "status", "start", map[string]string{"README": "status\n"})
	w := &gogit.FileWriter{Attempts: 20, Backoff: 20 * time.Millisecond}
	const writers, writes = 3, 3
	var wg sync.WaitGroup
	errs := make(chan error, writers*writes*2)
	for i := range writers {
		wg.Go(func() {
			for j := range writes {
				for _, p := range []string{fmt.Sprintf("status/c%d.yaml", i), "status/shared.yaml"} {
					_, changed, err := w.WriteFile(ctx, gitsync.FileWriteOptions{URL: r.http.RepoURL("policies"), Auth: r.basic,
						Branch: "status", Path: p, Content: fmt.Appendf(nil, "writer %d write %d\n", i, j)})
					if err == nil && !changed {
						err = fmt.Errorf("writer %d write %d of %s changed nothing", i, j, p)
					}
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	head := r.repo.Head(t, "status")
	for i := range writers {
		if got, want := r.repo.Show(t, head, fmt.Sprintf("status/c%d.yaml", i)), fmt.Sprintf("writer %d write %d\n", i, writes-1); got != want {
			t.Errorf("c%d.yaml = %q, want %q", i, got, want)
		}
	}
	if got := r.repo.Show(t, head, "README"); got != "status\n" {
		t.Errorf("README = %q", got)
	}
	// Every write of the shared file is a commit of its own in the history.
	log := git(t, r.repo.Bare, "log", "--format=%H", "status", "--", "status/shared.yaml")
	if n := len(strings.Fields(log)); n != writers*writes {
		t.Errorf("%d commits touch shared.yaml, want %d", n, writers*writes)
	}
	if n := len(strings.Fields(git(t, r.repo.Bare, "rev-list", "status"))); n != 1+2*writers*writes {
		t.Errorf("%d commits on status, want %d", n, 1+2*writers*writes)
	}
}

func TestWriteFileSigned(t *testing.T) {
	root := gitserver.NewRoot(t)
	repo := root.Create(t, "policies")
	e, err := openpgp.NewEntity("Ballast", "", "bot@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var priv, pub bytes.Buffer
	aw, _ := armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err := e.SerializePrivate(aw, nil); err != nil {
		t.Fatal(err)
	}
	_ = aw.Close()
	aw, _ = armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err := e.Serialize(aw); err != nil {
		t.Fatal(err)
	}
	_ = aw.Close()

	commit, _, err := gogit.NewFileWriter().WriteFile(context.Background(), gitsync.FileWriteOptions{URL: repo.FileURL(),
		Branch: "status", Path: "status/prod.yaml", Content: []byte("x: 1\n"), SigningKey: priv.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := gitlib.PlainOpen(repo.Bare)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		t.Fatal(err)
	}
	if c.PGPSignature == "" {
		t.Error("the commit is not signed")
	}
	if _, err := c.Verify(pub.String()); err != nil {
		t.Errorf("signature: %v", err)
	}
	if _, _, err := gogit.NewFileWriter().WriteFile(context.Background(), gitsync.FileWriteOptions{URL: repo.FileURL(),
		Branch: "status", Path: "s", Content: []byte("x"), SigningKey: []byte("not a key")}); err == nil {
		t.Error("a bad signing key was accepted")
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestWriteFileSSHSigned(t *testing.T) {
	root := gitserver.NewRoot(t)
	repo := root.Create(t, "policies")
	key := gitserver.ServeSSH(t, root).ClientKey
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	line := "bot@example.com " + string(ssh.MarshalAuthorizedKey(signer.PublicKey()))
	if err := os.WriteFile(allowed, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	commit, _, err := gogit.NewFileWriter().WriteFile(context.Background(), gitsync.FileWriteOptions{URL: repo.FileURL(),
		Branch: "status", Path: "status/prod.yaml", Content: []byte("x: 1\n"), AuthorEmail: "bot@example.com", SSHSigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	// git itself (with ssh-keygen) checks the signature; it fails on a bad one.
	if out := git(t, repo.Bare, "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", commit); !strings.Contains(out, `Good "git" signature for bot@example.com`) {
		t.Errorf("git verify-commit: %s", out)
	}
}
