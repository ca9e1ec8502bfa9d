package gitlab_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gitlab"
	"github.com/ballast-dev/ballast/gitsync/gitlab/gitlabtest"
)

const token = "glpat-s3cr3tT0ken"

func TestStickyNoteAcrossPages(t *testing.T) {
	ctx := context.Background()
	srv := gitlabtest.NewServer(t, token, "project_42_bot")
	srv.AddProject(42, "platform/policies")
	for i := range 120 {
		srv.Add("42", 3, "alice", fmt.Sprintf("note %d", i), i%10 == 0)
	}
	stamp := gitsync.Stamp{Commit: strings.Repeat("a", 40), CommitTime: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Run: 10}
	srv.Add("42", 3, "mallory", gitsync.Marker("ballast-plan", stamp)+"\nfake", false)
	mine := srv.Add("42", 3, "project_42_bot", gitsync.Marker("ballast-plan", stamp)+"\nold plan", false)

	for _, project := range []string{"42", "platform/policies"} {
		c, err := gitlab.New(gitlab.Options{APIURL: srv.URL, Project: project, MergeRequest: 3, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		comments, err := c.List(ctx)
		if err != nil || len(comments) != 110 {
			t.Fatalf("List(%s) = %d notes, %v; want 110 (system notes left out)", project, len(comments), err)
		}
		if last := comments[109]; last.ID != mine || last.Author != "project_42_bot" {
			t.Errorf("last note = %+v", last)
		}
	}

	c, err := gitlab.New(gitlab.Options{APIURL: srv.URL + "/api/v4/", Project: "platform/policies", MergeRequest: 3, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	newer := gitsync.Stamp{Commit: strings.Repeat("b", 40), CommitTime: stamp.CommitTime.Add(time.Hour), Run: 11}
	res, err := gitsync.Upsert(ctx, c, gitsync.Sticky{Key: "ballast-plan", Body: "new plan", Stamp: newer})
	if err != nil || res.Outcome != gitsync.Updated || res.Comment.ID != mine {
		t.Fatalf("Upsert = %+v, %v", res, err)
	}
	var pages []string
	for _, r := range srv.Requests() {
		if r.Method == "GET" && strings.HasSuffix(r.Path, "/notes") {
			pages = append(pages, r.Query)
		}
	}
	if n := len(pages); n < 2 || !strings.Contains(pages[n-1], "page=2") || !strings.Contains(pages[n-1], "sort=asc") {
		t.Errorf("list requests = %v, want page 2 in ascending order", pages)
	}
	res, err = gitsync.Upsert(ctx, c, gitsync.Sticky{Key: "ballast-plan", Body: "new plan", Stamp: newer})
	if err != nil || res.Outcome != gitsync.Unchanged {
		t.Errorf("second Upsert = %v, %v", res.Outcome, err)
	}
	// The run of the older commit, finishing late, leaves the newer plan alone.
	res, err = gitsync.Upsert(ctx, c, gitsync.Sticky{Key: "ballast-plan", Body: "old plan again", Stamp: stamp})
	if err != nil || res.Outcome != gitsync.Superseded {
		t.Errorf("older Upsert = %v, %v", res.Outcome, err)
	}
	notes := srv.Notes("42", 3)
	if len(notes) != 122 || notes[121].Edits != 1 || !strings.HasSuffix(notes[121].Body, "\nnew plan") || !strings.HasSuffix(notes[120].Body, "\nfake") {
		t.Errorf("notes: %d, mine edited %d times: %q", len(notes), notes[121].Edits, notes[121].Body)
	}
}

func TestErrorsHideTheToken(t *testing.T) {
	ctx := context.Background()
	srv := gitlabtest.NewServer(t, token, "bot")
	srv.EchoToken = true
	bad, err := gitlab.New(gitlab.Options{APIURL: srv.URL, Project: "1", MergeRequest: 1, Token: token + "-wrong"})
	if err != nil {
		t.Fatal(err)
	}
	good, err := gitlab.New(gitlab.Options{APIURL: srv.URL, Project: "1", MergeRequest: 1, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	_, err1 := bad.Login(ctx)
	_, err2 := bad.Create(ctx, "x")
	_, err3 := good.Update(ctx, 77, "x")
	for i, err := range []error{err1, err2, err3} {
		if err == nil || strings.Contains(err.Error(), token) {
			t.Errorf("error = %v: want an error without the token", err)
		}
		// The client quotes the message of 401s (which echoed the token) but not of 404s.
		if i < 2 && !strings.Contains(err.Error(), "[REDACTED]") {
			t.Errorf("error = %v: want the echoed token redacted", err)
		}
	}
	if !gitsync.IsForbidden(err1) || gitsync.IsForbidden(err3) {
		t.Errorf("IsForbidden: %v, %v", gitsync.IsForbidden(err1), gitsync.IsForbidden(err3))
	}
	if _, err := gitlab.New(gitlab.Options{Project: "1", MergeRequest: 1}); err == nil {
		t.Error("New without a token succeeded")
	}
}
