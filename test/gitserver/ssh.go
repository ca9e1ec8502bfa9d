package gitserver

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	gliderssh "github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHServer serves a Root over SSH in the test process: it runs git-upload-pack and
// git-receive-pack for clients that present ClientKey, with an ed25519 host key that
// KnownHosts pins.
type SSHServer struct {
	// Addr is host:port.
	Addr string
	// KnownHosts is a known_hosts line for the server's host key.
	KnownHosts []byte
	// ClientKey is an OpenSSH PEM private key the server accepts.
	ClientKey []byte
	// Sessions counts the git commands the server ran.
	Sessions atomic.Int64

	root      *Root
	clientPub gossh.PublicKey
	srv       *gliderssh.Server
}

// ServeSSH starts an SSH server for root; it stops when the test ends.
func ServeSSH(t testing.TB, root *Root) *SSHServer {
	t.Helper()
	hostSigner, _ := newKey(t)
	clientSigner, clientPEM := newKey(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &SSHServer{Addr: l.Addr().String(), ClientKey: clientPEM, root: root, clientPub: clientSigner.PublicKey()}
	s.KnownHosts = []byte(knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, hostSigner.PublicKey()) + "\n")
	s.srv = &gliderssh.Server{
		Handler: s.handle,
		PublicKeyHandler: func(_ gliderssh.Context, key gliderssh.PublicKey) bool {
			return gliderssh.KeysEqual(key, s.clientPub)
		},
	}
	s.srv.AddHostKey(hostSigner)
	go func() { _ = s.srv.Serve(l) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// newKey makes an ed25519 key and returns its signer and OpenSSH PEM encoding.
func newKey(t testing.TB) (gossh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return signer, pem.EncodeToMemory(block)
}

// RepoURL returns the ssh:// URL of repository name.
func (s *SSHServer) RepoURL(name string) string {
	return fmt.Sprintf("ssh://git@%s/%s.git", s.Addr, name)
}

// handle runs the git command the client asked for ("git-upload-pack '/name.git'").
func (s *SSHServer) handle(sess gliderssh.Session) {
	args := sess.Command()
	if len(args) != 2 || (args[0] != "git-upload-pack" && args[0] != "git-receive-pack") {
		_, _ = fmt.Fprintf(sess.Stderr(), "unsupported command %q\n", sess.RawCommand())
		_ = sess.Exit(1)
		return
	}
	dir, err := s.repoDir(args[1])
	if err != nil {
		_, _ = fmt.Fprintln(sess.Stderr(), err)
		_ = sess.Exit(1)
		return
	}
	s.Sessions.Add(1)
	cmd := exec.Command(args[0], dir) //nolint:gosec // one of two git commands, on a repository under the root
	cmd.Env = gitEnv()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = sess, sess, sess.Stderr()
	// Git-protocol v2 is asked for through the environment; pass it on.
	for _, e := range sess.Environ() {
		if strings.HasPrefix(e, "GIT_PROTOCOL=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		_ = sess.Exit(0)
	case errors.As(err, &exit):
		_ = sess.Exit(exit.ExitCode())
	default:
		_, _ = io.WriteString(sess.Stderr(), err.Error()+"\n")
		_ = sess.Exit(1)
	}
}

// repoDir maps the path the client gave to a repository under the root.
func (s *SSHServer) repoDir(p string) (string, error) {
	p = strings.Trim(p, "'\"")
	clean := filepath.Clean("/" + p)
	if !strings.HasSuffix(clean, ".git") || strings.Contains(clean[1:], "/") {
		return "", fmt.Errorf("no repository %q", p)
	}
	return filepath.Join(s.root.Dir, clean[1:]), nil
}
