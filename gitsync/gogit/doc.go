// Package gogit implements gitsync's repository interfaces with go-git, without a git
// binary: Repository resolves revisions, reads the file tree of a commit as an fs.FS
// and finds merge bases on a local repository, offline; Cloner checks out a branch, tag
// or commit of a remote over HTTPS (basic auth or bearer token), SSH (private key and
// pinned known_hosts) or file://, skipping the fetch only when the directory holds a
// checkout of the remote's commit verified object by object and file by file;
// FileWriter commits one file to a branch and pushes it, retrying when another writer
// pushed first.
package gogit
