// Package app is the ballast command line: it parses flags into options and calls the
// policies, render and controller packages. It is the composition root, the only place
// that builds concrete clients.
package app
