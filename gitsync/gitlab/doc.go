// Package gitlab implements gitsync.Commenter for merge requests and
// gitsync.StatusSetter for commit statuses on GitLab (gitlab.com or self-managed), with
// GitLab's client-go over the REST API v4.
package gitlab
