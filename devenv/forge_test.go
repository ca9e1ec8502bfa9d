package devenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gitea"
	"github.com/ballast-dev/ballast/gitsync/gogit"
	"github.com/ballast-dev/ballast/localcluster"
)

// TestRepository: on each forge, the policy repository holds the staged tree on main
// and takes commits, and the PolicySource's credentials do what the controller does
// with them: write the status file, which the scenario reads, and on Gitea set the
// commit status the scenario waits for (it fails when there is none). It starts a real
// Gitea, not a cluster.
func TestRepository(t *testing.T) {
	ctx := context.Background()
	for _, forge := range Forges {
		t.Run(forge, func(t *testing.T) {
			e := &Env{opts: Options{Forge: forge}, dir: t.TempDir(), Cluster: "prod-eu"}
			t.Cleanup(e.Stop)
			if err := os.MkdirAll(filepath.Join(e.dir, "tree"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(e.dir, "tree", "prod.yaml"), []byte("a: 1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := e.startRepository(ctx); err != nil {
				t.Fatal(err)
			}
			want := forge
			if forge == ForgeAuto {
				// Auto takes Gitea when it is built (make test builds it first).
				want = ForgeGit
				if localcluster.GiteaBuilt() {
					want = ForgeGitea
				}
			}
			if e.Repo.Forge != want || (e.Gitea != nil) != (want == ForgeGitea) || (e.Git != nil) != (want == ForgeGit) {
				t.Fatalf("forge %s: repository on %s (want %s), Gitea %v, Git %v", forge, e.Repo.Forge, want, e.Gitea != nil, e.Git != nil)
			}
			forge := want
			if got, err := e.Repo.File("policies/prod.yaml"); err != nil || got != "a: 1\n" {
				t.Fatalf("policies/prod.yaml: %q, %v", got, err)
			}
			commit, err := e.Repo.Commit("raise a", map[string]string{"policies/prod.yaml": "a: 2\n"})
			if err != nil {
				t.Fatal(err)
			}
			data := map[string][]byte{}
			for k, v := range e.credentials() {
				data[k] = []byte(v)
			}
			if _, _, err := gogit.NewFileWriter().WriteFile(ctx, gitsync.FileWriteOptions{URL: e.Repo.URL, Auth: gitsync.AuthFromSecret(data),
				Branch: "ballast-status", Path: "status/prod-eu.yaml", Content: []byte("appliedRevision: main@sha1:" + commit + "\n")}); err != nil {
				t.Fatal(err)
			}
			if got := e.Repo.Read("ballast-status", "status/prod-eu.yaml"); !strings.Contains(got, commit) {
				t.Errorf("the status file reads %q, want it to name %s", got, commit)
			}

			spec := e.commitStatus("policies-git")
			if forge == ForgeGit {
				if spec != nil {
					t.Errorf("a commit status on the local Git server: %+v", spec)
				}
				return
			}
			if spec.Provider != "gitea" || spec.Address != e.Gitea.URL || spec.Repository != "ballast/policies" || spec.SecretRef.Name != "policies-git" {
				t.Errorf("commitStatus %+v", spec)
			}
			if _, err := e.waitCommitStatus(ctx, commit, 2*time.Second); err == nil || !strings.Contains(err.Error(), "no successful commit status ballast/prod-eu on "+commit) {
				t.Errorf("no status yet: %v", err)
			}
			owner, repo, _ := strings.Cut(spec.Repository, "/")
			setter, err := gitea.NewStatusSetter(gitea.Options{URL: spec.Address, Owner: owner, Repo: repo, Token: string(data["token"])})
			if err != nil {
				t.Fatal(err)
			}
			if err := setter.SetStatus(ctx, gitsync.CommitStatus{Commit: commit, Context: "ballast/prod-eu", State: gitsync.CommitStateSuccess,
				Description: "applied 3 objects to prod-eu"}); err != nil {
				t.Fatal(err)
			}
			if got, err := e.waitCommitStatus(ctx, commit, 30*time.Second); err != nil || got != "applied 3 objects to prod-eu" {
				t.Errorf("commit status: %q, %v", got, err)
			}
		})
	}
}
