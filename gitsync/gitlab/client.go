package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/redact"
)

// MaxBodyLength is the longest note GitLab accepts: 1,000,000 characters. Bytes are
// counted, which is never more lenient.
const MaxBodyLength = 1_000_000

// perPage is the largest page GitLab serves.
const perPage = 100

// DefaultAPIURL is gitlab.com's REST API.
const DefaultAPIURL = "https://gitlab.com/api/v4"

// Options say which merge request to comment on and how to reach it.
type Options struct {
	// APIURL is the REST API's base URL, e.g. https://gitlab.example.com/api/v4 (the
	// /api/v4 suffix is added when missing); empty for gitlab.com.
	APIURL string
	// Project is the project's numeric ID or its full path (group/project).
	Project string
	// MergeRequest is the merge request's IID (its number within the project).
	MergeRequest int64
	// Token is a personal, project or group access token with the api scope, sent as
	// PRIVATE-TOKEN. It never appears in errors.
	Token string
	// HTTPClient makes the requests; nil for a default client.
	HTTPClient *http.Client
}

// Client comments on one merge request.
type Client struct {
	gl *gl.Client
	o  Options
}

var _ gitsync.Commenter = (*Client)(nil)

// New returns a client for the merge request o describes.
func New(o Options) (*Client, error) {
	if o.Project == "" || o.MergeRequest <= 0 {
		return nil, fmt.Errorf("a GitLab merge request needs a project and an IID (got %q !%d)", o.Project, o.MergeRequest)
	}
	c, err := newClient(&o)
	if err != nil {
		return nil, err
	}
	return &Client{gl: c, o: o}, nil
}

// newClient makes the GitLab client o describes, defaulting o.APIURL.
func newClient(o *Options) (*gl.Client, error) {
	if o.Token == "" {
		return nil, errors.New("no GitLab token")
	}
	if o.APIURL == "" {
		o.APIURL = DefaultAPIURL
	}
	// Creating a note or a status is not idempotent: a retried POST could write twice.
	opts := []gl.ClientOptionFunc{gl.WithBaseURL(o.APIURL), gl.WithOnlyIdempotentRetries()}
	if o.HTTPClient != nil {
		opts = append(opts, gl.WithHTTPClient(o.HTTPClient))
	}
	c, err := gl.NewClient(o.Token, opts...)
	if err != nil {
		return nil, redact.Error(fmt.Errorf("failed to make a GitLab client for %s: %w", o.APIURL, err), o.Token)
	}
	return c, nil
}

func (c *Client) fail(op string, resp *gl.Response, err error) error {
	return fail(op, resp, err, c.o.Token)
}

func fail(op string, resp *gl.Response, err error, token string) error {
	if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		return &gitsync.ForbiddenError{Op: op, Err: redact.Remote(err, token)}
	}
	return fmt.Errorf("failed to %s: %w", op, redact.Remote(err, token))
}

func (c *Client) where() string { return fmt.Sprintf("%s!%d", c.o.Project, c.o.MergeRequest) }

// Login implements gitsync.Commenter: GET /user.
func (c *Client) Login(ctx context.Context) (string, error) {
	u, resp, err := c.gl.Users.CurrentUser(gl.WithContext(ctx))
	if err != nil {
		return "", c.fail("get the authenticated user", resp, err)
	}
	return u.Username, nil
}

// List implements gitsync.Commenter: GET /projects/:id/merge_requests/:iid/notes, oldest
// first, following X-Next-Page. System notes ("added 1 commit") are left out.
func (c *Client) List(ctx context.Context) ([]gitsync.Comment, error) {
	orderBy, sort := "created_at", "asc"
	opts := &gl.ListMergeRequestNotesOptions{ListOptions: gl.ListOptions{PerPage: perPage, Page: 1}, OrderBy: &orderBy, Sort: &sort}
	var out []gitsync.Comment
	for {
		page, resp, err := c.gl.Notes.ListMergeRequestNotes(c.o.Project, c.o.MergeRequest, opts, gl.WithContext(ctx))
		if err != nil {
			return nil, c.fail("list the notes of "+c.where(), resp, err)
		}
		for _, n := range page {
			if !n.System {
				out = append(out, c.comment(n))
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// Create implements gitsync.Commenter: POST /projects/:id/merge_requests/:iid/notes.
func (c *Client) Create(ctx context.Context, body string) (gitsync.Comment, error) {
	n, resp, err := c.gl.Notes.CreateMergeRequestNote(c.o.Project, c.o.MergeRequest, &gl.CreateMergeRequestNoteOptions{Body: &body}, gl.WithContext(ctx))
	if err != nil {
		return gitsync.Comment{}, c.fail("add a note to "+c.where(), resp, err)
	}
	return c.comment(n), nil
}

// Update implements gitsync.Commenter: PUT /projects/:id/merge_requests/:iid/notes/:note_id.
func (c *Client) Update(ctx context.Context, id int64, body string) (gitsync.Comment, error) {
	n, resp, err := c.gl.Notes.UpdateMergeRequestNote(c.o.Project, c.o.MergeRequest, id, &gl.UpdateMergeRequestNoteOptions{Body: &body}, gl.WithContext(ctx))
	if err != nil {
		return gitsync.Comment{}, c.fail(fmt.Sprintf("update note %d of %s", id, c.where()), resp, err)
	}
	return c.comment(n), nil
}

// MaxBodyLength implements gitsync.Commenter.
func (c *Client) MaxBodyLength() int { return MaxBodyLength }

func (c *Client) comment(n *gl.Note) gitsync.Comment {
	cm := gitsync.Comment{ID: n.ID, Author: n.Author.Username, Body: n.Body}
	if n.UpdatedAt != nil {
		cm.UpdatedAt = *n.UpdatedAt
	}
	return cm
}
