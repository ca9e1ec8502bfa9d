package githubtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MaxBody is GitHub's limit on a comment body, in characters.
const MaxBody = 65536

// Comment is a comment as the server keeps it.
type Comment struct {
	ID        int64
	Login     string
	Body      string
	UpdatedAt time.Time
	// Edits counts the PATCHes that changed it.
	Edits int
}

// Request is one request the server answered.
type Request struct {
	Method, Path, Query string
	Status              int
}

// Server is a GitHub API under URL + "/api/v3/" (the GitHub Enterprise layout, which
// go-github's WithEnterpriseURLs targets). Tokens map to logins; a missing or unknown
// token gets 401. Set UserForbidden to answer GET /user with 403, as GitHub does for
// Actions' GITHUB_TOKEN.
type Server struct {
	*httptest.Server
	// UserForbidden makes GET /user answer 403.
	UserForbidden bool
	// EchoAuthorization makes error responses quote the Authorization header, as a
	// misbehaving proxy might, to test that clients redact tokens.
	EchoAuthorization bool

	mu       sync.Mutex
	tokens   map[string]string
	comments map[string][]*Comment // by "owner/repo#number"
	statuses map[string][]*Status  // by "owner/repo@sha", oldest first
	requests []Request
	nextID   int64
	clock    time.Time
}

// NewServer starts a server that accepts the given token for login; it stops when the
// test ends.
func NewServer(t testing.TB, token, login string) *Server {
	s := &Server{tokens: map[string]string{token: login}, comments: map[string][]*Comment{}, statuses: map[string][]*Status{}, nextID: 1000,
		clock: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// AddToken accepts another token, for another login.
func (s *Server) AddToken(token, login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = login
}

// Add puts a comment by login on issue number of owner/repo and returns its ID.
func (s *Server) Add(owner, repo string, number int, login, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.add(fmt.Sprintf("%s/%s#%d", owner, repo, number), login, body).ID
}

func (s *Server) add(issue, login, body string) *Comment {
	s.clock = s.clock.Add(time.Second)
	c := &Comment{ID: s.nextID, Login: login, Body: body, UpdatedAt: s.clock}
	s.nextID++
	s.comments[issue] = append(s.comments[issue], c)
	return c
}

// Comments returns copies of the comments on issue number of owner/repo.
func (s *Server) Comments(owner, repo string, number int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.comments[fmt.Sprintf("%s/%s#%d", owner, repo, number)] {
		out = append(out, *c)
	}
	return out
}

// Requests returns the requests answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

var (
	listPath   = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/issues/([0-9]+)/comments$`)
	updatePath = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/issues/comments/([0-9]+)$`)
)

type apiUser struct {
	Login string `json:"login"`
	ID    int64  `json:"id"`
	Type  string `json:"type"`
}

type apiComment struct {
	ID        int64   `json:"id"`
	Body      string  `json:"body"`
	User      apiUser `json:"user"`
	CreatedAt string  `json:"created_at"`
	UpdatedAt string  `json:"updated_at"`
	HTMLURL   string  `json:"html_url"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := &Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
	defer func() { s.requests = append(s.requests, *rec) }()
	reply := func(status int, v any) {
		rec.Status = status
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(status int, msg string) {
		if s.EchoAuthorization {
			msg += " (Authorization: " + r.Header.Get("Authorization") + ")"
		}
		reply(status, map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"})
	}
	login, ok := s.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	if !ok {
		fail(http.StatusUnauthorized, "Bad credentials")
		return
	}
	toAPI := func(issue string, c *Comment) apiComment {
		return apiComment{ID: c.ID, Body: c.Body, User: apiUser{Login: c.Login, ID: int64(len(c.Login)), Type: "User"},
			CreatedAt: c.UpdatedAt.Format(time.RFC3339), UpdatedAt: c.UpdatedAt.Format(time.RFC3339),
			HTMLURL: fmt.Sprintf("%s/%s#issuecomment-%d", s.URL, issue, c.ID)}
	}
	switch {
	case statusesPath.MatchString(r.URL.Path) || listStatusesPath.MatchString(r.URL.Path):
		s.serveStatuses(w, r, login, reply, fail)
	case r.URL.Path == "/api/v3/user" && r.Method == http.MethodGet:
		if s.UserForbidden {
			fail(http.StatusForbidden, "Resource not accessible by integration")
			return
		}
		reply(http.StatusOK, apiUser{Login: login, ID: 1, Type: "User"})
	case listPath.MatchString(r.URL.Path):
		m := listPath.FindStringSubmatch(r.URL.Path)
		issue := m[1] + "/" + m[2] + "#" + m[3]
		switch r.Method {
		case http.MethodGet:
			perPage, page := queryInt(r, "per_page", 30), queryInt(r, "page", 1)
			perPage = min(perPage, 100)
			all := s.comments[issue]
			from, to := min((page-1)*perPage, len(all)), min(page*perPage, len(all))
			if to < len(all) {
				next := *r.URL
				q := next.Query()
				q.Set("page", strconv.Itoa(page+1))
				next.RawQuery = q.Encode()
				w.Header().Set("Link", fmt.Sprintf(`<%s%s>; rel="next"`, s.URL, next.RequestURI()))
			}
			out := []apiComment{}
			for _, c := range all[from:to] {
				out = append(out, toAPI(issue, c))
			}
			reply(http.StatusOK, out)
		case http.MethodPost:
			var in struct{ Body string }
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Body == "" {
				fail(http.StatusUnprocessableEntity, "Validation Failed")
				return
			}
			if len([]rune(in.Body)) > MaxBody {
				fail(http.StatusUnprocessableEntity, "Validation Failed: body is too long (maximum is 65536 characters)")
				return
			}
			reply(http.StatusCreated, toAPI(issue, s.add(issue, login, in.Body)))
		default:
			fail(http.StatusMethodNotAllowed, "Method Not Allowed")
		}
	case updatePath.MatchString(r.URL.Path) && r.Method == http.MethodPatch:
		m := updatePath.FindStringSubmatch(r.URL.Path)
		id, _ := strconv.ParseInt(m[3], 10, 64)
		var in struct{ Body string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Body == "" {
			fail(http.StatusUnprocessableEntity, "Validation Failed")
			return
		}
		if len([]rune(in.Body)) > MaxBody {
			fail(http.StatusUnprocessableEntity, "Validation Failed: body is too long (maximum is 65536 characters)")
			return
		}
		for issue, list := range s.comments {
			if !strings.HasPrefix(issue, m[1]+"/"+m[2]+"#") {
				continue
			}
			for _, c := range list {
				if c.ID == id {
					s.clock = s.clock.Add(time.Second)
					c.Body, c.UpdatedAt = in.Body, s.clock
					c.Edits++
					reply(http.StatusOK, toAPI(issue, c))
					return
				}
			}
		}
		fail(http.StatusNotFound, "Not Found")
	default:
		fail(http.StatusNotFound, "Not Found")
	}
}

func queryInt(r *http.Request, name string, def int) int {
	if n, err := strconv.Atoi(r.URL.Query().Get(name)); err == nil && n > 0 {
		return n
	}
	return def
}
