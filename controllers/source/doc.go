// Package source is the PolicySource controller: it fetches a policy repository (a Git
// repository through gitsync, or the artifact of a Flux GitRepository or OCIRepository),
// validates it, renders the objects of the cluster it serves and applies them with
// server-side apply, keeping an inventory (recorded before anything is applied) so that
// it prunes only what it created. Owner labels name a PolicySource by namespace and
// name, and of several PolicySources for one cluster only the one holding the
// cluster's claim applies it (owner.go).
//
// A revision that fails to fetch, validate or render applies nothing: the objects of the
// last good revision stay as they are.
//
// Only PolicySources of the namespaces the controller is told (its own, by default)
// are synced; one elsewhere is refused and nothing of it is read. A PolicySource naming
// spec.serviceAccountName is applied and pruned as that ServiceAccount (impersonation),
// so that it changes only what the account may change.
//
// It reports back to Git: a commit status on every attempted commit (GitReporter,
// called by each sync), and the status file with the applied revision and the runtime
// figures of the cluster (StatusFileReconciler, a controller of its own that commits
// only changes worth a commit, no more often than statusFile.minInterval).
package source
