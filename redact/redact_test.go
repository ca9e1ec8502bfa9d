package redact

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		secrets        []string
	}{
		{name: "plain URL", in: "failed to clone https://github.com/o/r.git: boom", want: "failed to clone https://github.com/o/r.git: boom"},
		{name: "user and password", in: "clone https://bob:s3cret@github.com/o/r.git", want: "clone https://" + Marker + "@github.com/o/r.git"},
		{name: "token as user with a port", in: `Get "https://ghp_0123456789abcdefghij0123@git.example.com:8443/o/r": EOF`,
			want: `Get "https://` + Marker + `@git.example.com:8443/o/r": EOF`},
		{name: "password with # ? / % @", in: `parse "https://u:p#a?s/s%zz@w@host/r.git": invalid port`,
			want: `parse "https://` + Marker + `@host/r.git": invalid port`},
		{name: "ssh URL", in: "ssh://git@host:22/r.git", want: "ssh://" + Marker + "@host:22/r.git"},
		{name: "scp-like address is kept", in: "git@github.com:o/r.git", want: "git@github.com:o/r.git"},
		{name: "two URLs", in: "from http://a:b@x to https://c:d@y/z", want: "from http://" + Marker + "@x to https://" + Marker + "@y/z"},
		{name: "URL ends at a new line", in: "https://h/p\nmail me@x", want: "https://h/p\nmail me@x"},
		{name: "query tokens", in: "GET https://gitlab.example/api/v4/projects?private_token=glp-abc&per_page=2&access_token=xyz&token=t1",
			want: "GET https://gitlab.example/api/v4/projects?private_token=" + Marker + "&per_page=2&access_token=" + Marker + "&token=" + Marker},
		{name: "signed URL", in: "https://b.s3.amazonaws.com/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=abcdef",
			want: "https://b.s3.amazonaws.com/k?X-Amz-Credential=" + Marker + "&X-Amz-Signature=" + Marker},
		{name: "authorization header", in: "Authorization: Bearer abc.def.ghi", want: "Authorization: Bearer " + Marker},
		{name: "basic header", in: "authorization=Basic dXNlcjpwYXNz", want: "authorization=Basic " + Marker},
		{name: "private-token header", in: "PRIVATE-TOKEN: glpat-xxxxxxxx", want: "PRIVATE-TOKEN: " + Marker},
		{name: "bearer anywhere", in: "sent bearer eyJhbGciOiJIUzI1NiJ9.e30.x", want: "sent bearer " + Marker},
		{name: "short words after bearer stay", in: "a bearer token is needed", want: "a bearer token is needed"},
		{name: "JSON", in: `{"message":"bad","access_token":"abc\"def","x":1}`, want: `{"message":"bad","access_token":"` + Marker + `","x":1}`},
		{name: "GitHub token", in: "token ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123 rejected", want: "token " + Marker + " rejected"},
		{name: "GitLab token", in: "glpat-abcdefghijklmnopqrst1 expired", want: Marker + " expired"},
		{name: "AWS key id", in: "key AKIAIOSFODNN7EXAMPLE denied", want: "key " + Marker + " denied"},
		{name: "private key", in: "got -----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY----- here", want: "got " + Marker + " here"},
		{name: "given secrets, also encoded", in: "pa ss and pa+ss and pa%20ss", secrets: []string{"pa ss", ""}, want: Marker + " and " + Marker + " and " + Marker},
		{name: "nothing", in: "", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := String(tc.in, tc.secrets...); got != tc.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestError(t *testing.T) {
	if Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
	clean := errors.New("nothing to hide")
	if got := Error(clean); got != clean { //nolint:errorlint // the very same error, not one it wraps
		t.Error("an error with nothing to redact was wrapped")
	}
	base := &fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}
	err := Error(fmt.Errorf("clone https://u:pw@h/r: %w", base), "other")
	if strings.Contains(err.Error(), "pw") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v (Is ErrNotExist: %v)", err, errors.Is(err, fs.ErrNotExist))
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		t.Error("errors.As lost the wrapped error")
	}
}

func TestExcerpt(t *testing.T) {
	body := "<html>\r\n<title>500</title>\x00\x1b[31m token=abc " + strings.Repeat("é ", 1<<19) + "\xff"
	got := Excerpt(body)
	if len(got) > MaxExcerpt || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("Excerpt = %q (%d bytes)", got, len(got))
	}
	if !strings.HasPrefix(got, "<html> <title>500</title> [31m token="+Marker+" é") {
		t.Errorf("Excerpt = %q", got)
	}
	for _, r := range got {
		if unicode.IsControl(r) {
			t.Errorf("control character %U in %q", r, got)
		}
	}
	// A URL cut by the input bound never shows half its user information.
	long := strings.Repeat("x ", maxExcerptInput/2-4) + "https://u:" + strings.Repeat("p", 100) + "@host"
	if got := Excerpt(long); strings.Contains(got, "ppp") {
		t.Errorf("Excerpt shows part of a password: %q", got[len(got)-50:])
	}
	err := Remote(fmt.Errorf("wrapped: %w", fs.ErrPermission))
	if !errors.Is(err, fs.ErrPermission) || err.Error() != "wrapped: permission denied" {
		t.Errorf("Remote = %v", err)
	}
	if Remote(nil) != nil {
		t.Error("Remote(nil) != nil")
	}
}

// sentinel delimits the fuzzed secret; nothing else the fuzz target builds contains it,
// so any of it in the output is (part of) the secret.
const sentinel = "zq"

// FuzzRedact builds URLs, headers and query strings embedding an arbitrary secret, in
// the messages Go's libraries write around them, and checks that no part of the
// secret survives String, Excerpt or Error.
func FuzzRedact(f *testing.F) {
	for _, seed := range []struct {
		scheme, user, secret, host, path string
		form, wrap                       uint8
	}{
		{"https", "bob", "s3cret", "github.com", "/o/r.git", 0, 0},
		{"https", "", "ghp_0123456789abcdef", "git.example.com:8443", "/o/r", 1, 1},
		{"http", "u", "p#a?s/s%zz@w@", "h", "", 0, 2},
		{"ssh", "git", "a b\tc", "host:22", "/r.git", 0, 3},
		{"https", "", "tok&en=x y", "gitlab.example", "/api/v4/projects", 2, 4},
		{"https", "", "abc.def", "api.github.com", "/repos", 3, 5},
		{"git+ssh", "x", "://@://", "h", "/p?q=@", 0, 6},
		{"https", "oauth2", "\xff\x00é\"'", "h", "/p", 4, 7},
	} {
		f.Add(seed.scheme, seed.user, seed.secret, seed.host, seed.path, seed.form, seed.wrap)
	}
	f.Fuzz(func(t *testing.T, scheme, user, secret, host, path string, form, wrap uint8) {
		scheme, user, host, path = plain(scheme, "+.-"), plain(user, "._-"), plain(host, ".-:[]"), plain(path, "/.-_~")
		if scheme == "" {
			scheme = "https"
		}
		if host == "" {
			host = "h"
		}
		if path != "" && path[0] != '/' {
			path = "/" + path
		}
		// A URL word ends at white space; a secret with some is not in a URL.
		secret = sentinel + strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
				return '_'
			}
			return r
		}, secret) + sentinel
		var shown string
		switch form % 5 {
		case 0: // user:password
			shown = scheme + "://" + user + ":" + secret + "@" + host + path
		case 1: // token as the user name
			shown = scheme + "://" + secret + "@" + host + path
		case 2: // a query parameter, encoded as clients send it
			name := []string{"access_token", "private_token", "token", "password", "client_secret", "X-Amz-Signature"}[int(wrap)%6]
			shown = scheme + "://" + host + path + "?per_page=100&" + name + "=" + url.QueryEscape(secret)
		case 3: // a header; header values end at these
			v := strings.Map(func(r rune) rune {
				if strings.ContainsRune(`,;"'<>`, r) {
					return '_'
				}
				return r
			}, secret)
			shown = []string{"Authorization: Bearer ", "Authorization: token ", "PRIVATE-TOKEN: ", "authorization: Basic "}[int(wrap)%4] + v
			secret = v
		case 4: // the password of a URL in a JSON body
			shown = `{"url":"` + scheme + "://" + user + ":" + strings.ReplaceAll(secret, `"`, `\"`) + "@" + host + path + `"}`
		}
		var msg string
		switch wrap % 8 {
		case 0:
			msg = "failed to clone " + shown + ": authentication required"
		case 1:
			msg = fmt.Sprintf("Get %q: dial tcp 127.0.0.1:1: connect: connection refused", shown)
		case 2:
			msg = fmt.Sprintf("parse %q: net/url: invalid userinfo", shown)
		case 3:
			msg = shown
		case 4:
			msg = "error: " + shown + "\nremote: denied"
		case 5:
			msg = fmt.Sprintf("unexpected requesting %q status code: 500: <pre>%s</pre>", shown, shown)
		case 6:
			msg = "(" + shown + ")"
		case 7:
			msg = fmt.Sprintf("%v", []string{shown, "x"})
		}
		for name, out := range map[string]string{
			"String":  String(msg),
			"Excerpt": Excerpt(msg),
			"Error":   Error(errors.New(msg)).Error(),
		} {
			if strings.Contains(out, sentinel) {
				t.Fatalf("%s shows the secret %q:\n in: %q\nout: %q", name, secret, msg, out)
			}
		}
	})
}

// plain keeps the letters, digits and extra runes of s, except those that would
// spell the sentinel.
func plain(s, extra string) string {
	s = strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(extra, r)) {
			return r
		}
		return -1
	}, s)
	return strings.ReplaceAll(strings.ReplaceAll(s, "z", "y"), "Z", "Y")
}
