// Package gitsync is what Ballast needs from Git and from Git forges, as small interfaces
// and value types: reading the file tree of a revision, and keeping one sticky comment up
// to date on a pull request.
//
// The implementations live in subpackages, so that the code using these interfaces never
// imports go-git or a forge SDK: gogit reads local repositories with go-git; github,
// gitlab and gitea talk to the forges' REST APIs; fake is a recording fake for tests.
package gitsync
