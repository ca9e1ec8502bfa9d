package gitlabtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// MaxBody is GitLab's limit on a note, in characters.
const MaxBody = 1_000_000

// Note is a note as the server keeps it.
type Note struct {
	ID       int64
	Username string
	Body     string
	System   bool
	Updated  time.Time
	// Edits counts the PUTs that changed it.
	Edits int
}

// Request is one request the server answered.
type Request struct {
	Method, Path, Query string
	Status              int
}

// Server is a GitLab API under URL + "/api/v4". Tokens (PRIVATE-TOKEN header) map to
// usernames; a missing or unknown token gets 401. Projects are addressed by numeric ID
// or URL-encoded path, as the API documents; both name the same notes when registered
// with AddProject.
type Server struct {
	*httptest.Server
	// EchoToken makes error responses quote the PRIVATE-TOKEN header, as a misbehaving
	// proxy might, to test that clients redact tokens.
	EchoToken bool

	mu       sync.Mutex
	tokens   map[string]string
	aliases  map[string]string    // project path -> ID
	notes    map[string][]*Note   // by "projectID!iid"
	statuses map[string][]*Status // by "projectID@sha", oldest first
	requests []Request
	nextID   int64
	clock    time.Time
}

// NewServer starts a server that accepts the given token for username; it stops when
// the test ends.
func NewServer(t testing.TB, token, username string) *Server {
	s := &Server{tokens: map[string]string{token: username}, aliases: map[string]string{}, notes: map[string][]*Note{},
		statuses: map[string][]*Status{}, nextID: 5000, clock: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// AddProject lets path (group/project) stand for the numeric project ID.
func (s *Server) AddProject(id int, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aliases[path] = strconv.Itoa(id)
}

// Add puts a note by username on merge request iid of project (ID or path) and returns
// its ID.
func (s *Server) Add(project string, iid int, username, body string, system bool) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.add(s.key(project, strconv.Itoa(iid)), username, body)
	n.System = system
	return n.ID
}

func (s *Server) key(project, iid string) string {
	if id, ok := s.aliases[project]; ok {
		project = id
	}
	return project + "!" + iid
}

func (s *Server) add(mr, username, body string) *Note {
	s.clock = s.clock.Add(time.Second)
	n := &Note{ID: s.nextID, Username: username, Body: body, Updated: s.clock}
	s.nextID++
	s.notes[mr] = append(s.notes[mr], n)
	return n
}

// Notes returns copies of the notes of merge request iid of project.
func (s *Server) Notes(project string, iid int) []Note {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Note
	for _, n := range s.notes[s.key(project, strconv.Itoa(iid))] {
		out = append(out, *n)
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
	notesPath = regexp.MustCompile(`^/api/v4/projects/([^/]+)/merge_requests/([0-9]+)/notes$`)
	notePath  = regexp.MustCompile(`^/api/v4/projects/([^/]+)/merge_requests/([0-9]+)/notes/([0-9]+)$`)
)

type apiAuthor struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
}

type apiNote struct {
	ID           int64     `json:"id"`
	Body         string    `json:"body"`
	Author       apiAuthor `json:"author"`
	System       bool      `json:"system"`
	CreatedAt    string    `json:"created_at"`
	UpdatedAt    string    `json:"updated_at"`
	NoteableType string    `json:"noteable_type"` //nolint:misspell // GitLab's field name
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := r.URL.EscapedPath()
	rec := &Request{Method: r.Method, Path: path, Query: r.URL.RawQuery}
	defer func() { s.requests = append(s.requests, *rec) }()
	reply := func(status int, v any) {
		rec.Status = status
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(status int, msg string) {
		if s.EchoToken {
			msg += " (PRIVATE-TOKEN: " + r.Header.Get("PRIVATE-TOKEN") + ")"
		}
		reply(status, map[string]string{"message": msg})
	}
	username, ok := s.tokens[r.Header.Get("PRIVATE-TOKEN")]
	if !ok {
		fail(http.StatusUnauthorized, "401 Unauthorized")
		return
	}
	toAPI := func(n *Note) apiNote {
		return apiNote{ID: n.ID, Body: n.Body, Author: apiAuthor{ID: int64(len(n.Username)), Username: n.Username, Name: n.Username},
			System: n.System, CreatedAt: n.Updated.Format(time.RFC3339), UpdatedAt: n.Updated.Format(time.RFC3339), NoteableType: "MergeRequest"}
	}
	readBody := func() (string, bool) {
		var in struct{ Body string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Body == "" {
			fail(http.StatusBadRequest, "400 Bad request - body is missing")
			return "", false
		}
		if len([]rune(in.Body)) > MaxBody {
			fail(http.StatusBadRequest, "Note is too long (maximum is 1000000 characters)")
			return "", false
		}
		return in.Body, true
	}
	project := func(escaped string) string {
		p, _ := url.PathUnescape(escaped)
		return p
	}
	switch {
	case setStatusPath.MatchString(path) || listStatusesPath.MatchString(path):
		s.serveStatuses(w, r, path, username, reply, fail)
	case path == "/api/v4/user" && r.Method == http.MethodGet:
		reply(http.StatusOK, map[string]any{"id": 1, "username": username, "name": username, "state": "active"})
	case notesPath.MatchString(path):
		m := notesPath.FindStringSubmatch(path)
		mr := s.key(project(m[1]), m[2])
		switch r.Method {
		case http.MethodGet:
			perPage, page := queryInt(r, "per_page", 20), queryInt(r, "page", 1)
			perPage = min(perPage, 100)
			all := s.notes[mr]
			if r.URL.Query().Get("sort") != "asc" {
				rev := make([]*Note, len(all))
				for i, n := range all {
					rev[len(all)-1-i] = n
				}
				all = rev
			}
			from, to := min((page-1)*perPage, len(all)), min(page*perPage, len(all))
			totalPages := max(1, (len(all)+perPage-1)/perPage)
			w.Header().Set("X-Page", strconv.Itoa(page))
			w.Header().Set("X-Per-Page", strconv.Itoa(perPage))
			w.Header().Set("X-Total", strconv.Itoa(len(all)))
			w.Header().Set("X-Total-Pages", strconv.Itoa(totalPages))
			next := ""
			if to < len(all) {
				next = strconv.Itoa(page + 1)
			}
			w.Header().Set("X-Next-Page", next)
			out := []apiNote{}
			for _, n := range all[from:to] {
				out = append(out, toAPI(n))
			}
			reply(http.StatusOK, out)
		case http.MethodPost:
			body, ok := readBody()
			if !ok {
				return
			}
			reply(http.StatusCreated, toAPI(s.add(mr, username, body)))
		default:
			fail(http.StatusMethodNotAllowed, "405 Method Not Allowed")
		}
	case notePath.MatchString(path) && r.Method == http.MethodPut:
		m := notePath.FindStringSubmatch(path)
		mr := s.key(project(m[1]), m[2])
		id, _ := strconv.ParseInt(m[3], 10, 64)
		for _, n := range s.notes[mr] {
			if n.ID != id {
				continue
			}
			if n.Username != username {
				fail(http.StatusForbidden, "403 Forbidden")
				return
			}
			body, ok := readBody()
			if !ok {
				return
			}
			s.clock = s.clock.Add(time.Second)
			n.Body, n.Updated = body, s.clock
			n.Edits++
			reply(http.StatusOK, toAPI(n))
			return
		}
		fail(http.StatusNotFound, fmt.Sprintf("404 Note %d Not Found", id))
	default:
		fail(http.StatusNotFound, "404 Not Found")
	}
}

func queryInt(r *http.Request, name string, def int) int {
	if n, err := strconv.Atoi(r.URL.Query().Get(name)); err == nil && n > 0 {
		return n
	}
	return def
}
