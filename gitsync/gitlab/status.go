package gitlab

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/ballast-dev/ballast/gitsync"
)

// StatusSetter sets commit statuses (external pipeline jobs) on one project.
type StatusSetter struct {
	gl *gl.Client
	o  Options
}

var _ gitsync.StatusSetter = (*StatusSetter)(nil)

// NewStatusSetter returns a StatusSetter for the project o names; o.MergeRequest is
// not used. The token needs the api scope and the Developer role. It makes no
// request.
func NewStatusSetter(o Options) (*StatusSetter, error) {
	if o.Project == "" {
		return nil, fmt.Errorf("a GitLab project needs an ID or a path")
	}
	c, err := newClient(&o)
	if err != nil {
		return nil, err
	}
	return &StatusSetter{gl: c, o: o}, nil
}

// state maps a commit state to GitLab's: GitLab has no "failure" or "error", both are
// "failed".
func state(s gitsync.CommitState) gl.BuildStateValue {
	switch s {
	case gitsync.CommitStateSuccess:
		return gl.Success
	case gitsync.CommitStatePending:
		return gl.Pending
	default:
		return gl.Failed
	}
}

// SetStatus implements gitsync.StatusSetter: GET
// /projects/:id/repository/commits/:sha/statuses?name=<context> (the latest status of
// each name, as GitLab returns without all=true), then POST /projects/:id/statuses/:sha
// with name=<context> when it differs.
func (s *StatusSetter) SetStatus(ctx context.Context, st gitsync.CommitStatus) error {
	if err := st.Validate(); err != nil {
		return err
	}
	st = st.Normalize()
	where := fmt.Sprintf("%s@%s", s.o.Project, st.Commit)
	want := state(st.State)
	opts := &gl.GetCommitStatusesOptions{ListOptions: gl.ListOptions{PerPage: perPage, Page: 1}, Name: &st.Context}
	var latest *gl.CommitStatus
	for {
		page, resp, err := s.gl.Commits.GetCommitStatuses(s.o.Project, st.Commit, opts, gl.WithContext(ctx))
		if err != nil {
			return fail("list the statuses of "+where, resp, err, s.o.Token)
		}
		for _, cs := range page {
			if cs.Name == st.Context && (latest == nil || cs.ID > latest.ID) {
				latest = cs
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if latest != nil && latest.Status == string(want) && latest.Description == st.Description {
		return nil
	}
	in := &gl.SetCommitStatusOptions{State: want, Name: &st.Context, Description: &st.Description}
	if st.TargetURL != "" {
		in.TargetURL = &st.TargetURL
	}
	if _, resp, err := s.gl.Commits.SetCommitStatus(s.o.Project, st.Commit, in, gl.WithContext(ctx)); err != nil {
		// A pending or running job cannot move to the same state again, only its
		// description would change: keep it.
		if resp != nil && resp.StatusCode == http.StatusBadRequest && latest != nil && latest.Status == string(want) &&
			strings.Contains(err.Error(), "Cannot transition status") {
			return nil
		}
		return fail(fmt.Sprintf("set status %q on %s", st.Context, where), resp, err, s.o.Token)
	}
	return nil
}
