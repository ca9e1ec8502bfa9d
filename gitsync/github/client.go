package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v92/github"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/redact"
)

// MaxBodyLength is the longest comment body GitHub accepts: 65,536 characters. Bytes
// are counted, which is never more lenient.
const MaxBodyLength = 65536

// perPage is the largest page GitHub serves.
const perPage = 100

// Options say which pull request to comment on and how to reach it.
type Options struct {
	// APIURL is the REST API's base URL: empty or https://api.github.com for github.com,
	// https://HOST/api/v3 for GitHub Enterprise Server (the /api/v3 suffix is added
	// when missing).
	APIURL string
	// Owner and Repo name the repository.
	Owner, Repo string
	// Number is the pull request's number.
	Number int
	// Token authenticates every request (a GITHUB_TOKEN, a personal access token or an
	// app installation token). It never appears in errors.
	Token string
	// HTTPClient makes the requests; nil for a default client.
	HTTPClient *http.Client
}

// Client comments on one pull request.
type Client struct {
	gh    *gh.Client
	o     Options
	token string
}

var _ gitsync.Commenter = (*Client)(nil)

// New returns a client for the pull request o describes.
func New(o Options) (*Client, error) {
	if o.Owner == "" || o.Repo == "" || o.Number <= 0 {
		return nil, fmt.Errorf("a GitHub pull request needs an owner, a repository and a number (got %q/%q #%d)", o.Owner, o.Repo, o.Number)
	}
	c, err := newClient(o)
	if err != nil {
		return nil, err
	}
	return &Client{gh: c, o: o, token: o.Token}, nil
}

// newClient makes the go-github client o describes; o.Number is not used.
func newClient(o Options) (*gh.Client, error) {
	if o.Token == "" {
		return nil, errors.New("no GitHub token")
	}
	opts := []gh.ClientOptionsFunc{gh.WithAuthToken(o.Token)}
	if o.HTTPClient != nil {
		opts = append(opts, gh.WithHTTPClient(o.HTTPClient))
	}
	if u := strings.TrimSuffix(o.APIURL, "/"); u != "" && u != "https://api.github.com" {
		opts = append(opts, gh.WithEnterpriseURLs(u, u))
	}
	c, err := gh.NewClient(opts...)
	if err != nil {
		return nil, redact.Error(fmt.Errorf("failed to make a GitHub client for %s: %w", o.APIURL, err), o.Token)
	}
	return c, nil
}

// fail wraps err with what failed, maps 401 and 403 to gitsync.ForbiddenError and
// removes the token from the message.
func (c *Client) fail(op string, resp *gh.Response, err error) error {
	return fail(op, resp, err, c.token)
}

func fail(op string, resp *gh.Response, err error, token string) error {
	if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		return &gitsync.ForbiddenError{Op: op, Err: redact.Remote(err, token)}
	}
	return fmt.Errorf("failed to %s: %w", op, redact.Remote(err, token))
}

// Login implements gitsync.Commenter: GET /user. GitHub Actions' GITHUB_TOKEN may not
// call it (403); the caller then knows the login otherwise (github-actions[bot]).
func (c *Client) Login(ctx context.Context) (string, error) {
	u, resp, err := c.gh.Users.Get(ctx, "")
	if err != nil {
		return "", c.fail("get the authenticated user", resp, err)
	}
	return u.GetLogin(), nil
}

// List implements gitsync.Commenter: GET /repos/{owner}/{repo}/issues/{number}/comments,
// following the Link header's next page.
func (c *Client) List(ctx context.Context) ([]gitsync.Comment, error) {
	var out []gitsync.Comment
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: perPage}}
	for {
		page, resp, err := c.gh.Issues.ListComments(ctx, c.o.Owner, c.o.Repo, c.o.Number, opts)
		if err != nil {
			return nil, c.fail(fmt.Sprintf("list the comments of %s/%s#%d", c.o.Owner, c.o.Repo, c.o.Number), resp, err)
		}
		for _, cm := range page {
			out = append(out, comment(cm))
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// Create implements gitsync.Commenter: POST /repos/{owner}/{repo}/issues/{number}/comments.
func (c *Client) Create(ctx context.Context, body string) (gitsync.Comment, error) {
	cm, resp, err := c.gh.Issues.CreateComment(ctx, c.o.Owner, c.o.Repo, c.o.Number, gh.IssueCommentRequest{Body: body})
	if err != nil {
		return gitsync.Comment{}, c.fail(fmt.Sprintf("comment on %s/%s#%d", c.o.Owner, c.o.Repo, c.o.Number), resp, err)
	}
	return comment(cm), nil
}

// Update implements gitsync.Commenter: PATCH /repos/{owner}/{repo}/issues/comments/{id}.
func (c *Client) Update(ctx context.Context, id int64, body string) (gitsync.Comment, error) {
	cm, resp, err := c.gh.Issues.UpdateComment(ctx, c.o.Owner, c.o.Repo, id, gh.IssueCommentRequest{Body: body})
	if err != nil {
		return gitsync.Comment{}, c.fail(fmt.Sprintf("update comment %d on %s/%s", id, c.o.Owner, c.o.Repo), resp, err)
	}
	return comment(cm), nil
}

// MaxBodyLength implements gitsync.Commenter.
func (c *Client) MaxBodyLength() int { return MaxBodyLength }

func comment(cm *gh.IssueComment) gitsync.Comment {
	return gitsync.Comment{
		ID:        cm.GetID(),
		Author:    cm.GetUser().GetLogin(),
		Body:      cm.GetBody(),
		UpdatedAt: cm.GetUpdatedAt().Time,
		URL:       cm.GetHTMLURL(),
	}
}
