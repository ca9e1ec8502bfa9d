// Package gitlabtest is a local HTTP server that follows GitLab's documented REST API v4
// for merge-request notes (list with X-Next-Page pagination, create, update) and the
// current user, for tests of code that comments on merge requests.
package gitlabtest
