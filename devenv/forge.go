package devenv

import (
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Forges `ballast dev --forge` serves the policy repository from.
const (
	// ForgeAuto is Gitea when it is built already (make test builds it), else the local
	// Git server: a first `make dev` never waits for a Gitea build. The default.
	ForgeAuto = "auto"
	// ForgeGit is a local Git server (git http-backend with basic auth): Git only, no
	// forge API, so no commit statuses.
	ForgeGit = "git"
	// ForgeGitea is a real Gitea (built once by hack/gitea.sh): the controller also sets
	// a commit status on every commit it syncs.
	ForgeGitea = "gitea"
)

// Forges lists them.
var Forges = []string{ForgeAuto, ForgeGit, ForgeGitea}

const (
	// giteaUser owns the policy repository on Gitea; the controller uses a token of
	// theirs with the write:repository scope only.
	giteaUser = "ballast"
	// giteaRepo is the repository's name on Gitea.
	giteaRepo = "policies"
)

// Repository is the policy repository as its users reach it, on whichever forge serves
// it.
type Repository struct {
	// Forge serves it: ForgeGit or ForgeGitea.
	Forge string
	// URL clones it over HTTP; Username and Password authenticate (on Gitea the
	// password is an access token of the user).
	URL, Username, Password string
	// Owner and Name are the repository on Gitea ("" on ForgeGit); WebURL its page.
	Owner, Name, WebURL string
	// WorkTree is a clone that takes commits on main and pushes them.
	*localcluster.WorkTree
}

func checkForge(forge string) error {
	switch forge {
	case "", ForgeAuto, ForgeGit, ForgeGitea:
		return nil
	}
	return fmt.Errorf("unknown forge %q: one of %s", forge, strings.Join(Forges, ", "))
}

// startRepository serves the staged policy tree, under policyPath on main, from the
// forge the options name.
func (e *Env) startRepository(ctx context.Context) error {
	tree := filepath.Join(e.dir, "tree")
	forge := e.opts.Forge
	if forge == "" || forge == ForgeAuto {
		forge = ForgeGit
		if localcluster.GiteaBuilt() {
			forge = ForgeGitea
		} else {
			e.opts.progress("no Gitea built: the repository is served without a forge API, so no commit statuses (--forge gitea builds Gitea once, about 13 minutes)")
		}
	}
	if forge != ForgeGitea {
		e.opts.progress("starting the policy repository")
		g, err := localcluster.ServeGit(filepath.Join(e.dir, "git"), tree, policyPath)
		if err != nil {
			return err
		}
		e.Git = g
		e.Repo = Repository{Forge: ForgeGit, URL: g.URL, Username: g.Username, Password: g.Password, WorkTree: g.WorkTree}
		return nil
	}
	e.opts.progress("starting Gitea (the first run builds it: about 13 minutes)")
	g, err := localcluster.StartGitea(ctx, filepath.Join(e.dir, "gitea"), e.opts.Progress)
	if err != nil {
		return err
	}
	e.Gitea = g
	token, err := g.CreateUser(giteaUser, "write:repository")
	if err != nil {
		return err
	}
	repo, err := g.CreateRepoOf(giteaUser, giteaRepo)
	if err != nil {
		return err
	}
	url := g.CloneURL(giteaUser, giteaRepo)
	e.opts.progress("pushing the policy repository to %s", url)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(giteaUser+":"+token))
	wt, err := localcluster.PushTree(filepath.Join(e.dir, "work"), url, basic, tree, policyPath)
	if err != nil {
		return err
	}
	e.Repo = Repository{Forge: ForgeGitea, URL: url, Username: giteaUser, Password: token,
		Owner: giteaUser, Name: giteaRepo, WebURL: repo.HTMLURL, WorkTree: wt}
	return nil
}

// credentials is the data of the PolicySource's Secret: username and password for Git
// over HTTP and, on Gitea, the token (the same) for commit statuses.
func (e *Env) credentials() map[string]string {
	data := map[string]string{"username": e.Repo.Username, "password": e.Repo.Password}
	if e.Gitea != nil {
		data["token"] = e.Repo.Password
	}
	return data
}

// commitStatus is what the PolicySource's statusWriteBack.commitStatus says, on Gitea:
// the repository, with the user's token from secret; nil on ForgeGit.
func (e *Env) commitStatus(secret string) *v1alpha1.CommitStatusSpec {
	if e.Gitea == nil {
		return nil
	}
	return &v1alpha1.CommitStatusSpec{Provider: "gitea", Address: e.Gitea.URL,
		Repository: e.Repo.Owner + "/" + e.Repo.Name, SecretRef: v1alpha1.LocalObjectReference{Name: secret}}
}

// statusContext is the name of the commit status the controller sets: its default,
// ballast/<cluster> (the PolicySource leaves statusWriteBack.commitStatus.context
// empty).
func (e *Env) statusContext() string { return "ballast/" + e.Cluster }

// waitCommitStatus waits until the controller's commit status on commit is success,
// and returns its description.
func (e *Env) waitCommitStatus(ctx context.Context, commit string, timeout time.Duration) (string, error) {
	name := e.statusContext()
	var description string
	var last error
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(context.Context) (bool, error) {
		st, err := e.Gitea.CommitStatus(e.Repo.Password, e.Repo.Owner, e.Repo.Name, commit, name)
		switch {
		case err != nil:
			last = err
			return false, nil
		case st == nil:
			last = fmt.Errorf("no status %s yet", name)
			return false, nil
		}
		description = st.Description
		last = fmt.Errorf("status %s is %s: %s", name, st.State, st.Description)
		return st.State == "success", nil
	})
	if err != nil {
		if last != nil {
			err = fmt.Errorf("%w; last: %w", err, last)
		}
		return "", fmt.Errorf("no successful commit status %s on %s: %w", name, commit, err)
	}
	return description, nil
}
