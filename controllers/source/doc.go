// Package source is the PolicySource controller: it fetches a policy repository (a Git
// repository through gitsync, or the artifact of a Flux GitRepository or OCIRepository),
// validates it, renders the objects of the cluster it serves and applies them with
// server-side apply, keeping an inventory so that it prunes only what it created.
//
// A revision that fails to fetch, validate or render applies nothing: the objects of the
// last good revision stay as they are.
package source
