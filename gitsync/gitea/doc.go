// Package gitea implements gitsync.Commenter for pull requests on Gitea, with Gitea's
// Go SDK over the REST API v1.
package gitea
