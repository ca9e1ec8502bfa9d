package gitsync

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Comment is one comment on a pull request (a merge-request note on GitLab).
type Comment struct {
	// ID is the forge's identifier of the comment.
	ID int64
	// Author is the login of the account that wrote it.
	Author string
	// Body is the comment's Markdown.
	Body string
	// UpdatedAt is when the comment was last written.
	UpdatedAt time.Time
	// URL is where people see the comment, when the forge says.
	URL string
}

// Commenter writes comments on one pull request of one repository on a forge.
type Commenter interface {
	// Login returns the login of the account the client's token belongs to. It returns a
	// ForbiddenError when the token may not ask (GitHub Actions' job token cannot).
	Login(ctx context.Context) (string, error)
	// List returns every comment of the pull request, oldest first, reading all pages.
	List(ctx context.Context) ([]Comment, error)
	// Create adds a comment with body to the pull request.
	Create(ctx context.Context, body string) (Comment, error)
	// Update replaces the body of the comment with the given ID.
	Update(ctx context.Context, id int64, body string) (Comment, error)
	// MaxBodyLength is the longest body, in bytes, the forge accepts (or that is safe
	// to post there).
	MaxBodyLength() int
}

// ForbiddenError says that the forge refused a request for lack of permission (HTTP 401
// or 403), which callers may handle, e.g. by falling back to a configured login.
type ForbiddenError struct {
	// Op names the request, e.g. "get the authenticated user".
	Op string
	// Err is the underlying error.
	Err error
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("failed to %s: permission denied: %v", e.Op, e.Err)
}

func (e *ForbiddenError) Unwrap() error { return e.Err }

// IsForbidden reports whether err is, or wraps, a ForbiddenError.
func IsForbidden(err error) bool {
	var fe *ForbiddenError
	return errors.As(err, &fe)
}
