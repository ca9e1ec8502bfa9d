// Package devenv is the engine of `ballast dev`: the whole product on one machine. It
// starts a local cluster (localcluster: control plane, kwok nodes, real Karpenter with
// its kwok provider), a Git server or a real Gitea holding a policy repository, and the
// real `ballast controller` binary under the RBAC Ballast ships, with a PolicySource
// pointing at the repository, so that Git → validate → render → apply → Karpenter →
// placement runs for real; it deploys example workloads in opted-in namespaces, takes
// snapshots of what is running (nodes, splits, fallback, cost) for the live view, and
// runs scenarios (a Spot outage, scaling, a policy change pushed to the repository).
package devenv
