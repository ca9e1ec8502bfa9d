package gitsync

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/ballast-dev/ballast/redact"
)

// AddressError says a Git or forge address was refused: its scheme does not protect
// the credentials sent to it and the policy read from it.
type AddressError struct {
	// What is "Git" or "forge".
	What string
	// Address is the address, redacted.
	Address string
	// Allowed lists the accepted forms.
	Allowed string
}

func (e *AddressError) Error() string {
	return fmt.Sprintf("refusing the %s address %s: only %s addresses are allowed, since another scheme would send credentials "+
		"and read policy unencrypted or from the controller's own disk (the controller's --allow-insecure-http flag allows "+
		"http:// and file://, for local development)", e.What, e.Address, e.Allowed)
}

// IsAddress reports whether err is, or wraps, an AddressError.
func IsAddress(err error) bool {
	var ae *AddressError
	return errors.As(err, &ae)
}

// scpLike is Git's user@host:path form (the user is optional), which Git reads as SSH.
var scpLike = regexp.MustCompile(`^(?:[^@/:\s]+@)?[^@/:\s]+:[^/]`)

// CheckGitAddress accepts https://, ssh:// and the scp-like user@host:path (SSH), and,
// when insecure is set, http:// and file:// too; it refuses anything else (git://, a
// local path...) with an *AddressError.
func CheckGitAddress(addr string, insecure bool) error {
	scheme, _, hasScheme := strings.Cut(addr, "://")
	scheme = strings.ToLower(scheme)
	switch {
	case hasScheme && (scheme == "https" || scheme == "ssh"):
		return nil
	case hasScheme && insecure && (scheme == "http" || scheme == "file"):
		return nil
	case !hasScheme && scpLike.MatchString(addr):
		return nil
	}
	return &AddressError{What: "Git", Address: redact.String(addr), Allowed: "https://, ssh:// and user@host:path"}
}

// CheckForgeAddress accepts an https:// API address (or none: the forge's public
// API), and http:// when insecure is set.
func CheckForgeAddress(addr string, insecure bool) error {
	scheme, _, _ := strings.Cut(addr, "://")
	switch strings.ToLower(scheme) {
	case "https":
		return nil
	case "http":
		if insecure {
			return nil
		}
	}
	if addr == "" {
		return nil
	}
	return &AddressError{What: "forge", Address: redact.String(addr), Allowed: "https://"}
}
