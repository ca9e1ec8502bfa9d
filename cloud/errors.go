package cloud

import (
	"errors"
	"fmt"
	"time"
)

// APIError is a failed AWS call, described without credentials: the operation, the
// AWS error code and the (redacted) message.
type APIError struct {
	// Op is the operation, e.g. pricing:GetProducts.
	Op string
	// Code is the AWS error code, e.g. ThrottlingException.
	Code string
	// Message is AWS's message with anything that looks like an access key removed.
	Message string
}

// Error says which operation failed, with AWS's code and message.
func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s failed: %s", e.Op, e.Code)
	}
	return fmt.Sprintf("%s failed: %s: %s", e.Op, e.Code, e.Message)
}

// ThrottledError is a call AWS kept throttling after the SDK's retries; try again
// later, or less often.
type ThrottledError struct{ APIError }

// AccessDeniedError is a call the credentials are not allowed to make; retrying does
// not help until the IAM policy changes.
type AccessDeniedError struct{ APIError }

// NotFoundError is a call about something AWS does not know (a service, a price list).
type NotFoundError struct{ APIError }

// StaleError comes with an answer that is not fresh: the last good one, returned
// because asking again failed or was not allowed (CachedPlacementScores while backing
// off). Unlike with the other errors, the answer is returned too; a caller that cannot
// use an old answer treats it as any error.
type StaleError struct {
	// FetchedAt is when the answer was fetched; the caller judges whether it is too old.
	FetchedAt time.Time
	// Err is why it was not fetched again, e.g. a ThrottledError.
	Err error
}

// Error says how old the answer is and why it was not refreshed.
func (e *StaleError) Error() string {
	return fmt.Sprintf("stale: the answer fetched at %s: %v", e.FetchedAt.UTC().Format(time.RFC3339), e.Err)
}

// Unwrap returns why the answer was not refreshed, so that IsThrottled and the like see
// through a StaleError; check IsStale first to keep the answer.
func (e *StaleError) Unwrap() error { return e.Err }

// Error implements error.
func (e *ThrottledError) Error() string {
	return "throttled: " + e.APIError.Error()
}

// Error implements error.
func (e *AccessDeniedError) Error() string {
	return "access denied: " + e.APIError.Error()
}

// Error implements error.
func (e *NotFoundError) Error() string {
	return "not found: " + e.APIError.Error()
}

// IsThrottled reports whether err is, or wraps, a ThrottledError.
func IsThrottled(err error) bool {
	var e *ThrottledError
	return errors.As(err, &e)
}

// IsAccessDenied reports whether err is, or wraps, an AccessDeniedError.
func IsAccessDenied(err error) bool {
	var e *AccessDeniedError
	return errors.As(err, &e)
}

// IsNotFound reports whether err is, or wraps, a NotFoundError.
func IsNotFound(err error) bool {
	var e *NotFoundError
	return errors.As(err, &e)
}

// IsStale reports whether err is, or wraps, a StaleError: the answer that came with it
// is the last good one rather than none.
func IsStale(err error) bool {
	var e *StaleError
	return errors.As(err, &e)
}

// IgnoreNotFound returns nil for a NotFoundError and err otherwise.
func IgnoreNotFound(err error) error {
	if IsNotFound(err) {
		return nil
	}
	return err
}
