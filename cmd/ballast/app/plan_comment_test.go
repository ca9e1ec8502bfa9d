package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/github/githubtest"
	"github.com/ballast-dev/ballast/gitsync/gitlab/gitlabtest"
	"github.com/ballast-dev/ballast/test/gitserver"
)

const (
	githubToken = "ghs_planT0kenN0tToPrint"
	gitlabToken = "glpat-planT0kenN0tToPrint"
)

// noToken fails the test when a token shows in any output.
func noToken(t *testing.T, token string, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		if strings.Contains(o, token) {
			t.Errorf("a token was printed:\n%s", o)
		}
	}
}

// TestPlanCommentGitHub runs plan --comment github as a pull_request workflow would:
// the repository, pull request, API and run number come from the Actions environment;
// the bot's earlier comment is on the second page of comments.
func TestPlanCommentGitHub(t *testing.T) {
	clearCI(t)
	r, c := history(t)
	t.Chdir(r.Dir)
	srv := githubtest.NewServer(t, githubToken, "ballast-bot")
	for i := range 105 {
		srv.Add("acme", "policies", 12, "alice", fmt.Sprintf("review comment %d", i))
	}
	old := gitsync.Stamp{Commit: c[0], Run: 1}
	mine := srv.Add("acme", "policies", 12, "ballast-bot", gitsync.Marker("ballast-plan", old)+"\nan old plan")
	event := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(event, []byte(`{"action":"synchronize","number":12,"pull_request":{"number":12}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"GITHUB_TOKEN": githubToken, "GITHUB_REPOSITORY": "acme/policies",
		"GITHUB_EVENT_PATH": event, "GITHUB_API_URL": srv.URL, "GITHUB_RUN_NUMBER": "7"} {
		t.Setenv(k, v)
	}

	plan := func(head string) (int, string, string) {
		code, stdout, stderr := run("plan", "--time", at, "--base", "v1", "--head", head, "--comment", "github", "--allow-insecure-http", "policies")
		noToken(t, githubToken, stdout, stderr)
		return code, stdout, stderr
	}
	code, stdout, stderr := plan("v2")
	if code != ExitOK || !strings.Contains(stderr, "plan comment updated: ") || !strings.HasPrefix(stdout, "**Ballast plan:** prod: 5 objects differ") {
		t.Fatalf("exit %d\nstdout:\n%.300s\nstderr:\n%s", code, stdout, stderr)
	}
	comments := srv.Comments("acme", "policies", 12)
	if len(comments) != 106 || comments[105].ID != mine || comments[105].Edits != 1 {
		t.Fatalf("%d comments; the bot's: %+v", len(comments), comments[105])
	}
	body := comments[105].Body
	if want := gitsync.Marker("ballast-plan", gitsync.Stamp{Commit: c[2], CommitTime: commitTime(t, r, c[2]), Run: 7}) + "\n" + stdout; body != want {
		t.Errorf("comment body:\n%s\nwant:\n%s", body, want)
	}

	// The same plan again: nothing written.
	if code, _, stderr = plan("v2"); code != ExitOK || !strings.Contains(stderr, "plan comment unchanged") {
		t.Errorf("second run: exit %d, %s", code, stderr)
	}
	// The run of an older head, finishing last, leaves the newer plan alone.
	if code, _, stderr = plan("HEAD~2"); code != ExitOK || !strings.Contains(stderr, "plan comment left alone: it describes commit "+c[2][:7]+", which descends from this run's commit "+c[1][:7]) {
		t.Errorf("older head: exit %d, %s", code, stderr)
	}
	if got := srv.Comments("acme", "policies", 12); len(got) != 106 || got[105].Edits != 1 || got[105].Body != body {
		t.Errorf("the comment changed: %d comments, %d edits", len(got), got[105].Edits)
	}
}

// TestPlanCommentGitHubActionsToken covers the job token, which may not call GET /user:
// the plan is written as github-actions[bot].
func TestPlanCommentGitHubActionsToken(t *testing.T) {
	clearCI(t)
	r, _ := history(t)
	t.Chdir(r.Dir)
	srv := githubtest.NewServer(t, githubToken, "github-actions[bot]")
	srv.UserForbidden = true
	srv.Add("acme", "policies", 3, "alice", gitsync.Marker("ballast-plan", gitsync.Stamp{})+"\nalice's copy")
	for k, v := range map[string]string{"GITHUB_TOKEN": githubToken, "GITHUB_REPOSITORY": "acme/policies",
		"GITHUB_REF": "refs/pull/3/merge", "GITHUB_API_URL": srv.URL} {
		t.Setenv(k, v)
	}
	code, stdout, stderr := run("plan", "--time", at, "--head", "v2", "--comment", "github", "--allow-insecure-http", "policies")
	noToken(t, githubToken, stdout, stderr)
	if code != ExitError || !strings.Contains(stderr, "permission denied") {
		t.Errorf("outside Actions: exit %d, %s", code, stderr)
	}
	t.Setenv("GITHUB_ACTIONS", "true")
	for range 2 {
		code, stdout, stderr = run("plan", "--time", at, "--head", "v2", "--comment", "github", "--allow-insecure-http", "policies")
		noToken(t, githubToken, stdout, stderr)
		if code != ExitOK {
			t.Fatalf("exit %d, %s", code, stderr)
		}
	}
	got := srv.Comments("acme", "policies", 3)
	if len(got) != 2 || got[0].Body != gitsync.Marker("ballast-plan", gitsync.Stamp{})+"\nalice's copy" || got[1].Login != "github-actions[bot]" || got[1].Edits != 0 {
		t.Errorf("comments = %+v", got)
	}
}

// TestPlanCommentGitLab runs plan --comment gitlab in a merge request pipeline: project,
// merge request, API, base and pipeline come from GitLab CI's variables.
func TestPlanCommentGitLab(t *testing.T) {
	clearCI(t)
	r, c := history(t)
	t.Chdir(r.Dir)
	srv := gitlabtest.NewServer(t, gitlabToken, "project_9_bot")
	srv.AddProject(9, "platform/policies")
	for i := range 150 {
		srv.Add("9", 4, "bob", fmt.Sprintf("note %d", i), i%7 == 0)
	}
	for k, v := range map[string]string{"GITLAB_TOKEN": gitlabToken, "CI_PROJECT_ID": "9", "CI_MERGE_REQUEST_IID": "4",
		"CI_API_V4_URL": srv.URL + "/api/v4", "CI_MERGE_REQUEST_DIFF_BASE_SHA": c[0], "CI_PIPELINE_IID": "31"} {
		t.Setenv(k, v)
	}
	r.Git("checkout", "-q", c[2])
	for i := range 2 {
		code, stdout, stderr := run("plan", "--time", at, "--comment", "gitlab", "--allow-insecure-http", "policies")
		noToken(t, gitlabToken, stdout, stderr)
		want := []string{"plan comment created", "plan comment unchanged"}[i]
		if code != ExitOK || !strings.Contains(stderr, want) {
			t.Fatalf("run %d: exit %d, want %q\n%s", i, code, want, stderr)
		}
	}
	notes := srv.Notes("platform/policies", 4)
	mine := notes[len(notes)-1]
	if len(notes) != 151 || mine.Username != "project_9_bot" || mine.Edits != 0 ||
		!strings.HasPrefix(mine.Body, gitsync.Marker("ballast-plan", gitsync.Stamp{Commit: c[2], CommitTime: commitTime(t, r, c[2]), Run: 31})+"\n**Ballast plan:** prod: 5 objects differ") {
		t.Errorf("%d notes; mine: %+v", len(notes), mine)
	}
	var sawPage2 bool
	for _, req := range srv.Requests() {
		sawPage2 = sawPage2 || (req.Method == "GET" && strings.Contains(req.Query, "page=2"))
	}
	if !sawPage2 {
		t.Error("the notes were not read past page 1")
	}

	// --cluster plans keep a comment of their own.
	code, _, stderr := run("plan", "--time", at, "--cluster", "prod", "--comment", "gitlab", "--allow-insecure-http", "policies")
	if code != ExitOK || !strings.Contains(stderr, "plan comment created") || len(srv.Notes("9", 4)) != 152 {
		t.Errorf("--cluster: exit %d, %s", code, stderr)
	}
	if _, ok := gitsync.ParseMarker("ballast-plan:prod", srv.Notes("9", 4)[151].Body); !ok {
		t.Error("the --cluster comment lacks its own marker")
	}
}

func commitTime(t *testing.T, r *gitserver.WorkTree, commit string) time.Time {
	t.Helper()
	return parseTime(t, r.Git("show", "-s", "--format=%cI", commit))
}

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestPullRequestFromEnv(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int64
	}{
		{"pull_request event", map[string]string{"GITHUB_EVENT_PATH": write("pr.json", `{"pull_request":{"number":42}}`)}, 42},
		{"comment on a pull request", map[string]string{"GITHUB_EVENT_PATH": write("ic.json", `{"issue":{"number":7,"pull_request":{"url":"x"}}}`)}, 7},
		{"comment on an issue", map[string]string{"GITHUB_EVENT_PATH": write("issue.json", `{"issue":{"number":7}}`)}, 0},
		{"merge ref", map[string]string{"GITHUB_REF": "refs/pull/19/merge"}, 19},
		{"head ref (Gitea)", map[string]string{"GITHUB_REF": "refs/pull/3/head"}, 3},
		{"a branch push", map[string]string{"GITHUB_REF": "refs/heads/main"}, 0},
		{"unreadable event, ref", map[string]string{"GITHUB_EVENT_PATH": filepath.Join(dir, "missing"), "GITHUB_REF": "refs/pull/5/merge"}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pullRequestFromEnv(func(k string) string { return tc.env[k] }); got != tc.want {
				t.Errorf("pull request = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestNewCommenterNeeds(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		name string
		o    commentOptions
		env  map[string]string
		want string
	}{
		{"github without a token", commentOptions{forge: "github", repo: "a/b", number: 1}, nil, "needs a token in GITHUB_TOKEN"},
		{"github without a number", commentOptions{forge: "github"}, map[string]string{"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "a/b"}, "pull request number"},
		{"github with a bad repository", commentOptions{forge: "github", repo: "ab", number: 1}, map[string]string{"GITHUB_TOKEN": "t"}, "owner/name"},
		{"gitlab outside a merge request pipeline", commentOptions{forge: "gitlab"}, map[string]string{"GITLAB_TOKEN": "t", "CI_PROJECT_ID": "9"}, "merge request pipeline"},
		{"gitea without a server", commentOptions{forge: "gitea", repo: "a/b", number: 1}, map[string]string{"GITEA_TOKEN": "t"}, "server URL"},
		{"gitea in Gitea Actions", commentOptions{forge: "gitea"}, map[string]string{"GITEA_TOKEN": "t", "GITHUB_REPOSITORY": "a/b", "GITHUB_REF": "refs/pull/2/head", "GITHUB_SERVER_URL": "https://gitea.example.com"}, ""},
		{"gitlab in a merge request pipeline", commentOptions{forge: "gitlab"}, map[string]string{"GITLAB_TOKEN": "t", "CI_PROJECT_PATH": "g/p", "CI_MERGE_REQUEST_IID": "4"}, ""},
		// The token would travel unencrypted: refused unless allowed.
		{"github over http", commentOptions{forge: "github", repo: "a/b", number: 1}, map[string]string{"GITHUB_TOKEN": "t", "GITHUB_API_URL": "http://ghe.example.com/api/v3"}, "refusing the forge address http://ghe.example.com/api/v3"},
		{"gitlab over http", commentOptions{forge: "gitlab", apiURL: "http://gitlab.example.com/api/v4"}, map[string]string{"GITLAB_TOKEN": "t", "CI_PROJECT_PATH": "g/p", "CI_MERGE_REQUEST_IID": "4"}, "refusing the forge address"},
		{"gitea over http", commentOptions{forge: "gitea", repo: "a/b", number: 1}, map[string]string{"GITEA_TOKEN": "t", "GITHUB_SERVER_URL": "http://gitea.example.com"}, "refusing the forge address"},
		{"gitea over file", commentOptions{forge: "gitea", repo: "a/b", number: 1, apiURL: "file:///var/run/x", insecure: true}, map[string]string{"GITEA_TOKEN": "t"}, "refusing the forge address"},
		{"gitea over http, allowed", commentOptions{forge: "gitea", repo: "a/b", number: 1, insecure: true}, map[string]string{"GITEA_TOKEN": "t", "GITHUB_SERVER_URL": "http://127.0.0.1:3000"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newCommenter(tc.o, env(tc.env))
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if n := runNumber(commentOptions{}, env(map[string]string{"CI_PIPELINE_IID": "12"})); n != 12 {
		t.Errorf("run number = %d", n)
	}
	if n := runNumber(commentOptions{run: 3}, env(map[string]string{"GITHUB_RUN_NUMBER": "12"})); n != 3 {
		t.Errorf("run number = %d", n)
	}
}
