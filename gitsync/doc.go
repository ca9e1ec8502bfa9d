// Package gitsync is what Ballast needs from Git and from Git forges, as small interfaces
// and value types: reading the file tree of a revision, checking out a revision of a
// remote repository (Cloner), writing a status file back to a branch and reading it
// again (FileWriter, FileReader), setting commit statuses (StatusSetter) and keeping one
// sticky comment up to date on a pull request (Commenter).
//
// The implementations live in subpackages, so that the code using these interfaces never
// imports go-git or a forge SDK: gogit reads local repositories, clones, commits and
// pushes with go-git; github, gitlab and gitea talk to the forges' REST APIs; fake is a
// recording fake for tests.
package gitsync
