package github_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/github"
	"github.com/ballast-dev/ballast/gitsync/github/githubtest"
)

func TestSetStatus(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.NewServer(t, "bot-token", "ballast-bot")
	s, err := github.NewStatusSetter(github.Options{APIURL: srv.URL, Owner: "acme", Repo: "policies", Token: "bot-token"})
	if err != nil {
		t.Fatal(err)
	}
	sha := strings.Repeat("a1", 20)
	st := gitsync.CommitStatus{Commit: sha, Context: "ballast/prod", State: gitsync.CommitStatePending, Description: "syncing"}
	set := func(st gitsync.CommitStatus) {
		t.Helper()
		if err := s.SetStatus(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	set(st)
	set(st) // unchanged: no second status
	st.State, st.Description, st.TargetURL = gitsync.CommitStateSuccess, "applied 3 objects", "https://example.com/prod"
	set(st)
	set(st)
	// Another context in between does not hide ours.
	set(gitsync.CommitStatus{Commit: sha, Context: "ci/build", State: gitsync.CommitStateSuccess})
	set(st)
	st.State, st.Description = gitsync.CommitStateFailure, strings.Repeat("x", 200)
	set(st)
	set(st)

	got := srv.Statuses("acme", "policies", sha)
	var summary []string
	for _, g := range got {
		summary = append(summary, fmt.Sprintf("%s=%s:%d", g.Context, g.State, len([]rune(g.Description))))
	}
	want := []string{"ballast/prod=pending:7", "ballast/prod=success:17", "ci/build=success:0", "ballast/prod=failure:140"}
	if strings.Join(summary, " ") != strings.Join(want, " ") {
		t.Errorf("statuses = %v, want %v", summary, want)
	}
	if got[1].TargetURL != "https://example.com/prod" || got[1].Login != "ballast-bot" {
		t.Errorf("status = %+v", got[1])
	}
}

func TestSetStatusPagesAndErrors(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.NewServer(t, "bot-token", "ballast-bot")
	srv.EchoAuthorization = true
	s, err := github.NewStatusSetter(github.Options{APIURL: srv.URL, Owner: "acme", Repo: "policies", Token: "bot-token"})
	if err != nil {
		t.Fatal(err)
	}
	sha := strings.Repeat("b2", 20)
	if err := s.SetStatus(ctx, gitsync.CommitStatus{Commit: sha, Context: "ballast/prod", State: gitsync.CommitStateSuccess, Description: "ok"}); err != nil {
		t.Fatal(err)
	}
	// 150 newer statuses of other contexts push ours to the second page.
	for i := range 150 {
		if err := s.SetStatus(ctx, gitsync.CommitStatus{Commit: sha, Context: fmt.Sprintf("other/%d", i), State: gitsync.CommitStateSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetStatus(ctx, gitsync.CommitStatus{Commit: sha, Context: "ballast/prod", State: gitsync.CommitStateSuccess, Description: "ok"}); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Statuses("acme", "policies", sha)); n != 151 {
		t.Errorf("%d statuses, want 151", n)
	}
	if err := s.SetStatus(ctx, gitsync.CommitStatus{Commit: sha, Context: "c", State: "bogus"}); err == nil {
		t.Error("an unknown state was accepted")
	}

	bad, err := github.NewStatusSetter(github.Options{APIURL: srv.URL, Owner: "acme", Repo: "policies", Token: "wrong-token"})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.SetStatus(ctx, gitsync.CommitStatus{Commit: sha, Context: "ballast/prod", State: gitsync.CommitStateSuccess})
	if !gitsync.IsForbidden(err) || strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("err = %v, want forbidden without the token", err)
	}
}
