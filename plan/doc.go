// Package plan computes what a policy change does, for people reviewing it: the
// per-object, per-field difference between the objects rendered at two revisions, and
// the Markdown plan (summary, table, folded details) that `ballast plan` prints and
// posts on pull requests.
//
// It is pure: the caller loads and renders the policy trees and estimates their cost,
// and passes the results in.
package plan
