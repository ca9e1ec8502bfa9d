package app

import (
	"strconv"
	"strings"
	"testing"
	"time"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/ballast-dev/ballast/gitsync"
	giteaserver "github.com/ballast-dev/ballast/test/gitea"
)

// TestPlanCommentGitea runs `ballast plan --comment gitea` against a real Gitea on a
// real pull request: the first run posts the plan, the second leaves it untouched, a
// new commit edits it in place, the late run of an older commit leaves the newer plan
// alone, and another user's comment carrying the marker is never touched.
func TestPlanCommentGitea(t *testing.T) {
	clearCI(t)
	r, c := history(t)
	t.Chdir(r.Dir)
	r.Git("checkout", "-q", "-b", "feature", "v2")
	v2Policy := strings.Replace(strings.Replace(prodPolicy, "consolidateAfter: 5m", "consolidateAfter: 10m", 1), "onDemandPercent: 50", "onDemandPercent: 20", 1)
	cheaper := r.Commit("more spot", map[string]string{"policies/clusters/prod.yaml": strings.Replace(v2Policy, "onDemandPercent: 20", "onDemandPercent: 5", 1)})

	srv := giteaserver.Start(t)
	token := srv.CreateUser(t, "ballast-bot")
	otherToken := srv.CreateUser(t, "mallory")
	srv.CreateRepo(t, token, "policies")
	push := srv.PushURL("ballast-bot", token, "ballast-bot", "policies")
	r.Git("push", "-q", push, "main", "feature")
	pr := srv.CreatePullRequest(t, token, "ballast-bot", "policies", "feature", "main", "More Spot in prod")
	bot, other := srv.Client(t, token), srv.Client(t, otherToken)
	decoy, _, err := other.CreateIssueComment("ballast-bot", "policies", pr, sdk.CreateIssueCommentOption{
		Body: gitsync.Marker("ballast-plan", gitsync.Stamp{Commit: strings.Repeat("f", 40), CommitTime: time.Now()}) + "\nnot the bot's"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GITEA_TOKEN", token)

	plan := func(head string) (int, string, string) {
		code, stdout, stderr := run("plan", "--time", at, "--base", "main", "--head", head, "policies",
			"--comment", "gitea", "--allow-insecure-http", "--api-url", srv.URL, "--repo", "ballast-bot/policies", "--pr", strconv.FormatInt(pr, 10))
		noToken(t, token, stdout, stderr)
		return code, stdout, stderr
	}
	botComments := func() []*sdk.Comment {
		t.Helper()
		all, _, err := bot.ListIssueComments("ballast-bot", "policies", pr, sdk.ListIssueCommentOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var mine []*sdk.Comment
		for _, cm := range all {
			if cm.ID == decoy.ID {
				if cm.Body != decoy.Body {
					t.Errorf("mallory's comment was edited: %q", cm.Body)
				}
				continue
			}
			mine = append(mine, cm)
		}
		if len(all) != len(mine)+1 {
			t.Errorf("mallory's comment is gone")
		}
		return mine
	}

	code, stdout, stderr := plan("feature")
	if code != ExitOK || !strings.Contains(stderr, "plan comment created: "+srv.URL) {
		t.Fatalf("first run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	first := botComments()
	if len(first) != 1 {
		t.Fatalf("%d plan comments after the first run, want 1", len(first))
	}
	body := first[0].Body
	for _, want := range []string{
		"\n**Ballast plan:** prod: 1 object changed, cost $", " → $", "/month (", "Spot share ",
		"| `spec.distribution.onDemandPercent` | `20` | `5` |", "base merge base with main (" + c[2][:7] + ")", "head feature (" + cheaper[:7] + ")",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the comment lacks %q:\n%s", want, body)
		}
	}

	// Gitea keeps times to the second: an edit now would move updated_at.
	time.Sleep(1100 * time.Millisecond)
	if code, _, stderr = plan("feature"); code != ExitOK || !strings.Contains(stderr, "plan comment unchanged") {
		t.Fatalf("second run: exit %d, %s", code, stderr)
	}
	second := botComments()
	if len(second) != 1 || second[0].ID != first[0].ID || !second[0].Updated.Equal(first[0].Updated) || second[0].Body != body {
		t.Fatalf("after the unchanged run: %d comments, updated %v -> %v", len(second), first[0].Updated, second[0].Updated)
	}

	// A new commit on the branch: the same comment is edited.
	newer := r.Commit("batch gets some On-Demand", map[string]string{"policies/rules/batch.yaml": strings.Replace(batchRule, "onDemandPercent: 0", "onDemandPercent: 5", 1)})
	r.Git("push", "-q", push, "feature")
	if code, _, stderr = plan("feature"); code != ExitOK || !strings.Contains(stderr, "plan comment updated") {
		t.Fatalf("third run: exit %d, %s", code, stderr)
	}
	third := botComments()
	if len(third) != 1 || third[0].ID != first[0].ID || !third[0].Updated.After(first[0].Updated) || !strings.Contains(third[0].Body, "head feature ("+newer[:7]+")") {
		t.Fatalf("after a new commit: %d comments, updated %v, body:\n%s", len(third), third[0].Updated, third[0].Body)
	}

	// The run of the previous commit finishes last: it must not overwrite the newer plan.
	if code, _, stderr = plan("feature~1"); code != ExitOK || !strings.Contains(stderr, "plan comment left alone: it describes commit "+newer[:7]) {
		t.Fatalf("older run: exit %d, %s", code, stderr)
	}
	last := botComments()
	if len(last) != 1 || last[0].Body != third[0].Body || !last[0].Updated.Equal(third[0].Updated) {
		t.Errorf("the older run changed the comment:\n%s", last[0].Body)
	}
	t.Logf("the plan comment on Gitea:\n%s", last[0].Body)
}
