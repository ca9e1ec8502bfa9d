package gitlab_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gitlab"
	"github.com/ballast-dev/ballast/gitsync/gitlab/gitlabtest"
)

func TestSetStatus(t *testing.T) {
	ctx := context.Background()
	srv := gitlabtest.NewServer(t, "bot-token", "ballast-bot")
	srv.AddProject(42, "acme/policies")
	s, err := gitlab.NewStatusSetter(gitlab.Options{APIURL: srv.URL + "/api/v4", Project: "acme/policies", Token: "bot-token"})
	if err != nil {
		t.Fatal(err)
	}
	sha := strings.Repeat("c3", 20)
	set := func(st gitsync.CommitStatus) {
		t.Helper()
		if err := s.SetStatus(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	st := gitsync.CommitStatus{Commit: sha, Context: "ballast/prod", State: gitsync.CommitStatePending, Description: "syncing"}
	set(st)
	set(st)
	// GitLab refuses pending -> pending; a new description alone is kept as is.
	st.Description = "still syncing"
	set(st)
	st.State, st.Description, st.TargetURL = gitsync.CommitStateSuccess, "applied", "https://example.com/prod"
	set(st)
	set(st)
	set(gitsync.CommitStatus{Commit: sha, Context: "ci/build", State: gitsync.CommitStateSuccess})
	set(st)
	st.State, st.Description = gitsync.CommitStateError, "unreachable"
	set(st)
	set(st)
	st.State = gitsync.CommitStateFailure // also "failed" on GitLab: no new status
	set(st)

	var summary []string
	for _, g := range srv.Statuses("42", sha) {
		summary = append(summary, fmt.Sprintf("%s=%s:%s", g.Name, g.State, g.Description))
	}
	want := []string{"ballast/prod=pending:syncing", "ballast/prod=success:applied", "ci/build=success:", "ballast/prod=failed:unreachable"}
	if strings.Join(summary, " ") != strings.Join(want, " ") {
		t.Errorf("statuses = %v, want %v", summary, want)
	}

	bad, err := gitlab.NewStatusSetter(gitlab.Options{APIURL: srv.URL, Project: "42", Token: "wrong-token"})
	if err != nil {
		t.Fatal(err)
	}
	srv.EchoToken = true
	err = bad.SetStatus(ctx, st)
	if !gitsync.IsForbidden(err) || strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("err = %v, want forbidden without the token", err)
	}
}
