package cloud

import (
	"errors"
	"fmt"
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

// IgnoreNotFound returns nil for a NotFoundError and err otherwise.
func IgnoreNotFound(err error) error {
	if IsNotFound(err) {
		return nil
	}
	return err
}
