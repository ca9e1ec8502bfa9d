package aws

import (
	"errors"
	"fmt"

	"github.com/aws/smithy-go"

	"github.com/ballast-dev/ballast/cloud"
	"github.com/ballast-dev/ballast/redact"
)

// Error codes that change what the caller does. The SDK retries the throttling ones
// itself first; what reaches classify has exhausted its retries. MaxConfigLimitExceeded
// (GetSpotPlacementScores: too many new configurations in 24 hours) is not retried by
// the SDK, and is a throttle all the same: asking later, or less, is the cure.
var (
	throttlingCodes = map[string]bool{
		"Throttling": true, "ThrottlingException": true, "ThrottledException": true, "RequestThrottledException": true,
		"TooManyRequestsException": true, "RequestLimitExceeded": true, "RequestThrottled": true, "SlowDown": true,
		"MaxConfigLimitExceeded": true,
	}
	accessDeniedCodes = map[string]bool{
		"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true, "AuthFailure": true,
		"UnrecognizedClientException": true, "InvalidClientTokenId": true, "SignatureDoesNotMatch": true,
		"ExpiredToken": true, "ExpiredTokenException": true, "OptInRequired": true,
		"KmsAccessDenied": true, // SQS: the queue's KMS key is not usable
	}
	notFoundCodes = map[string]bool{
		"NotFoundException": true, "ResourceNotFoundException": true,
		"QueueDoesNotExist": true, "AWS.SimpleQueueService.NonExistentQueue": true, // SQS, JSON and query protocols
	}
)

// classify turns an SDK error into a cloud typed error when its code changes what the
// caller does, and otherwise into an error that says what failed. Messages pass
// through redact.String (access key ids, which some messages echo, and any other
// credential); the SDK error itself is not wrapped, so that nothing it carries reaches
// a log.
func classify(op, what string, err error) error {
	return classifyAction(op, "get "+what, err)
}

// classifyAction is classify for any action, e.g. "delete message X from Q".
func classifyAction(op, action string, err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("failed to %s (%s): %w", action, op, redact.Error(err))
	}
	base := cloud.APIError{Op: op, Code: ae.ErrorCode(), Message: redact.String(ae.ErrorMessage())}
	switch {
	case throttlingCodes[base.Code]:
		return fmt.Errorf("failed to %s: %w", action, &cloud.ThrottledError{APIError: base})
	case accessDeniedCodes[base.Code]:
		return fmt.Errorf("failed to %s: %w", action, &cloud.AccessDeniedError{APIError: base})
	case notFoundCodes[base.Code]:
		return fmt.Errorf("failed to %s: %w", action, &cloud.NotFoundError{APIError: base})
	}
	return fmt.Errorf("failed to %s: %w", action, &base)
}
