// Package gitea starts a real Gitea server for tests: it builds the pinned Gitea once
// with hack/gitea.sh (cached outside the repository), runs it on 127.0.0.1 with sqlite
// in a temporary directory, and creates an administrator with an access token, users,
// repositories and pull requests.
package gitea
