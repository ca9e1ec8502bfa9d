package cloud

import (
	"errors"
	"fmt"
	"testing"
	"time"
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

func TestStaleError(t *testing.T) {
	throttled := &ThrottledError{APIError{Op: "ec2:GetSpotPlacementScores", Code: "RequestLimitExceeded"}}
	at := time.Date(2026, 7, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*60*60))
	err := fmt.Errorf("context: %w", &StaleError{FetchedAt: at, Err: throttled})
	if !IsStale(err) || !IsThrottled(err) || IsAccessDenied(err) {
		t.Errorf("%v: stale %v, throttled %v", err, IsStale(err), IsThrottled(err))
	}
	if want := "context: stale: the answer fetched at 2026-07-01T10:00:00Z: throttled: ec2:GetSpotPlacementScores failed: RequestLimitExceeded"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	if IsStale(throttled) || IsStale(nil) {
		t.Error("IsStale of a fresh error")
	}
}
