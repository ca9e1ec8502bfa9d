package gitea_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gitea"
	giteaserver "github.com/ballast-dev/ballast/test/gitea"
)

// TestStickyCommentOnRealGitea runs the sticky-comment protocol against a real Gitea:
// one comment created, left alone when unchanged (its updated_at does not move), edited
// in place for a newer commit, kept when an older run finishes late, and another user's
// comment carrying the marker never touched.
func TestStickyCommentOnRealGitea(t *testing.T) {
	ctx := context.Background()
	srv := giteaserver.Start(t)
	botToken := srv.CreateUser(t, "ballast-bot")
	otherToken := srv.CreateUser(t, "mallory")
	pr := srv.RepoWithPullRequest(t, botToken, "ballast-bot", "policies", "feature", "policies/prod.yaml", "x: 1\n")

	older := gitsync.Stamp{Commit: strings.Repeat("a", 40), CommitTime: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), Run: 1}
	newer := gitsync.Stamp{Commit: strings.Repeat("b", 40), CommitTime: older.CommitTime.Add(time.Hour), Run: 2}
	other, _, err := srv.Client(t, otherToken).CreateIssueComment("ballast-bot", "policies", pr,
		sdkComment(gitsync.Marker("ballast-plan", newer)+"\nnot the bot"))
	if err != nil {
		t.Fatal(err)
	}

	c, err := gitea.New(gitea.Options{URL: srv.URL + "/", Owner: "ballast-bot", Repo: "policies", Number: pr, Token: botToken})
	if err != nil {
		t.Fatal(err)
	}
	if login, err := c.Login(ctx); err != nil || login != "ballast-bot" {
		t.Fatalf("Login = %q, %v", login, err)
	}
	res, err := gitsync.Upsert(ctx, c, gitsync.Sticky{Key: "ballast-plan", Body: "plan of a", Stamp: older})
	if err != nil || res.Outcome != gitsync.Created {
		t.Fatalf("first Upsert = %v, %v", res.Outcome, err)
	}
	id := res.Comment.ID
	if res.Comment.URL == "" || res.Comment.Author != "ballast-bot" {
		t.Errorf("created comment = %+v", res.Comment)
	}
	// Gitea stores times to the second: wait so that an edit would show.
	time.Sleep(1100 * time.Millisecond)
	res, err = gitsync.Upsert(ctx, c, gitsync.Sticky{Key: "ballast-plan", Body: "plan of a", Stamp: older})
	if err != nil || res.Outcome != gitsync.Unchanged || res.Comment.ID != id {
		t.Fatalf("unchanged Upsert = %v, %v", res.Outcome, err)
	}
	first := getComment(t, srv, botToken, id)

	res, err = gitsync.Upsert(ctx, c, gitsync.Sticky{Key: "ballast-plan", Body: "plan of b", Stamp: newer})
	if err != nil || res.Outcome != gitsync.Updated || res.Comment.ID != id {
		t.Fatalf("newer Upsert = %v, %v", res.Outcome, err)
	}
	second := getComment(t, srv, botToken, id)
	if !second.Updated.After(first.Updated) || !first.Updated.Equal(first.Created) {
		t.Errorf("updated_at: created %v, after the unchanged run %v, after the edit %v", first.Created, first.Updated, second.Updated)
	}
	res, err = gitsync.Upsert(ctx, c, gitsync.Sticky{Key: "ballast-plan", Body: "plan of a", Stamp: older})
	if err != nil || res.Outcome != gitsync.Superseded {
		t.Fatalf("older Upsert = %v, %v", res.Outcome, err)
	}

	comments, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(comments) != 2 {
		t.Fatalf("%d comments, want mallory's and the bot's", len(comments))
	}
	for _, cm := range comments {
		switch cm.ID {
		case other.ID:
			if !strings.HasSuffix(cm.Body, "not the bot") {
				t.Errorf("mallory's comment was changed: %q", cm.Body)
			}
		case id:
			if cm.Body != gitsync.Marker("ballast-plan", newer)+"\nplan of b" {
				t.Errorf("the bot's comment = %q", cm.Body)
			}
		default:
			t.Errorf("unexpected comment %+v", cm)
		}
	}

	bad, err := gitea.New(gitea.Options{URL: srv.URL, Owner: "ballast-bot", Repo: "policies", Number: pr, Token: "wrong-" + botToken})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.List(ctx)
	if !gitsync.IsForbidden(err) || strings.Contains(err.Error(), botToken) {
		t.Errorf("List with a wrong token = %v", err)
	}
}
