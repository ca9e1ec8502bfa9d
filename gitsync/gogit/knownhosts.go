package gogit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // OpenSSH hashes known_hosts names with HMAC-SHA1
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHosts is known_hosts content held in memory: the controller's root file system
// is read-only, and the content comes from a Secret, so it is never written to a file.
// It understands what OpenSSH writes and reads: host patterns with * and ?, negated
// patterns (!), [host]:port for ports other than 22, hashed names (|1|salt|hash), and
// the @cert-authority and @revoked markers.
type knownHosts struct {
	entries []knownHostsEntry
}

type knownHostsEntry struct {
	// marker is "", "cert-authority" or "revoked".
	marker   string
	patterns []string
	key      ssh.PublicKey
	line     int
}

// knownHostsSource names the content in errors, where a file name would go.
const knownHostsSource = "known_hosts"

// parseKnownHosts reads known_hosts content; an entry it cannot read is an error, as
// it is for OpenSSH's ssh-keygen -F.
func parseKnownHosts(content []byte) (*knownHosts, error) {
	kh := &knownHosts{}
	rest := content
	for len(rest) > 0 {
		marker, hosts, key, _, next, err := ssh.ParseKnownHosts(rest)
		if errors.Is(err, io.EOF) {
			break
		}
		line := bytes.Count(content[:len(content)-len(next)], []byte("\n"))
		if next == nil {
			line++
		}
		if err != nil {
			return nil, fmt.Errorf("invalid known_hosts near line %d: %w", line, err)
		}
		switch marker {
		case "", "cert-authority", "revoked":
		default:
			return nil, fmt.Errorf("invalid known_hosts line %d: unknown marker @%s", line, marker)
		}
		kh.entries = append(kh.entries, knownHostsEntry{marker: marker, patterns: hosts, key: key, line: line})
		rest = next
	}
	if len(kh.entries) == 0 {
		return nil, errors.New("invalid known_hosts: no host key in it")
	}
	return kh, nil
}

// HostKeyCallback checks the server's host key, or its certificate, against the
// entries for the address the client dialled (host:port). An unknown host or a
// mismatching key is a *knownhosts.KeyError, a revoked key a *knownhosts.RevokedError,
// as x/crypto's file-based implementation returns.
func (kh *knownHosts) HostKeyCallback() ssh.HostKeyCallback {
	cc := &ssh.CertChecker{
		IsHostAuthority: func(auth ssh.PublicKey, address string) bool {
			return slices.ContainsFunc(kh.entries, func(e knownHostsEntry) bool {
				return e.marker == "cert-authority" && keysEqual(e.key, auth) && e.matches(address)
			})
		},
		IsRevoked: func(cert *ssh.Certificate) bool {
			return kh.revoked(cert.SignatureKey) != nil || kh.revoked(cert.Key) != nil
		},
		HostKeyFallback: kh.checkPlain,
	}
	return cc.CheckHostKey
}

// checkPlain checks a plain (not certificate) host key.
func (kh *knownHosts) checkPlain(address string, _ net.Addr, key ssh.PublicKey) error {
	if e := kh.revoked(key); e != nil {
		return &knownhosts.RevokedError{Revoked: e.known()}
	}
	var want []knownhosts.KnownKey
	for _, e := range kh.entries {
		if e.marker != "" || !e.matches(address) {
			continue
		}
		if keysEqual(e.key, key) {
			return nil
		}
		want = append(want, e.known())
	}
	return &knownhosts.KeyError{Want: want}
}

// HostKeyAlgorithms lists the host key algorithms of the keys known for address
// (host:port), so that the server presents one of them rather than another key of the
// same host that known_hosts does not hold. Nil (the client's defaults) when a
// certificate authority is trusted for the host, or nothing is known about it.
func (kh *knownHosts) HostKeyAlgorithms(address string) []string {
	var algos []string
	for _, e := range kh.entries {
		if !e.matches(address) {
			continue
		}
		switch e.marker {
		case "cert-authority":
			return nil
		case "revoked":
			continue
		}
		switch t := e.key.Type(); t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return slices.Compact(algos)
}

func (kh *knownHosts) revoked(key ssh.PublicKey) *knownHostsEntry {
	for i, e := range kh.entries {
		if e.marker == "revoked" && keysEqual(e.key, key) {
			return &kh.entries[i]
		}
	}
	return nil
}

func (e *knownHostsEntry) known() knownhosts.KnownKey {
	return knownhosts.KnownKey{Key: e.key, Filename: knownHostsSource, Line: e.line}
}

// matches reports whether the entry's patterns match address (host:port, or a host
// alone for port 22): one pattern matches and no negated one does.
func (e *knownHostsEntry) matches(address string) bool {
	name := knownhosts.Normalize(address)
	matched := false
	for _, p := range e.patterns {
		negated := strings.HasPrefix(p, "!")
		if negated {
			p = p[1:]
		}
		if !patternMatches(p, name) {
			continue
		}
		if negated {
			return false
		}
		matched = true
	}
	return matched
}

// patternMatches matches one known_hosts host pattern against a normalised name
// ("host" or "[host]:port").
func patternMatches(pattern, name string) bool {
	if strings.HasPrefix(pattern, "|1|") {
		salt64, hash64, ok := strings.Cut(pattern[len("|1|"):], "|")
		if !ok {
			return false
		}
		salt, err1 := base64.StdEncoding.DecodeString(salt64)
		want, err2 := base64.StdEncoding.DecodeString(hash64)
		if err1 != nil || err2 != nil {
			return false
		}
		mac := hmac.New(sha1.New, salt)
		mac.Write([]byte(name))
		return hmac.Equal(mac.Sum(nil), want)
	}
	return wildcard(strings.ToLower(pattern), strings.ToLower(name))
}

// wildcard matches s against a pattern where * is any run of characters and ? any one
// character.
func wildcard(pattern, s string) bool {
	// The classic two-pointer match with one backtracking point.
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func keysEqual(a, b ssh.PublicKey) bool {
	return a.Type() == b.Type() && bytes.Equal(a.Marshal(), b.Marshal())
}
