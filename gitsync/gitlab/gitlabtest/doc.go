// Package gitlabtest is a local HTTP server that follows GitLab's documented REST API v4
// for merge-request notes (list with X-Next-Page pagination, create, update), commit
// statuses (set, list the latest of each name) and the current user, for tests of code
// that comments on merge requests and sets statuses.
package gitlabtest
