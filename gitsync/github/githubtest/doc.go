// Package githubtest is a local HTTP server that follows GitHub's documented REST API
// for issue comments (list with Link-header pagination, create, update), commit
// statuses (create, list newest first) and the authenticated user, for tests of code
// that comments on pull requests and sets statuses.
package githubtest
