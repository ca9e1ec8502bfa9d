package gogit

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/redact"
)

// remote is a Git URL with the credentials to reach it.
type remote struct {
	url     string
	safeURL string
	auth    transport.AuthMethod
	secrets []string
}

// newRemote checks url and a and builds go-git's auth method for the URL's transport.
func newRemote(rawURL string, a gitsync.Auth) (*remote, error) {
	r := &remote{url: rawURL, safeURL: redact.String(rawURL), secrets: a.Secrets()}
	if u, err := url.Parse(rawURL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			r.secrets = append(r.secrets, p)
		}
	}
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return nil, fmt.Errorf("invalid Git URL %s: %w", r.safeURL, r.redact(err))
	}
	switch ep.Protocol {
	case "http", "https":
		switch {
		case a.BearerToken != "":
			r.auth = &githttp.TokenAuth{Token: a.BearerToken}
		case a.Username != "" || a.Password != "":
			r.auth = &githttp.BasicAuth{Username: a.Username, Password: a.Password}
		}
	case "ssh":
		if len(a.KnownHosts) == 0 {
			return nil, fmt.Errorf("refusing to connect to %s over SSH without known_hosts", r.safeURL)
		}
		if len(a.SSHPrivateKey) == 0 {
			return nil, fmt.Errorf("no SSH private key (identity) for %s", r.safeURL)
		}
		user := ep.User
		if user == "" {
			user = a.Username
		}
		if user == "" {
			user = "git"
		}
		keys, err := gitssh.NewPublicKeys(user, a.SSHPrivateKey, string(a.SSHPassphrase))
		if err != nil {
			return nil, fmt.Errorf("invalid SSH private key for %s: %w", r.safeURL, r.redact(err))
		}
		kh, err := parseKnownHosts(a.KnownHosts)
		if err != nil {
			return nil, err
		}
		port := ep.Port
		if port == 0 {
			port = 22
		}
		keys.HostKeyCallback = kh.HostKeyCallback()
		keys.HostKeyAlgorithms = kh.HostKeyAlgorithms(net.JoinHostPort(ep.Host, fmt.Sprint(port)))
		r.auth = keys
	case "file":
	default:
		return nil, fmt.Errorf("unsupported Git URL scheme %q in %s", ep.Protocol, r.safeURL)
	}
	return r, nil
}

// redact removes the credentials from err's message and bounds what the remote
// server wrote in it (see redact.Remote).
func (r *remote) redact(err error) error {
	return redact.Remote(err, r.secrets...)
}

// fail wraps err with what failed, as an AuthError when the remote refused the
// credentials or the host key; credentials never appear.
func (r *remote) fail(op string, err error) error {
	auth := isAuthFailure(err)
	err = r.redact(err)
	if auth {
		return &gitsync.AuthError{URL: r.safeURL, Err: err}
	}
	return fmt.Errorf("failed to %s %s: %w", op, r.safeURL, err)
}

func isAuthFailure(err error) bool {
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
		return true
	}
	var ke *xknownhosts.KeyError
	if errors.As(err, &ke) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "unable to authenticate") || strings.Contains(msg, "knownhosts:") ||
		strings.Contains(msg, "host key mismatch")
}
