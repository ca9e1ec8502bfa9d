// Package gitea implements gitsync.Commenter for pull requests and gitsync.StatusSetter
// for commit statuses on Gitea, with Gitea's Go SDK over the REST API v1.
package gitea
