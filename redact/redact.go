package redact

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Marker replaces what was removed.
const Marker = "[REDACTED]"

// MaxExcerpt bounds what Excerpt keeps of a remote server's reply, in bytes.
const MaxExcerpt = 256

var (
	// queryParam is a query-string (or form, or log field) parameter whose name says
	// it holds a credential: access_token, private_token, token, password, client_secret,
	// X-Amz-Signature, api_key... The value ends where a parameter or a word ends.
	queryParam = regexp.MustCompile(`(?i)((?:^|[^A-Za-z0-9_.-])[A-Za-z0-9_.-]*(?:token|passw(?:or)?d|pwd|secret|signature|sig|credential|api[_-]?key|apikey))(=)([^&\s"'<>]+)`)
	// header is an HTTP header (or a "name: value" in a message) that carries a
	// credential, with or without its scheme (Bearer, Basic, token...).
	header = regexp.MustCompile(`(?i)((?:proxy-)?authorization|private-token|job-token|deploy-token|x-[a-z0-9-]*(?:token|key|secret)|cookie|set-cookie)(\s*[:=]\s*)((?:bearer|basic|token|bot|digest|negotiate|aws4-hmac-sha256)\s+)?([^\s,;"'<>]+)`)
	// bearer is a bearer token anywhere ("Bearer abc...").
	bearer = regexp.MustCompile(`(?i)(\bbearer\s+)([A-Za-z0-9._~+/=-]{8,})`)
	// jsonField is a JSON member whose name says it holds a credential, as a server may
	// echo a request.
	jsonField = regexp.MustCompile(`(?i)("[A-Za-z0-9_.-]*(?:token|passw(?:or)?d|secret|api[_-]?key)"\s*:\s*)"(?:[^"\\]|\\.)*"`)
	// knownToken matches credentials recognisable by their shape: GitHub and GitLab
	// tokens, Slack tokens, AWS access key ids.
	knownToken = regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|gl(?:pat|dt|rt|cbt|ptt|ft|imt|agent|oas|soat|ffct)-[A-Za-z0-9_-]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,})\b`)
	// privateKey is a PEM private key.
	privateKey = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)`)
)

// String returns s with every credential it can recognise replaced by Marker: the
// given secrets (also URL-encoded), the user information of anything that looks like
// scheme://userinfo@host, credential-bearing query parameters, Authorization and token
// headers, bearer tokens, JSON members named like credentials, tokens of a known shape
// and PEM private keys. It never fails, and needs no part of s to parse.
func String(s string, secrets ...string) string {
	s = literal(s, secrets)
	s = userinfo(s)
	s = queryParam.ReplaceAllString(s, "${1}${2}"+Marker)
	s = header.ReplaceAllString(s, "${1}${2}${3}"+Marker)
	s = bearer.ReplaceAllString(s, "${1}"+Marker)
	s = jsonField.ReplaceAllString(s, `${1}"`+Marker+`"`)
	s = knownToken.ReplaceAllString(s, Marker)
	s = privateKey.ReplaceAllString(s, Marker)
	return s
}

// literal replaces the secrets and their URL-encoded forms, longest first so that a
// secret inside another is not left half-replaced.
func literal(s string, secrets []string) string {
	var all []string
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		all = append(all, sec, url.QueryEscape(sec), url.PathEscape(sec), url.UserPassword("x", sec).String()[2:])
	}
	slices.SortFunc(all, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range all {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, Marker)
		}
	}
	return s
}

// userinfo removes what stands between "://" and the last '@' of the same word (a word
// ends at white space or a control character): the user information of a URL, however
// odd the password. A path or query holding an '@' loses more than the user
// information, which is the price of never depending on a parse.
func userinfo(s string) string {
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "://")
		if i < 0 {
			break
		}
		start := i + len("://")
		end := start + wordEnd(rest[start:])
		at := strings.LastIndexByte(rest[start:end], '@')
		if at < 0 {
			// No user information anywhere in this word.
			b.WriteString(rest[:end])
			rest = rest[end:]
			continue
		}
		b.WriteString(rest[:start])
		b.WriteString(Marker)
		rest = rest[start+at:]
	}
	if b.Len() == 0 {
		return s
	}
	b.WriteString(rest)
	return b.String()
}

// wordEnd returns the length of the word s starts with.
func wordEnd(s string) int {
	for i, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return i
		}
	}
	return len(s)
}

// Error returns err with a message passed through String; errors.Is and errors.As
// still see err. It returns err itself when nothing was removed, and nil for nil.
func Error(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := String(msg, secrets...); red != msg {
		return &redacted{msg: red, err: err}
	}
	return err
}

// Excerpt returns what may be shown of text a remote server wrote (an HTTP error body,
// a Git server's message): redacted, control characters turned into spaces, invalid
// UTF-8 replaced and at most MaxExcerpt bytes, cut on a character boundary with "…".
func Excerpt(s string, secrets ...string) string {
	s = String(strings.ToValidUTF8(head(s, maxExcerptInput), "\uFFFD"), secrets...)
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if len(s) <= MaxExcerpt {
		return s
	}
	cut := MaxExcerpt - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// maxExcerptInput bounds the text Excerpt redacts: far more than it keeps.
const maxExcerptInput = 64 << 10

// head returns at most the first n bytes of s, dropping the word the cut would split:
// half a URL could hide the '@' that ends its user information.
func head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := strings.LastIndexFunc(s[:n], func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
	if i < 0 {
		return ""
	}
	return s[:i]
}

// Remote returns err with a message that is the Excerpt of its own: for errors that
// quote what a remote server answered. errors.Is and errors.As still see err.
func Remote(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	return &redacted{msg: Excerpt(err.Error(), secrets...), err: err}
}

// redacted is an error shown with another message.
type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }
