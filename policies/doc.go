// Package policies loads a tree of policy documents from files, decodes them strictly,
// fills defaults and validates them, reporting every finding at file:line:column.
//
// It is pure: it reads the fs.FS it is given and nothing else (no client, no network,
// no clock), so the CLI, the controller and the tests see the same results. Of that
// fs.FS, Load reads only the regular files inside the tree, by the same rules for a
// directory on disk and a Git revision (see tree.go).
package policies
