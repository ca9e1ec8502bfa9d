// Package fake is a recording, in-memory gitsync.Commenter for tests of code that keeps
// pull-request comments up to date.
package fake
