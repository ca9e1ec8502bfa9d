package app

import (
	"fmt"
	"strings"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gitea"
	"github.com/ballast-dev/ballast/gitsync/github"
	"github.com/ballast-dev/ballast/gitsync/gitlab"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// statusSetterFor builds the commit-status client a PolicySource's
// statusWriteBack.commitStatus names. The repository is owner/name (GitHub, Gitea) or
// a project path or id (GitLab); the address defaults to the public API (GitHub,
// GitLab) and is required for Gitea.
func statusSetterFor(spec v1alpha1.CommitStatusSpec, token string) (gitsync.StatusSetter, error) {
	owner, repo, _ := strings.Cut(spec.Repository, "/")
	switch spec.Provider {
	case "github":
		return github.NewStatusSetter(github.Options{APIURL: spec.Address, Owner: owner, Repo: repo, Token: token})
	case "gitlab":
		return gitlab.NewStatusSetter(gitlab.Options{APIURL: spec.Address, Project: spec.Repository, Token: token})
	case "gitea":
		if spec.Address == "" {
			return nil, fmt.Errorf("a gitea commit status needs statusWriteBack.commitStatus.address")
		}
		return gitea.NewStatusSetter(gitea.Options{URL: spec.Address, Owner: owner, Repo: repo, Token: token})
	}
	return nil, fmt.Errorf("unknown commit-status provider %q: use github, gitlab or gitea", spec.Provider)
}
