package gitea

import (
	"context"
	"fmt"
	"sync"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/ballast-dev/ballast/gitsync"
)

// StatusSetter sets commit statuses on one repository.
type StatusSetter struct {
	// mu serializes calls: the SDK client holds the request context.
	mu  sync.Mutex
	sdk *sdk.Client
	o   Options
}

var _ gitsync.StatusSetter = (*StatusSetter)(nil)

// NewStatusSetter returns a StatusSetter for the repository o names; o.Number is not
// used. The token needs the write:repository scope. It makes no request.
func NewStatusSetter(o Options) (*StatusSetter, error) {
	if o.URL == "" || o.Owner == "" || o.Repo == "" {
		return nil, fmt.Errorf("a Gitea repository needs a server URL, an owner and a name (got %q, %q/%q)", o.URL, o.Owner, o.Repo)
	}
	c, err := newClient(&o)
	if err != nil {
		return nil, err
	}
	return &StatusSetter{sdk: c, o: o}, nil
}

// SetStatus implements gitsync.StatusSetter: GET
// /api/v1/repos/{owner}/{repo}/commits/{sha}/statuses, every page, for the latest
// (highest ID) status of the context, then POST /api/v1/repos/{owner}/{repo}/statuses/{sha}
// when it differs.
func (s *StatusSetter) SetStatus(ctx context.Context, st gitsync.CommitStatus) error {
	if err := st.Validate(); err != nil {
		return err
	}
	st = st.Normalize()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sdk.SetContext(ctx)
	where := fmt.Sprintf("%s/%s@%s", s.o.Owner, s.o.Repo, st.Commit)
	var latest *sdk.Status
	opts := sdk.ListStatusesOption{ListOptions: sdk.ListOptions{Page: 1, PageSize: pageSize}}
	for {
		page, resp, err := s.sdk.ListStatuses(s.o.Owner, s.o.Repo, st.Commit, opts)
		if err != nil {
			return fail("list the statuses of "+where, resp, err, s.o.Token)
		}
		for _, cs := range page {
			if cs.Context == st.Context && (latest == nil || cs.ID > latest.ID) {
				latest = cs
			}
		}
		if len(page) < opts.PageSize {
			break
		}
		opts.Page++
	}
	if latest != nil && string(latest.State) == string(st.State) && latest.Description == st.Description {
		return nil
	}
	_, resp, err := s.sdk.CreateStatus(s.o.Owner, s.o.Repo, st.Commit, sdk.CreateStatusOption{
		State: sdk.StatusState(st.State), TargetURL: st.TargetURL, Description: st.Description, Context: st.Context})
	if err != nil {
		return fail(fmt.Sprintf("set status %q on %s", st.Context, where), resp, err, s.o.Token)
	}
	return nil
}
