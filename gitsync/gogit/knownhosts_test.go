package gogit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newSigner(t *testing.T, rsaKey bool) ssh.Signer {
	t.Helper()
	var key any
	var err error
	if rsaKey {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		_, key, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestKnownHosts(t *testing.T) {
	host, other, rsaHost, ca, revoked := newSigner(t, false), newSigner(t, false), newSigner(t, true), newSigner(t, false), newSigner(t, false)
	line := func(pattern string, k ssh.PublicKey) string { return knownhosts.Line([]string{pattern}, k) }
	content := strings.Join([]string{
		"# a comment, then a blank line",
		"",
		line("git.example.com", host.PublicKey()),
		line("[git.example.com]:2222", other.PublicKey()),
		knownhosts.HashHostname("hashed.example.com") + " " + string(ssh.MarshalAuthorizedKey(host.PublicKey())),
		"*.wild.example.com,!evil.wild.example.com " + string(ssh.MarshalAuthorizedKey(host.PublicKey())),
		line("rsa.example.com", rsaHost.PublicKey()),
		"@cert-authority *.ca.example.com " + string(ssh.MarshalAuthorizedKey(ca.PublicKey())),
		"@revoked * " + string(ssh.MarshalAuthorizedKey(revoked.PublicKey())),
		line("revoked.example.com", revoked.PublicKey()),
	}, "\n")
	kh, err := parseKnownHosts([]byte(content))
	if err != nil {
		t.Fatal(err)
	}
	cb := kh.HostKeyCallback()
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}
	cert := func(principal string) ssh.PublicKey {
		c := &ssh.Certificate{Key: host.PublicKey(), CertType: ssh.HostCert, ValidPrincipals: []string{principal},
			ValidBefore: ssh.CertTimeInfinity}
		if err := c.SignCert(rand.Reader, ca); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name, address string
		key           ssh.PublicKey
		want          string // "" accepted, "unknown", "mismatch", "revoked", "refused"
		wantLine      int
	}{
		{name: "plain", address: "git.example.com:22", key: host.PublicKey()},
		{name: "case-insensitive", address: "GIT.example.com:22", key: host.PublicKey()},
		{name: "wrong key", address: "git.example.com:22", key: other.PublicKey(), want: "mismatch", wantLine: 3},
		{name: "other port", address: "git.example.com:2222", key: other.PublicKey()},
		{name: "other port, port 22's key", address: "git.example.com:2222", key: host.PublicKey(), want: "mismatch", wantLine: 4},
		{name: "unknown host", address: "nowhere.example.com:22", key: host.PublicKey(), want: "unknown"},
		{name: "hashed", address: "hashed.example.com:22", key: host.PublicKey()},
		{name: "hashed, other port", address: "hashed.example.com:23", key: host.PublicKey(), want: "unknown"},
		{name: "wildcard", address: "a.wild.example.com:22", key: host.PublicKey()},
		{name: "negated", address: "evil.wild.example.com:22", key: host.PublicKey(), want: "unknown"},
		{name: "revoked", address: "revoked.example.com:22", key: revoked.PublicKey(), want: "revoked"},
		{name: "certificate", address: "git.ca.example.com:22", key: cert("git.ca.example.com")},
		{name: "certificate for another host", address: "git.ca.example.com:22", key: cert("other.example.com"), want: "refused"},
		{name: "certificate of an untrusted host", address: "git.example.com:22", key: cert("git.example.com"), want: "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cb(tc.address, addr, tc.key)
			var ke *knownhosts.KeyError
			var re *knownhosts.RevokedError
			isKeyError := errors.As(err, &ke)
			unknown := isKeyError && len(ke.Want) == 0
			mismatch := isKeyError && len(ke.Want) == 1 && ke.Want[0].Line == tc.wantLine && ke.Want[0].Filename == "known_hosts"
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want == "unknown" && !unknown:
				t.Errorf("err = %v, want an unknown host", err)
			case tc.want == "mismatch" && !mismatch:
				t.Errorf("err = %v (%+v), want a mismatch with the key of line %d", err, ke, tc.wantLine)
			case tc.want == "revoked" && !errors.As(err, &re):
				t.Errorf("err = %v, want revoked", err)
			case tc.want == "refused" && err == nil:
				t.Error("accepted")
			}
		})
	}

	for _, tc := range []struct {
		address string
		want    []string
	}{
		{"git.example.com:22", []string{ssh.KeyAlgoED25519}},
		{"rsa.example.com:22", []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}},
		{"git.ca.example.com:22", nil},
		{"nowhere.example.com:22", nil},
	} {
		if got := kh.HostKeyAlgorithms(tc.address); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("HostKeyAlgorithms(%s) = %v, want %v", tc.address, got, tc.want)
		}
	}

	for _, bad := range []string{"", "# only a comment\n", "host ssh-ed25519 not-base64\n", "@unknown host " + string(ssh.MarshalAuthorizedKey(host.PublicKey()))} {
		if _, err := parseKnownHosts([]byte(bad)); err == nil {
			t.Errorf("parseKnownHosts(%q) accepted", bad)
		}
	}
}
