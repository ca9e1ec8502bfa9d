package gitlabtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Status is a commit status (an external job) as the server keeps it.
type Status struct {
	ID                                  int64
	Username                            string
	Name, State, Description, TargetURL string
	Created                             time.Time
}

var (
	setStatusPath    = regexp.MustCompile(`^/api/v4/projects/([^/]+)/statuses/([0-9a-f]{40})$`)
	listStatusesPath = regexp.MustCompile(`^/api/v4/projects/([^/]+)/repository/commits/([^/]+)/statuses$`)
)

// Statuses returns copies of the statuses of commit sha of project (ID or path),
// oldest first.
func (s *Server) Statuses(project, sha string) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Status
	for _, st := range s.statuses[s.statusKey(project, sha)] {
		out = append(out, *st)
	}
	return out
}

func (s *Server) statusKey(project, sha string) string {
	if id, ok := s.aliases[project]; ok {
		project = id
	}
	return project + "@" + sha
}

type apiStatus struct {
	ID          int64     `json:"id"`
	SHA         string    `json:"sha"`
	Ref         string    `json:"ref"`
	Status      string    `json:"status"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	TargetURL   *string   `json:"target_url"`
	Author      apiAuthor `json:"author"`
	CreatedAt   string    `json:"created_at"`
}

// serveStatuses answers POST /projects/:id/statuses/:sha and GET
// /projects/:id/repository/commits/:sha/statuses as
// https://docs.gitlab.com/api/commits/ documents: name defaults to "default", a job
// that is pending or running cannot be set to the same state again (400), and the list
// holds only the latest status of each name unless all=true. Called with s.mu held.
func (s *Server) serveStatuses(w http.ResponseWriter, r *http.Request, path, username string, reply func(int, any), fail func(int, string)) {
	unescape := func(p string) string { u, _ := url.PathUnescape(p); return u }
	toAPI := func(sha string, st *Status) apiStatus {
		out := apiStatus{ID: st.ID, SHA: sha, Ref: "main", Status: st.State, Name: st.Name, Description: st.Description,
			Author: apiAuthor{ID: int64(len(st.Username)), Username: st.Username, Name: st.Username}, CreatedAt: st.Created.Format(time.RFC3339)}
		if st.TargetURL != "" {
			out.TargetURL = &st.TargetURL
		}
		return out
	}
	if m := setStatusPath.FindStringSubmatch(path); m != nil {
		if r.Method != http.MethodPost {
			fail(http.StatusMethodNotAllowed, "405 Method Not Allowed")
			return
		}
		in := map[string]string{}
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			var raw map[string]any
			if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
				fail(http.StatusBadRequest, "400 Bad request - invalid JSON")
				return
			}
			for k, v := range raw {
				in[k] = fmt.Sprint(v)
			}
		} else {
			_ = r.ParseForm()
			for k := range r.Form {
				in[k] = r.Form.Get(k)
			}
		}
		switch in["state"] {
		case "pending", "running", "success", "failed", "canceled", "skipped":
		default:
			fail(http.StatusBadRequest, "400 Bad request - state does not have a valid value")
			return
		}
		name := in["name"]
		if name == "" {
			name = "default"
		}
		key := s.statusKey(unescape(m[1]), m[2])
		var latest *Status
		for _, st := range s.statuses[key] {
			if st.Name == name {
				latest = st
			}
		}
		if latest != nil && latest.State == in["state"] && (latest.State == "pending" || latest.State == "running") {
			fail(http.StatusBadRequest, fmt.Sprintf("Cannot transition status via :%s from :%s", in["state"], latest.State))
			return
		}
		s.clock = s.clock.Add(time.Second)
		st := &Status{ID: s.nextID, Username: username, Name: name, State: in["state"], Description: in["description"],
			TargetURL: in["target_url"], Created: s.clock}
		s.nextID++
		s.statuses[key] = append(s.statuses[key], st)
		reply(http.StatusCreated, toAPI(m[2], st))
		return
	}
	m := listStatusesPath.FindStringSubmatch(path)
	if r.Method != http.MethodGet {
		fail(http.StatusMethodNotAllowed, "405 Method Not Allowed")
		return
	}
	q := r.URL.Query()
	var all []*Status
	seen := map[string]bool{}
	list := s.statuses[s.statusKey(unescape(m[1]), m[2])]
	for i := len(list) - 1; i >= 0; i-- {
		st := list[i]
		if (q.Get("name") != "" && st.Name != q.Get("name")) || (q.Get("all") != "true" && seen[st.Name]) {
			continue
		}
		seen[st.Name] = true
		all = append(all, st)
	}
	perPage, page := min(queryInt(r, "per_page", 20), 100), queryInt(r, "page", 1)
	from, to := min((page-1)*perPage, len(all)), min(page*perPage, len(all))
	next := ""
	if to < len(all) {
		next = strconv.Itoa(page + 1)
	}
	out := []apiStatus{}
	for _, st := range all[from:to] {
		out = append(out, toAPI(m[2], st))
	}
	w.Header().Set("X-Page", strconv.Itoa(page))
	w.Header().Set("X-Per-Page", strconv.Itoa(perPage))
	w.Header().Set("X-Total", strconv.Itoa(len(all)))
	w.Header().Set("X-Next-Page", next)
	reply(http.StatusOK, out)
}
