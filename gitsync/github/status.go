package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	gh "github.com/google/go-github/v92/github"

	"github.com/ballast-dev/ballast/gitsync"
)

// StatusSetter sets commit statuses on one repository.
type StatusSetter struct {
	gh    *gh.Client
	o     Options
	token string
}

var _ gitsync.StatusSetter = (*StatusSetter)(nil)

// NewStatusSetter returns a StatusSetter for the repository o names; o.Number is not
// used. The token needs the repo:status scope (statuses: write for a fine-grained
// token or an app). It makes no request.
func NewStatusSetter(o Options) (*StatusSetter, error) {
	if o.Owner == "" || o.Repo == "" {
		return nil, fmt.Errorf("a GitHub repository needs an owner and a name (got %q/%q)", o.Owner, o.Repo)
	}
	c, err := newClient(o)
	if err != nil {
		return nil, err
	}
	return &StatusSetter{gh: c, o: o, token: o.Token}, nil
}

// SetStatus implements gitsync.StatusSetter: GET /repos/{owner}/{repo}/commits/{sha}/statuses
// (newest first) for the latest status of the context, then POST
// /repos/{owner}/{repo}/statuses/{sha} when it differs.
func (s *StatusSetter) SetStatus(ctx context.Context, st gitsync.CommitStatus) error {
	if err := st.Validate(); err != nil {
		return err
	}
	st = st.Normalize()
	where := fmt.Sprintf("%s/%s@%s", s.o.Owner, s.o.Repo, st.Commit)
	latest, err := s.latest(ctx, st.Commit, st.Context)
	if err != nil {
		return fail("list the statuses of "+where, latest.resp, err, s.token)
	}
	if latest.status != nil && latest.status.GetState() == string(st.State) && latest.status.GetDescription() == st.Description {
		return nil
	}
	in := gh.RepoStatus{State: new(string(st.State)), Context: new(st.Context), Description: new(st.Description)}
	if st.TargetURL != "" {
		in.TargetURL = new(st.TargetURL)
	}
	_, resp, err := s.gh.Repositories.CreateStatus(ctx, s.o.Owner, s.o.Repo, st.Commit, in)
	if err != nil {
		return fail(fmt.Sprintf("set status %q on %s", st.Context, where), resp, err, s.token)
	}
	return nil
}

type found struct {
	status *gh.RepoStatus
	resp   *gh.Response
}

// latest returns the newest status of context on commit, reading pages until it finds
// one (GitHub lists newest first).
func (s *StatusSetter) latest(ctx context.Context, commit, context string) (found, error) {
	opts := &gh.ListOptions{PerPage: perPage}
	for {
		page, resp, err := s.gh.Repositories.ListStatuses(ctx, s.o.Owner, s.o.Repo, commit, opts)
		if err != nil {
			var er *gh.ErrorResponse
			// A commit GitHub does not know yet has no statuses: let the POST say why.
			if errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusNotFound {
				return found{}, nil
			}
			return found{resp: resp}, err
		}
		for _, st := range page {
			if st.GetContext() == context {
				return found{status: st}, nil
			}
		}
		if resp.NextPage == 0 {
			return found{}, nil
		}
		opts.Page = resp.NextPage
	}
}
