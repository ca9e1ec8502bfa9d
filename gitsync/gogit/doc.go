// Package gogit implements gitsync's repository interfaces with go-git, on repositories
// on the local disk: it resolves revisions, reads the file tree of a commit as an fs.FS
// and finds merge bases, all offline and without a git binary.
package gogit
