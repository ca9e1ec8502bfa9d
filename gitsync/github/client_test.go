package github_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/github"
	"github.com/ballast-dev/ballast/gitsync/github/githubtest"
)

const token = "ghp_s3cr3tT0ken"

func TestStickyCommentAcrossPages(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.NewServer(t, token, "ballast-bot")
	for i := range 130 {
		srv.Add("acme", "policies", 7, "alice", fmt.Sprintf("comment %d", i))
	}
	stamp := gitsync.Stamp{Commit: strings.Repeat("a", 40), CommitTime: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Run: 3}
	// On page 2 with 100 per page; someone else quoting the marker comes first.
	srv.Add("acme", "policies", 7, "mallory", gitsync.Marker("ballast-plan", stamp)+"\nfake")
	mine := srv.Add("acme", "policies", 7, "ballast-bot", gitsync.Marker("ballast-plan", stamp)+"\nold plan")

	c, err := github.New(github.Options{APIURL: srv.URL, Owner: "acme", Repo: "policies", Number: 7, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	if login, err := c.Login(ctx); err != nil || login != "ballast-bot" {
		t.Fatalf("Login = %q, %v", login, err)
	}
	comments, err := c.List(ctx)
	if err != nil || len(comments) != 132 {
		t.Fatalf("List = %d comments, %v", len(comments), err)
	}
	if last := comments[131]; last.ID != mine || last.Author != "ballast-bot" || !strings.HasSuffix(last.Body, "old plan") || last.UpdatedAt.IsZero() {
		t.Errorf("last comment = %+v", last)
	}

	newer := gitsync.Stamp{Commit: strings.Repeat("b", 40), CommitTime: stamp.CommitTime.Add(time.Hour), Run: 4}
	res, err := gitsync.Upsert(ctx, c, gitsync.Sticky{Key: "ballast-plan", Body: "new plan", Stamp: newer})
	if err != nil || res.Outcome != gitsync.Updated || res.Comment.ID != mine {
		t.Fatalf("Upsert = %+v, %v", res, err)
	}
	var pages []string
	for _, r := range srv.Requests() {
		if r.Method == "GET" && strings.HasSuffix(r.Path, "/comments") {
			pages = append(pages, r.Query)
		}
	}
	if len(pages) < 2 || !strings.Contains(pages[1], "page=2") || !strings.Contains(pages[0], "per_page=100") {
		t.Errorf("list requests = %v, want two pages of 100", pages)
	}
	got := srv.Comments("acme", "policies", 7)
	if len(got) != 132 || got[130].Body != gitsync.Marker("ballast-plan", stamp)+"\nfake" || got[131].Edits != 1 {
		t.Errorf("comments after the update: %d, mallory's %q, edits %d", len(got), got[130].Body, got[131].Edits)
	}

	res, err = gitsync.Upsert(ctx, c, gitsync.Sticky{Key: "ballast-plan", Body: "new plan", Stamp: newer})
	if err != nil || res.Outcome != gitsync.Unchanged || srv.Comments("acme", "policies", 7)[131].Edits != 1 {
		t.Errorf("second Upsert = %+v, %v", res.Outcome, err)
	}

	// A body over GitHub's limit is cut, not refused.
	long := strings.Repeat("| a | b |\n", 10000)
	res, err = gitsync.Upsert(ctx, c, gitsync.Sticky{Key: "other-key", Body: long, Stamp: newer})
	if err != nil || res.Outcome != gitsync.Created || len(res.Comment.Body) > github.MaxBodyLength {
		t.Errorf("long Upsert = %v (%d bytes), %v", res.Outcome, len(res.Comment.Body), err)
	}
}

func TestErrorsHideTheToken(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.NewServer(t, token, "ballast-bot")
	srv.EchoAuthorization = true
	srv.UserForbidden = true
	c, err := github.New(github.Options{APIURL: srv.URL + "/api/v3", Owner: "acme", Repo: "policies", Number: 7, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Login(ctx)
	if !gitsync.IsForbidden(err) {
		t.Errorf("Login = %v, want a ForbiddenError", err)
	}
	errs := []error{err}
	_, err = c.Update(ctx, 99, "x")
	errs = append(errs, err)
	bad, err := github.New(github.Options{APIURL: srv.URL, Owner: "acme", Repo: "policies", Number: 7, Token: "wrong-" + token})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.List(ctx)
	if !gitsync.IsForbidden(err) {
		t.Errorf("List with a wrong token = %v, want a ForbiddenError", err)
	}
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil || strings.Contains(err.Error(), token) {
			t.Errorf("error = %v: want an error without the token", err)
		}
		if err != nil && !strings.Contains(err.Error(), "[REDACTED]") {
			t.Errorf("error = %v: the server echoed the token, expected [REDACTED]", err)
		}
	}
	for _, o := range []github.Options{{Owner: "a", Repo: "b", Token: token}, {Owner: "a", Repo: "b", Number: 1}} {
		if _, err := github.New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}
