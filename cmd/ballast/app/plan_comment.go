package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gitea"
	"github.com/ballast-dev/ballast/gitsync/github"
	"github.com/ballast-dev/ballast/gitsync/gitlab"
	"github.com/ballast-dev/ballast/plan"
)

// commentKey is the marker of the plan comment; --cluster adds ":<cluster>", so that
// jobs planning one cluster each keep one comment each.
const commentKey = "ballast-plan"

// githubActionsLogin is the author of comments made with GitHub Actions' GITHUB_TOKEN,
// which may not ask GitHub who it is.
const githubActionsLogin = "github-actions[bot]"

// commentOptions are the flags of ballast plan --comment.
type commentOptions struct {
	forge   string
	repo    string
	number  int64
	apiURL  string
	author  string
	run     int64
	cluster string
	// insecure accepts an http:// API URL.
	insecure bool
}

var forges = []string{"github", "gitlab", "gitea"}

func (o *commentOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.forge, "comment", "", "keep the plan as one comment on the pull request: github, gitlab or gitea")
	f.StringVar(&o.repo, "repo", "", "the repository: owner/name (GitHub, Gitea) or project ID or path (GitLab); default from CI: GITHUB_REPOSITORY, CI_PROJECT_ID")
	f.Int64Var(&o.number, "pr", 0, "the pull request's number (GitLab: the merge request IID); default from CI: GITHUB_EVENT_PATH or GITHUB_REF, CI_MERGE_REQUEST_IID")
	f.StringVar(&o.apiURL, "api-url", "", "the forge's API (Gitea: server) URL for GitHub Enterprise and self-hosted forges; default from CI: GITHUB_API_URL, CI_API_V4_URL, GITHUB_SERVER_URL (Gitea Actions), else the public service")
	f.StringVar(&o.author, "comment-author", "", "login of the token's account; default: asked from the forge (github-actions[bot] with Actions' GITHUB_TOKEN)")
	f.Int64Var(&o.run, "run", 0, "orders runs of the same commit: newer runs win; default from CI: GITHUB_RUN_NUMBER, CI_PIPELINE_IID")
	f.BoolVar(&o.insecure, "allow-insecure-http", false, "also accept an http:// API URL for --comment (local development and tests only: the token would travel unencrypted)")
}

func (o *commentOptions) check() error {
	if o.forge != "" && !contains(forges, o.forge) {
		return fmt.Errorf("unknown forge %q for --comment: use %s", o.forge, strings.Join(forges, ", "))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// tokenVariables name the environment variable each forge's token is read from.
var tokenVariables = map[string]string{"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN", "gitea": "GITEA_TOKEN"}

// newCommenter makes the forge client for the pull request the flags and the CI
// environment name.
func newCommenter(o commentOptions, env func(string) string) (gitsync.Commenter, error) {
	token := env(tokenVariables[o.forge])
	if token == "" {
		return nil, fmt.Errorf("--comment %s needs a token in %s", o.forge, tokenVariables[o.forge])
	}
	repo, number, apiURL := o.repo, o.number, o.apiURL
	switch o.forge {
	case "gitlab":
		repo = firstOf(repo, env("CI_PROJECT_ID"), env("CI_PROJECT_PATH"))
		if number == 0 {
			number, _ = strconv.ParseInt(env("CI_MERGE_REQUEST_IID"), 10, 64)
		}
		apiURL = firstOf(apiURL, env("CI_API_V4_URL"))
		if repo == "" || number == 0 {
			return nil, errors.New("--comment gitlab needs the project and the merge request: --repo and --pr, or CI_PROJECT_ID and CI_MERGE_REQUEST_IID (run in a merge request pipeline)")
		}
		if err := gitsync.CheckForgeAddress(apiURL, o.insecure); err != nil {
			return nil, err
		}
		return gitlab.New(gitlab.Options{APIURL: apiURL, Project: repo, MergeRequest: number, Token: token})
	default:
		repo = firstOf(repo, env("GITHUB_REPOSITORY"))
		if number == 0 {
			number = pullRequestFromEnv(env)
		}
		owner, name, ok := strings.Cut(repo, "/")
		if !ok || owner == "" || name == "" || number == 0 {
			return nil, fmt.Errorf("--comment %s needs the repository as owner/name and the pull request number: --repo and --pr, or GITHUB_REPOSITORY and a pull_request event (got %q, #%d)", o.forge, repo, number)
		}
		if o.forge == "gitea" {
			apiURL = firstOf(apiURL, env("GITHUB_SERVER_URL"))
			if apiURL == "" {
				return nil, errors.New("--comment gitea needs the server URL: --api-url, or GITHUB_SERVER_URL in Gitea Actions")
			}
			if err := gitsync.CheckForgeAddress(apiURL, o.insecure); err != nil {
				return nil, err
			}
			return gitea.New(gitea.Options{URL: apiURL, Owner: owner, Repo: name, Number: number, Token: token})
		}
		apiURL = firstOf(apiURL, env("GITHUB_API_URL"))
		if err := gitsync.CheckForgeAddress(apiURL, o.insecure); err != nil {
			return nil, err
		}
		return github.New(github.Options{APIURL: apiURL, Owner: owner, Repo: name, Number: int(number), Token: token})
	}
}

var pullRef = regexp.MustCompile(`^refs/pull/([0-9]+)/(merge|head)$`)

// pullRequestFromEnv reads the pull request number of a GitHub (or Gitea) Actions job:
// from the event payload (pull_request, pull_request_target, issue_comment events), else
// from GITHUB_REF (refs/pull/N/merge).
func pullRequestFromEnv(env func(string) string) int64 {
	if p := env("GITHUB_EVENT_PATH"); p != "" {
		if data, err := os.ReadFile(p); err == nil { //nolint:gosec // the runner's event file
			var ev struct {
				Number      int64 `json:"number"`
				PullRequest struct {
					Number int64 `json:"number"`
				} `json:"pull_request"`
				Issue struct {
					Number      int64           `json:"number"`
					PullRequest json.RawMessage `json:"pull_request"`
				} `json:"issue"`
			}
			if json.Unmarshal(data, &ev) == nil {
				switch {
				case ev.PullRequest.Number > 0:
					return ev.PullRequest.Number
				case ev.Issue.Number > 0 && len(ev.Issue.PullRequest) > 0:
					return ev.Issue.Number
				}
			}
		}
	}
	if m := pullRef.FindStringSubmatch(env("GITHUB_REF")); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n
	}
	return 0
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// runNumber is --run, else the CI's run counter.
func runNumber(o commentOptions, env func(string) string) int64 {
	if o.run != 0 {
		return o.run
	}
	for _, v := range []string{"GITHUB_RUN_NUMBER", "CI_PIPELINE_IID"} {
		if n, err := strconv.ParseInt(env(v), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 0
}

// postPlan keeps the plan as the pull request's one plan comment and prints the
// Markdown on stdout.
func postPlan(ctx context.Context, s streams, o commentOptions, p *plan.Plan, head *side, env func(string) string) error {
	c, err := newCommenter(o, env)
	if err != nil {
		return usageError(s, "%v", err)
	}
	key := commentKey
	if o.cluster != "" {
		key += ":" + o.cluster
	}
	stamp := gitsync.Stamp{Run: runNumber(o, env)}
	if rev := headCommit(ctx, head); rev != nil {
		stamp.Commit, stamp.CommitTime = rev.Commit, rev.Time
	}
	marker := gitsync.Marker(key, stamp)
	body := plan.Markdown(*p, c.MaxBodyLength()-len(marker)-1)
	_, _ = fmt.Fprint(s.out, body)

	author := o.author
	if author == "" {
		login, err := c.Login(ctx)
		switch {
		case gitsync.IsForbidden(err) && o.forge == "github" && env("GITHUB_ACTIONS") == "true":
			author = githubActionsLogin
		case err != nil:
			return fmt.Errorf("failed to find out who the %s token belongs to (or pass --comment-author): %w", tokenVariables[o.forge], err)
		default:
			author = login
		}
	}
	sticky := gitsync.Sticky{Key: key, Body: body, Stamp: stamp, Author: author}
	if head.ws.git != nil {
		sticky.MergeBase = func(ctx context.Context, a, b string) (string, error) {
			rev, err := head.ws.git.MergeBase(ctx, a, b)
			return rev.Commit, err
		}
	}
	res, err := gitsync.Upsert(ctx, c, sticky)
	if err != nil {
		return fmt.Errorf("failed to keep the plan comment: %w", err)
	}
	switch res.Outcome {
	case gitsync.Superseded:
		_, _ = fmt.Fprintf(s.err, "plan comment left alone: %s\n", res.Reason)
	default:
		_, _ = fmt.Fprintf(s.err, "plan comment %s: %s\n", res.Outcome, firstOf(res.Comment.URL, fmt.Sprintf("comment %d", res.Comment.ID)))
	}
	return nil
}

// headCommit is the commit the plan describes: the head revision, or HEAD under the
// working tree.
func headCommit(ctx context.Context, head *side) *gitsync.Revision {
	if head.rev != nil {
		return head.rev
	}
	if head.ws.git == nil {
		return nil
	}
	rev, err := head.ws.git.Resolve(ctx, "HEAD")
	if err != nil {
		return nil
	}
	return &rev
}
