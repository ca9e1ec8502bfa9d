package gitsync_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gitea"
	"github.com/ballast-dev/ballast/gitsync/github"
	"github.com/ballast-dev/ballast/gitsync/gitlab"
)

// TestForgeRepliesAreExcerpts: a forge (or whatever answers at its address) replying
// with a 1 MiB error page that echoes the token fails the request with a short
// message that shows neither the page nor the token.
func TestForgeRepliesAreExcerpts(t *testing.T) {
	const token = "forge-t0ken-value"
	for _, status := range []int{http.StatusInternalServerError, http.StatusUnauthorized} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"message":"token ` + token + ` refused: ` + strings.Repeat("internal detail ", 1<<16) + `"}`))
		}))
		defer srv.Close()
		setters := map[string]func() (gitsync.StatusSetter, error){
			"github": func() (gitsync.StatusSetter, error) {
				return github.NewStatusSetter(github.Options{APIURL: srv.URL, Owner: "o", Repo: "r", Token: token})
			},
			"gitlab": func() (gitsync.StatusSetter, error) {
				return gitlab.NewStatusSetter(gitlab.Options{APIURL: srv.URL, Project: "o/r", Token: token})
			},
			"gitea": func() (gitsync.StatusSetter, error) {
				return gitea.NewStatusSetter(gitea.Options{URL: srv.URL, Owner: "o", Repo: "r", Token: token})
			},
		}
		for name, newSetter := range setters {
			s, err := newSetter()
			if err != nil {
				t.Fatal(err)
			}
			err = s.SetStatus(context.Background(), gitsync.CommitStatus{Commit: strings.Repeat("a", 40), Context: "ballast/x", State: gitsync.CommitStateSuccess})
			if err == nil {
				t.Fatalf("%s %d: no error", name, status)
			}
			msg := err.Error()
			if strings.Contains(msg, token) || len(msg) > 512 || strings.Count(msg, "internal detail") > 16 {
				t.Errorf("%s %d: error of %d bytes: %.600s", name, status, len(msg), msg)
			}
		}
	}
}
