package gitsync

import (
	"context"
	"fmt"
)

// CommitState is the state of a commit status, in the words GitHub, GitLab and Gitea
// share.
type CommitState string

// The commit states Ballast sets.
const (
	// CommitStatePending means the commit is being synced.
	CommitStatePending CommitState = "pending"
	// CommitStateSuccess means the commit was applied.
	CommitStateSuccess CommitState = "success"
	// CommitStateFailure means the commit was refused, e.g. it failed validation.
	CommitStateFailure CommitState = "failure"
	// CommitStateError means the commit could not be processed for another reason.
	CommitStateError CommitState = "error"
)

// CommitStatus is one status on one commit, as forges show next to it.
type CommitStatus struct {
	// Commit is the full hash of the commit.
	Commit string
	// Context names the status; keep it stable (e.g. "ballast/prod-eu") so that a new
	// status replaces the last one rather than adding a line.
	Context string
	// State is the outcome.
	State CommitState
	// Description is one short line; forges cut it (GitHub at 140 characters).
	Description string
	// TargetURL is where people read more; optional.
	TargetURL string
}

// MaxDescriptionLength is the longest description sent: GitHub's limit, the lowest.
const MaxDescriptionLength = 140

// Normalize returns s with its description cut to MaxDescriptionLength characters, as
// setters send it; compare statuses after normalizing.
func (s CommitStatus) Normalize() CommitStatus {
	if r := []rune(s.Description); len(r) > MaxDescriptionLength {
		s.Description = string(r[:MaxDescriptionLength-1]) + "…"
	}
	return s
}

// Validate reports a status no forge accepts.
func (s CommitStatus) Validate() error {
	switch s.State {
	case CommitStatePending, CommitStateSuccess, CommitStateFailure, CommitStateError:
	default:
		return fmt.Errorf("unknown commit state %q", s.State)
	}
	if s.Commit == "" || s.Context == "" {
		return fmt.Errorf("a commit status needs a commit and a context (got %q, %q)", s.Commit, s.Context)
	}
	return nil
}

// StatusSetter sets commit statuses on one repository of a forge.
type StatusSetter interface {
	// SetStatus sets s on its commit. It writes nothing when the latest status of that
	// context on that commit already has the same state and description, so that a
	// resync does not add a duplicate.
	SetStatus(ctx context.Context, s CommitStatus) error
}

// FileWriteOptions say which file to write on which branch of which repository, and
// how to commit it.
type FileWriteOptions struct {
	// URL is the remote; Auth authenticates to it (see Auth).
	URL  string
	Auth Auth
	// Branch receives the commit; it is created as an orphan branch (no parent, only
	// this file) when missing.
	Branch string
	// Path is the file, slash-separated, relative to the repository's root, e.g.
	// "status/prod.yaml".
	Path string
	// Content is the file's whole content.
	Content []byte
	// AuthorName and AuthorEmail sign the commit as author and committer; defaults
	// "Ballast" and "ballast@localhost".
	AuthorName, AuthorEmail string
	// Message is the commit message; default "Update <Path>".
	Message string
	// SigningKey, when set, is an ASCII-armored OpenPGP private key (unencrypted) that
	// signs the commit.
	SigningKey []byte
	// SSHSigningKey, when set (and SigningKey is not), is an SSH private key (PEM or
	// OpenSSH, unencrypted) that signs the commit the way `git -c gpg.format=ssh` does.
	SSHSigningKey []byte
}

// FileWriter writes files to branches of remote repositories.
type FileWriter interface {
	// WriteFile makes Path on Branch hold Content: it commits and pushes only when the
	// content differs, and on a push rejected because someone else pushed first it
	// fetches, writes the file again on the new head and retries (bounded). It returns
	// the branch's head commit afterwards and whether it pushed a new commit.
	WriteFile(ctx context.Context, opts FileWriteOptions) (commit string, changed bool, err error)
}

// FileReadOptions say which file of which branch of which repository to read.
type FileReadOptions struct {
	// URL is the remote; Auth authenticates to it (see Auth).
	URL  string
	Auth Auth
	// Branch and Path name the file, as in FileWriteOptions.
	Branch, Path string
}

// FileReader reads files from branches of remote repositories.
type FileReader interface {
	// ReadFile returns Path's content at the head of Branch, fetched now. A branch or
	// a file that does not exist is a NotFoundError; a refused credential is an
	// AuthError; no error contains a credential.
	ReadFile(ctx context.Context, opts FileReadOptions) ([]byte, error)
}
