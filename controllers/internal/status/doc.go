// Package status is how the runtime controllers write their part of an object's
// status: each applies only the fields and conditions it owns, server-side, under its
// own field manager, so that none rewrites another's. It also bounds and redacts every
// message a controller writes (Message, Condition, Recorder), so that a status stays
// writable and shows no credential.
package status
