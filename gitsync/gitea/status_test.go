package gitea_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gitea"
	giteaserver "github.com/ballast-dev/ballast/test/gitea"
)

// TestSetStatusOnRealGitea sets commit statuses on a real Gitea: one per change of
// state or description, none when unchanged, other contexts untouched, and a wrong
// token refused without showing it.
func TestSetStatusOnRealGitea(t *testing.T) {
	ctx := context.Background()
	srv := giteaserver.Start(t)
	token := srv.CreateUser(t, "ballast-bot")
	c := srv.Client(t, token)
	if _, _, err := c.CreateRepo(sdk.CreateRepoOption{Name: "policies", DefaultBranch: "main", AutoInit: true, Readme: "Default"}); err != nil {
		t.Fatal(err)
	}
	branch, _, err := c.GetRepoBranch("ballast-bot", "policies", "main")
	if err != nil {
		t.Fatal(err)
	}
	sha := branch.Commit.ID

	s, err := gitea.NewStatusSetter(gitea.Options{URL: srv.URL, Owner: "ballast-bot", Repo: "policies", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	set := func(st gitsync.CommitStatus) {
		t.Helper()
		if err := s.SetStatus(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	st := gitsync.CommitStatus{Commit: sha, Context: "ballast/prod", State: gitsync.CommitStatePending, Description: "syncing"}
	set(st)
	set(st)
	st.State, st.Description, st.TargetURL = gitsync.CommitStateSuccess, "applied 3 objects", "http://example.com/prod"
	set(st)
	set(st)
	set(gitsync.CommitStatus{Commit: sha, Context: "ci/build", State: gitsync.CommitStateSuccess, Description: "built"})
	set(st)
	st.State, st.Description = gitsync.CommitStateFailure, "a.yaml:3: unknown field"
	set(st)
	set(st)

	all, _, err := c.ListStatuses("ballast-bot", "policies", sha, sdk.ListStatusesOption{ListOptions: sdk.ListOptions{PageSize: 50}})
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, g := range all {
		summary = append(summary, fmt.Sprintf("%d %s=%s:%s", g.ID, g.Context, g.State, g.Description))
	}
	if len(all) != 4 {
		t.Errorf("statuses = %v, want 4", summary)
	}
	combined, _, err := c.GetCombinedStatus("ballast-bot", "policies", sha)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range combined.Statuses {
		if g.Context == "ballast/prod" && (g.State != sdk.StatusFailure || g.Description != st.Description) {
			t.Errorf("latest ballast/prod status = %s %q", g.State, g.Description)
		}
	}

	bad, err := gitea.NewStatusSetter(gitea.Options{URL: srv.URL, Owner: "ballast-bot", Repo: "policies", Token: "wrong-" + token})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.SetStatus(ctx, st)
	if !gitsync.IsForbidden(err) || strings.Contains(err.Error(), token) {
		t.Errorf("SetStatus with a wrong token = %v", err)
	}
}
