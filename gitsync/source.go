package gitsync

import (
	"context"
	"errors"
	"fmt"
)

// Auth is how to authenticate to a Git remote. Which fields matter depends on the URL's
// scheme: HTTP(S) uses Username and Password (basic auth) or BearerToken; SSH uses
// SSHPrivateKey, SSHPassphrase and KnownHosts (required: a host key is never trusted
// on first use). Username defaults to "git" over SSH.
type Auth struct {
	// Username and Password are HTTP basic-auth credentials; over SSH, Username is the
	// SSH user.
	Username, Password string
	// BearerToken is sent as "Authorization: Bearer" over HTTP(S), instead of basic auth.
	BearerToken string
	// SSHPrivateKey is a PEM or OpenSSH private key.
	SSHPrivateKey []byte
	// SSHPassphrase decrypts SSHPrivateKey, when it is encrypted.
	SSHPassphrase []byte
	// KnownHosts is the known_hosts content that pins the SSH server's host key.
	KnownHosts []byte
}

// The keys of a Secret that AuthFromSecret reads; the names Flux's GitRepository uses.
const (
	SecretUsername    = "username"
	SecretPassword    = "password"
	SecretBearerToken = "bearerToken"
	SecretIdentity    = "identity"
	SecretPassphrase  = "identity.passphrase"
	SecretKnownHosts  = "known_hosts"
)

// AuthFromSecret builds Auth from a Secret's data with Flux's key names: username and
// password for HTTP basic auth, bearerToken, identity (an SSH private key) and
// known_hosts. As in Flux, password is also the passphrase of an encrypted identity;
// identity.passphrase is accepted too and wins.
func AuthFromSecret(data map[string][]byte) Auth {
	a := Auth{
		Username:    string(data[SecretUsername]),
		Password:    string(data[SecretPassword]),
		BearerToken: string(data[SecretBearerToken]),
		KnownHosts:  data[SecretKnownHosts],
	}
	if id := data[SecretIdentity]; len(id) > 0 {
		a.SSHPrivateKey = id
		a.SSHPassphrase = data[SecretPassword]
		if p, ok := data[SecretPassphrase]; ok {
			a.SSHPassphrase = p
		}
	}
	return a
}

// Secrets returns the credentials in a, for Redact.
func (a Auth) Secrets() []string {
	return []string{a.Password, a.BearerToken, string(a.SSHPassphrase)}
}

// CloneOptions say which revision of which repository to check out, and how.
type CloneOptions struct {
	// URL is the remote: https://, http://, ssh://, user@host:path or file://.
	URL string
	// Branch, Tag and Commit select the revision; at most one may be set, and with none
	// the branch "main" is cloned. Commit is a full hash; a server that does not serve
	// unadvertised commits by hash gets a full fetch of every branch instead.
	Branch, Tag, Commit string
	// Auth authenticates to the remote.
	Auth Auth
	// Shallow fetches only the selected commit (depth 1) where the revision allows.
	Shallow bool
}

// Validate reports options that cannot work.
func (o CloneOptions) Validate() error {
	if o.URL == "" {
		return errors.New("no Git URL")
	}
	n := 0
	for _, s := range []string{o.Branch, o.Tag, o.Commit} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return errors.New("at most one of branch, tag and commit may be set")
	}
	return nil
}

// RefName is the name the revision is reported under: the branch, the tag, or "HEAD"
// for an exact commit.
func (o CloneOptions) RefName() string {
	switch {
	case o.Tag != "":
		return o.Tag
	case o.Commit != "":
		return "HEAD"
	case o.Branch != "":
		return o.Branch
	default:
		return DefaultBranch
	}
}

// DefaultBranch is the branch cloned when none is given.
const DefaultBranch = "main"

// Checkout is a revision checked out in a directory.
type Checkout struct {
	// Revision is the checked-out commit; its Name is Flux-style, "<ref>@sha1:<hex>"
	// (e.g. "main@sha1:1a2b…", "v1.0@sha1:…", "HEAD@sha1:…" for an exact commit).
	Revision Revision
	// Dir is the work tree.
	Dir string
	// Unchanged says nothing was fetched: Dir already held a complete checkout of the
	// revision, verified against its commit.
	Unchanged bool
	// Replaced says why what Dir held was not reused: a checkout of another commit, or
	// one that is incomplete or damaged (a clone killed half-way). Empty when Dir held
	// nothing, or when it was reused.
	Replaced string
}

// RevisionName is the Flux-style name of commit on ref: "<ref>@sha1:<commit>".
func RevisionName(ref, commit string) string {
	return fmt.Sprintf("%s@sha1:%s", ref, commit)
}

// CommitOf returns the commit hash in a Flux-style revision name ("main@sha1:<hex>",
// "sha1:<hex>" or a bare hash).
func CommitOf(revision string) string {
	for i := len(revision) - 1; i >= 0; i-- {
		if revision[i] == ':' || revision[i] == '@' {
			return revision[i+1:]
		}
	}
	return revision
}

// Cloner checks out revisions of remote repositories.
type Cloner interface {
	// Clone brings dir to the commit opts' revision points at on the remote now. When
	// dir already holds a complete checkout of that commit (its HEAD is the commit, its
	// objects are sound and its work tree is the commit's tree, byte for byte), nothing
	// is fetched and the Checkout has Unchanged set. Anything else in dir (another
	// commit, a partial clone, a damaged repository, a work tree that differs) is
	// removed and the revision cloned afresh, so that a force-pushed branch never meets
	// stale objects; the checkout returned is verified the same way. Whatever dir held
	// before, the files in it afterwards are those of Checkout.Revision.
	// Authentication failures are AuthError; a missing branch, tag or commit is
	// NotFoundError; a revision with a symbolic link out of the work tree is LinkError
	// (and dir is emptied). No error contains a credential.
	Clone(ctx context.Context, dir string, opts CloneOptions) (*Checkout, error)
}

// AuthError says the remote refused the credentials (or none were given and it wants
// some), or an SSH host key did not match known_hosts.
type AuthError struct {
	// URL is the remote, without credentials.
	URL string
	// Err is the underlying error, redacted.
	Err error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("authentication to %s failed: %v", e.URL, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// IsAuth reports whether err is, or wraps, an AuthError.
func IsAuth(err error) bool {
	var ae *AuthError
	return errors.As(err, &ae)
}

// LinkError says a checkout holds a symbolic link that is absolute, loops, or leads out
// of the work tree: following it would read the controller's own files or another
// source's checkout, so the revision is refused.
type LinkError struct {
	// Path is the link, relative to the work tree.
	Path string
	// Target is what the link holds.
	Target string
	// Why says what is wrong with it, e.g. "leads out of the repository".
	Why string
}

func (e *LinkError) Error() string {
	return fmt.Sprintf("the repository has a symbolic link %s -> %s that %s; Ballast refuses revisions with links out of the repository",
		e.Path, e.Target, e.Why)
}

// IsLink reports whether err is, or wraps, a LinkError.
func IsLink(err error) bool {
	var le *LinkError
	return errors.As(err, &le)
}
