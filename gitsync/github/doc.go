// Package github implements gitsync.Commenter for pull requests and gitsync.StatusSetter
// for commit statuses on GitHub and GitHub Enterprise Server, with go-github over the
// REST API.
package github
