// Package gitea starts a real Gitea server for tests (localcluster.StartGitea: the
// pinned Gitea built once with hack/gitea.sh and cached outside the repository, on
// 127.0.0.1 with sqlite in a temporary directory, with an administrator and an access
// token) and wraps its helpers for users, repositories and pull requests so that they
// fail the test instead of returning errors.
package gitea
