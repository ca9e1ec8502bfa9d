// Package redact removes credentials from text that people see: logs, events,
// conditions, commit statuses, pull-request comments, the status file and the CLI's
// output. Every message that may carry a URL, an HTTP header or a remote server's reply
// passes through String (or Error, or Excerpt for a remote server's own words) before
// it is shown.
//
// It works on the text alone and never needs net/url to parse it: a password holding
// '#', '?', '/', '%' or '@' makes net/url fail, and the unparsed URL then appears
// verbatim in the error that says so.
package redact
