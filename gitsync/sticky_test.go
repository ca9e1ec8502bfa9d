package gitsync_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/fake"
)

var (
	t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	a  = gitsync.Stamp{Commit: strings.Repeat("a", 40), CommitTime: t0, Run: 1}
	b  = gitsync.Stamp{Commit: strings.Repeat("b", 40), CommitTime: t0.Add(time.Hour), Run: 2}
)

func methods(calls []fake.Call) string {
	var m []string
	for _, c := range calls {
		m = append(m, c.Method)
	}
	return strings.Join(m, ",")
}

func TestUpsert(t *testing.T) {
	ctx := context.Background()
	pr := fake.New("ballast-bot")
	// Somebody else quoting the marker must never be edited.
	other := pr.Add("alice", gitsync.Marker("ballast-plan", b)+"\nI copied the bot's comment")
	pr.Add("ballast-bot", "an unrelated comment of the bot")
	pr.Add("ballast-bot", gitsync.Marker("ballast-plan:prod-eu", b)+"\nanother key")

	res, err := gitsync.Upsert(ctx, pr, gitsync.Sticky{Key: "ballast-plan", Body: "plan 1", Stamp: a})
	if err != nil || res.Outcome != gitsync.Created {
		t.Fatalf("first run: %v, %v", res.Outcome, err)
	}
	if got := methods(pr.Calls()); got != "Login,List,Create" {
		t.Errorf("first run calls = %s", got)
	}
	id := res.Comment.ID

	pr.Reset()
	res, err = gitsync.Upsert(ctx, pr, gitsync.Sticky{Key: "ballast-plan", Author: "Ballast-Bot", Body: "plan 1\n", Stamp: a})
	if err != nil || res.Outcome != gitsync.Unchanged || res.Comment.ID != id {
		t.Fatalf("same body: %v %d, %v", res.Outcome, res.Comment.ID, err)
	}
	if got := methods(pr.Calls()); got != "List" {
		t.Errorf("unchanged run calls = %s, want List only", got)
	}

	res, err = gitsync.Upsert(ctx, pr, gitsync.Sticky{Key: "ballast-plan", Author: "ballast-bot", Body: "plan 2", Stamp: b})
	if err != nil || res.Outcome != gitsync.Updated || res.Comment.ID != id {
		t.Fatalf("newer commit: %v %d, %v", res.Outcome, res.Comment.ID, err)
	}

	// The run for the older commit finishes last: it must not overwrite.
	res, err = gitsync.Upsert(ctx, pr, gitsync.Sticky{Key: "ballast-plan", Author: "ballast-bot", Body: "plan 1", Stamp: a})
	if err != nil || res.Outcome != gitsync.Superseded || !strings.Contains(res.Reason, "after this run's commit") {
		t.Fatalf("older commit: %v (%s), %v", res.Outcome, res.Reason, err)
	}
	var mine int
	for _, c := range pr.Comments() {
		if c.ID == other && !strings.Contains(c.Body, "I copied") {
			t.Errorf("someone else's comment was edited: %q", c.Body)
		}
		if c.ID == id {
			mine++
			if !strings.HasSuffix(c.Body, "\nplan 2") || !strings.HasPrefix(c.Body, gitsync.Marker("ballast-plan", b)) {
				t.Errorf("comment = %q", c.Body)
			}
		}
	}
	if len(pr.Comments()) != 4 || mine != 1 {
		t.Errorf("comments = %d", len(pr.Comments()))
	}
}

func TestUpsertErrors(t *testing.T) {
	ctx := context.Background()
	pr := fake.New("bot")
	if _, err := gitsync.Upsert(ctx, pr, gitsync.Sticky{Key: "bad key -->", Body: "x"}); err == nil {
		t.Error("bad key accepted")
	}
	pr.NextError = &gitsync.ForbiddenError{Op: "get the authenticated user", Err: errors.New("403")}
	_, err := gitsync.Upsert(ctx, pr, gitsync.Sticky{Key: "k", Body: "x"})
	if !gitsync.IsForbidden(err) {
		t.Errorf("err = %v, want a ForbiddenError", err)
	}
	pr.Reset()
	pr.MaxLength = 200
	res, err := gitsync.Upsert(ctx, pr, gitsync.Sticky{Key: "k", Author: "bot", Body: strings.Repeat("line of text\n", 100), Stamp: a})
	if err != nil || res.Outcome != gitsync.Created {
		t.Fatalf("long body: %v, %v", res.Outcome, err)
	}
	if body := pr.Comments()[0].Body; len(body) > 200 || !strings.Contains(body, "cut here") {
		t.Errorf("long body not cut: %d bytes %q", len(body), body)
	}
}

func TestNewer(t *testing.T) {
	ctx := context.Background()
	mb := func(base string) func(context.Context, string, string) (string, error) {
		return func(context.Context, string, string) (string, error) { return base, nil }
	}
	unknown := func(context.Context, string, string) (string, error) {
		return "", &gitsync.NotFoundError{What: "merge base"}
	}
	late := gitsync.Stamp{Commit: a.Commit, CommitTime: t0, Run: 7}
	for _, tc := range []struct {
		name           string
		existing, ours gitsync.Stamp
		mergeBase      func(context.Context, string, string) (string, error)
		newer          bool
		reasonFragment string
	}{
		{name: "descendant wins over an earlier time", existing: b, ours: gitsync.Stamp{Commit: a.Commit, CommitTime: t0.Add(2 * time.Hour)}, mergeBase: mb(a.Commit), newer: true, reasonFragment: "descends"},
		{name: "ours descends", existing: b, ours: a, mergeBase: mb(b.Commit)},
		{name: "diverged: later commit time wins", existing: b, ours: a, mergeBase: mb(strings.Repeat("c", 40)), newer: true, reasonFragment: "committed at"},
		{name: "unknown ancestry: time", existing: a, ours: b, mergeBase: unknown},
		{name: "same commit: higher run wins", existing: late, ours: a, newer: true, reasonFragment: "run 7"},
		{name: "same commit: rerun replaces", existing: a, ours: late},
		{name: "same commit, no run numbers", existing: gitsync.Stamp{Commit: a.Commit}, ours: gitsync.Stamp{Commit: a.Commit}},
		{name: "stamp without commit", existing: gitsync.Stamp{Run: 99}, ours: a},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newer, reason := gitsync.Newer(ctx, tc.existing, tc.ours, tc.mergeBase)
			if newer != tc.newer || !strings.Contains(reason, tc.reasonFragment) {
				t.Errorf("Newer = %v (%q), want %v (%q)", newer, reason, tc.newer, tc.reasonFragment)
			}
		})
	}
}

func TestMarker(t *testing.T) {
	s := gitsync.Stamp{Commit: a.Commit, CommitTime: t0.In(time.FixedZone("CET", 3600)), Run: 42}
	m := gitsync.Marker("ballast-plan", s)
	if want := "<!-- ballast-plan commit=" + a.Commit + " time=2026-11-23T10:00:00Z run=42 -->"; m != want {
		t.Errorf("Marker = %q, want %q", m, want)
	}
	got, ok := gitsync.ParseMarker("ballast-plan", "text\r\n"+m+"\r\nmore")
	if !ok || got.Commit != s.Commit || !got.CommitTime.Equal(t0) || got.Run != 42 {
		t.Errorf("ParseMarker = %+v, %v", got, ok)
	}
	if _, ok := gitsync.ParseMarker("ballast-plan", gitsync.Marker("ballast-plan:prod", s)); ok {
		t.Error("a longer key matched")
	}
	if _, ok := gitsync.ParseMarker("ballast-plan", "see `<!-- ballast-plan commit=x time= run=0 -->` in the docs"); ok {
		t.Error("a quoted marker matched")
	}
}

func TestTruncate(t *testing.T) {
	if got := gitsync.Truncate("short", 10); got != "short" {
		t.Errorf("Truncate = %q", got)
	}
	long := strings.Repeat("€", 100)
	got := gitsync.Truncate(long, 80)
	if len(got) > 80 || !utf8.ValidString(got) {
		t.Errorf("Truncate(no newline) = %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
}

func TestUpsertShowsNoCredential(t *testing.T) {
	pr := fake.New("ballast-bot")
	res, err := gitsync.Upsert(context.Background(), pr, gitsync.Sticky{Key: "ballast-plan", Stamp: a,
		Body: "failed to read https://bot:p#ss/w0rd@git.example.com/o/r.git with Authorization: Bearer abcdefgh1234"})
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"p#ss/w0rd", "abcdefgh1234"} {
		if strings.Contains(res.Comment.Body, secret) {
			t.Errorf("the comment shows %q: %s", secret, res.Comment.Body)
		}
	}
	if !strings.Contains(res.Comment.Body, "git.example.com/o/r.git") {
		t.Errorf("the comment lost its text: %s", res.Comment.Body)
	}
}
