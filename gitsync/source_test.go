package gitsync_test

import (
	"reflect"
	"testing"

	"github.com/ballast-dev/ballast/gitsync"
)

func TestAuthFromSecret(t *testing.T) {
	for _, tc := range []struct {
		name string
		data map[string][]byte
		want gitsync.Auth
	}{
		{name: "basic", data: map[string][]byte{"username": []byte("u"), "password": []byte("p")},
			want: gitsync.Auth{Username: "u", Password: "p"}},
		{name: "token", data: map[string][]byte{"bearerToken": []byte("b")}, want: gitsync.Auth{BearerToken: "b"}},
		{name: "ssh, password is the passphrase as in Flux",
			data: map[string][]byte{"identity": []byte("KEY"), "known_hosts": []byte("KH"), "password": []byte("p")},
			want: gitsync.Auth{Password: "p", SSHPrivateKey: []byte("KEY"), SSHPassphrase: []byte("p"), KnownHosts: []byte("KH")}},
		{name: "ssh, identity.passphrase wins",
			data: map[string][]byte{"identity": []byte("KEY"), "identity.passphrase": []byte("pp"), "password": []byte("p")},
			want: gitsync.Auth{Password: "p", SSHPrivateKey: []byte("KEY"), SSHPassphrase: []byte("pp")}},
		{name: "empty", data: nil, want: gitsync.Auth{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := gitsync.AuthFromSecret(tc.data); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("AuthFromSecret = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRevisionNames(t *testing.T) {
	const h = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct{ in, want string }{
		{gitsync.RevisionName("main", h), h},
		{gitsync.RevisionName("feature/x", h), h},
		{"sha1:" + h, h},
		{h, h},
		{"", ""},
	} {
		if got := gitsync.CommitOf(tc.in); got != tc.want {
			t.Errorf("CommitOf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := gitsync.RevisionName("v1.0", h); got != "v1.0@sha1:"+h {
		t.Errorf("RevisionName = %q", got)
	}
}

func TestCloneOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    gitsync.CloneOptions
		ref     string
		invalid bool
	}{
		{name: "default branch", opts: gitsync.CloneOptions{URL: "u"}, ref: "main"},
		{name: "branch", opts: gitsync.CloneOptions{URL: "u", Branch: "dev"}, ref: "dev"},
		{name: "tag", opts: gitsync.CloneOptions{URL: "u", Tag: "v1"}, ref: "v1"},
		{name: "commit", opts: gitsync.CloneOptions{URL: "u", Commit: "abc"}, ref: "HEAD"},
		{name: "two", opts: gitsync.CloneOptions{URL: "u", Branch: "dev", Tag: "v1"}, invalid: true},
		{name: "no URL", opts: gitsync.CloneOptions{}, invalid: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if (err != nil) != tc.invalid {
				t.Fatalf("Validate = %v", err)
			}
			if !tc.invalid && tc.opts.RefName() != tc.ref {
				t.Errorf("RefName = %q, want %q", tc.opts.RefName(), tc.ref)
			}
		})
	}
}

func TestCommitStatus(t *testing.T) {
	long := gitsync.CommitStatus{Commit: "c", Context: "x", State: gitsync.CommitStateSuccess, Description: string(make([]rune, 200))}
	if n := len([]rune(long.Normalize().Description)); n != gitsync.MaxDescriptionLength {
		t.Errorf("normalized description has %d characters", n)
	}
	for _, s := range []gitsync.CommitStatus{
		{Commit: "c", Context: "x", State: "done"},
		{Context: "x", State: gitsync.CommitStatePending},
		{Commit: "c", State: gitsync.CommitStatePending},
	} {
		if s.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", s)
		}
	}
}
