// Package certs keeps the webhook's serving certificate valid without cert-manager: a
// self-signed CA and serving certificate stored in a Secret, written to the webhook
// server's certificate directory, trusted through the webhook configuration's
// caBundle, and rotated well before they expire.
package certs
