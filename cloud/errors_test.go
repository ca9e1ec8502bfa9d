package cloud

import (
	"errors"
	"fmt"
	"testing"
)

func TestTypedErrors(t *testing.T) {
	base := APIError{Op: "pricing:GetProducts", Code: "X", Message: "m"}
	for _, tc := range []struct {
		err                         error
		throttled, denied, notFound bool
		text                        string
	}{
		{&ThrottledError{base}, true, false, false, "throttled: pricing:GetProducts failed: X: m"},
		{&AccessDeniedError{base}, false, true, false, "access denied: pricing:GetProducts failed: X: m"},
		{&NotFoundError{base}, false, false, true, "not found: pricing:GetProducts failed: X: m"},
		{&base, false, false, false, "pricing:GetProducts failed: X: m"},
		{errors.New("other"), false, false, false, "other"},
	} {
		wrapped := fmt.Errorf("context: %w", tc.err)
		if IsThrottled(wrapped) != tc.throttled || IsAccessDenied(wrapped) != tc.denied || IsNotFound(wrapped) != tc.notFound {
			t.Errorf("%v: throttled %v, denied %v, not found %v", tc.err, IsThrottled(wrapped), IsAccessDenied(wrapped), IsNotFound(wrapped))
		}
		if tc.err.Error() != tc.text {
			t.Errorf("Error() = %q, want %q", tc.err.Error(), tc.text)
		}
		if (IgnoreNotFound(wrapped) == nil) != tc.notFound {
			t.Errorf("IgnoreNotFound(%v) = %v", wrapped, IgnoreNotFound(wrapped))
		}
	}
}
