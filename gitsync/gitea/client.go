package gitea

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/redact"
)

// MaxBodyLength is the longest comment Ballast posts on Gitea: 262,144 bytes. Gitea
// itself sets no limit on the API (comments are LONGTEXT columns) and renders Markdown
// up to three times [ui] MAX_DISPLAY_FILE_SIZE (8 MiB by default); a quarter of a
// mebibyte keeps the page usable and stays far inside both.
const MaxBodyLength = 256 << 10

// pageSize is Gitea's default [api] MAX_RESPONSE_ITEMS; larger pages are cut to it.
const pageSize = 50

// Options say which pull request to comment on and how to reach it.
type Options struct {
	// URL is the Gitea server's root URL, e.g. https://gitea.example.com (without
	// /api/v1).
	URL string
	// Owner and Repo name the repository.
	Owner, Repo string
	// Number is the pull request's index.
	Number int64
	// Token is an access token with write:issue and read:user scopes (Gitea Actions'
	// GITEA_TOKEN works). It never appears in errors.
	Token string
	// HTTPClient makes the requests; nil for a default client.
	HTTPClient *http.Client
}

// Client comments on one pull request.
type Client struct {
	sdk *sdk.Client
	o   Options
}

var _ gitsync.Commenter = (*Client)(nil)

// New returns a client for the pull request o describes. It makes no request.
func New(o Options) (*Client, error) {
	if o.URL == "" || o.Owner == "" || o.Repo == "" || o.Number <= 0 {
		return nil, fmt.Errorf("a Gitea pull request needs a server URL, an owner, a repository and a number (got %q, %q/%q #%d)", o.URL, o.Owner, o.Repo, o.Number)
	}
	c, err := newClient(&o)
	if err != nil {
		return nil, err
	}
	return &Client{sdk: c, o: o}, nil
}

// newClient makes the SDK client o describes, trimming o.URL to the server's root.
func newClient(o *Options) (*sdk.Client, error) {
	if o.Token == "" {
		return nil, errors.New("no Gitea token")
	}
	o.URL = strings.TrimSuffix(strings.TrimSuffix(o.URL, "/"), "/api/v1")
	// No version check: it would be a request before any is needed.
	opts := []sdk.ClientOption{sdk.SetToken(o.Token), sdk.SetGiteaVersion("")}
	if o.HTTPClient != nil {
		opts = append(opts, sdk.SetHTTPClient(o.HTTPClient))
	}
	c, err := sdk.NewClient(o.URL, opts...)
	if err != nil {
		return nil, redact.Error(fmt.Errorf("failed to make a Gitea client for %s: %w", o.URL, err), o.Token)
	}
	return c, nil
}

func (c *Client) fail(op string, resp *sdk.Response, err error) error {
	return fail(op, resp, err, c.o.Token)
}

func fail(op string, resp *sdk.Response, err error, token string) error {
	if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		return &gitsync.ForbiddenError{Op: op, Err: redact.Remote(err, token)}
	}
	return fmt.Errorf("failed to %s: %w", op, redact.Remote(err, token))
}

func (c *Client) where() string { return fmt.Sprintf("%s/%s#%d", c.o.Owner, c.o.Repo, c.o.Number) }

// Login implements gitsync.Commenter: GET /api/v1/user.
func (c *Client) Login(ctx context.Context) (string, error) {
	c.sdk.SetContext(ctx)
	u, resp, err := c.sdk.GetMyUserInfo()
	if err != nil {
		return "", c.fail("get the authenticated user", resp, err)
	}
	return u.UserName, nil
}

// List implements gitsync.Commenter: GET /api/v1/repos/{owner}/{repo}/issues/{index}/comments.
// Gitea 1.26 returns every comment in one response (the endpoint takes no page
// parameters); List follows a Link header's next page should a later version paginate.
func (c *Client) List(ctx context.Context) ([]gitsync.Comment, error) {
	c.sdk.SetContext(ctx)
	var out []gitsync.Comment
	opts := sdk.ListIssueCommentOptions{ListOptions: sdk.ListOptions{Page: 1, PageSize: pageSize}}
	for {
		page, resp, err := c.sdk.ListIssueComments(c.o.Owner, c.o.Repo, c.o.Number, opts)
		if err != nil {
			return nil, c.fail("list the comments of "+c.where(), resp, err)
		}
		for _, cm := range page {
			out = append(out, comment(cm))
		}
		if len(page) == 0 || resp == nil || resp.NextPage <= opts.Page {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// Create implements gitsync.Commenter: POST /api/v1/repos/{owner}/{repo}/issues/{index}/comments.
func (c *Client) Create(ctx context.Context, body string) (gitsync.Comment, error) {
	c.sdk.SetContext(ctx)
	cm, resp, err := c.sdk.CreateIssueComment(c.o.Owner, c.o.Repo, c.o.Number, sdk.CreateIssueCommentOption{Body: body})
	if err != nil {
		return gitsync.Comment{}, c.fail("comment on "+c.where(), resp, err)
	}
	return comment(cm), nil
}

// Update implements gitsync.Commenter: PATCH /api/v1/repos/{owner}/{repo}/issues/comments/{id}.
func (c *Client) Update(ctx context.Context, id int64, body string) (gitsync.Comment, error) {
	c.sdk.SetContext(ctx)
	cm, resp, err := c.sdk.EditIssueComment(c.o.Owner, c.o.Repo, id, sdk.EditIssueCommentOption{Body: body})
	if err != nil {
		return gitsync.Comment{}, c.fail(fmt.Sprintf("update comment %d on %s/%s", id, c.o.Owner, c.o.Repo), resp, err)
	}
	return comment(cm), nil
}

// MaxBodyLength implements gitsync.Commenter.
func (c *Client) MaxBodyLength() int { return MaxBodyLength }

func comment(cm *sdk.Comment) gitsync.Comment {
	out := gitsync.Comment{ID: cm.ID, Body: cm.Body, UpdatedAt: cm.Updated, URL: cm.HTMLURL}
	if cm.Poster != nil {
		out.Author = cm.Poster.UserName
	}
	return out
}
