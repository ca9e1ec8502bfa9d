// Package dev tests `ballast dev`'s engine (package devenv) end to end, on a cluster of
// its own; it is a package apart from test/e2e so that `go test ./...` runs the two
// suites side by side.
package dev
