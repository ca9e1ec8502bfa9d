package githubtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// Status is a commit status as the server keeps it.
type Status struct {
	ID                                     int64
	Login                                  string
	State, Context, Description, TargetURL string
	CreatedAt                              time.Time
}

var (
	statusesPath     = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/statuses/([0-9a-f]{40})$`)
	listStatusesPath = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/commits/([^/]+)/statuses$`)
)

// Statuses returns copies of the statuses of commit sha of owner/repo, oldest first.
func (s *Server) Statuses(owner, repo, sha string) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Status
	for _, st := range s.statuses[owner+"/"+repo+"@"+sha] {
		out = append(out, *st)
	}
	return out
}

type apiStatus struct {
	ID          int64   `json:"id"`
	State       string  `json:"state"`
	Context     string  `json:"context"`
	Description string  `json:"description"`
	TargetURL   *string `json:"target_url"`
	Creator     apiUser `json:"creator"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
}

// serveStatuses answers POST /repos/{owner}/{repo}/statuses/{sha} and
// GET /repos/{owner}/{repo}/commits/{ref}/statuses (newest first, paginated), as
// https://docs.github.com/rest/commits/statuses documents. Called with s.mu held.
func (s *Server) serveStatuses(w http.ResponseWriter, r *http.Request, login string, reply func(int, any), fail func(int, string)) {
	toAPI := func(st *Status) apiStatus {
		out := apiStatus{ID: st.ID, State: st.State, Context: st.Context, Description: st.Description,
			Creator:   apiUser{Login: st.Login, ID: int64(len(st.Login)), Type: "User"},
			CreatedAt: st.CreatedAt.Format(time.RFC3339), UpdatedAt: st.CreatedAt.Format(time.RFC3339)}
		if st.TargetURL != "" {
			out.TargetURL = &st.TargetURL
		}
		return out
	}
	if m := statusesPath.FindStringSubmatch(r.URL.Path); m != nil {
		if r.Method != http.MethodPost {
			fail(http.StatusMethodNotAllowed, "Method Not Allowed")
			return
		}
		var in struct {
			State       string  `json:"state"`
			Context     *string `json:"context"`
			Description string  `json:"description"`
			TargetURL   string  `json:"target_url"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			fail(http.StatusBadRequest, "Problems parsing JSON")
			return
		}
		switch in.State {
		case "error", "failure", "pending", "success":
		default:
			fail(http.StatusUnprocessableEntity, fmt.Sprintf("Validation Failed: state %q is not included in the list", in.State))
			return
		}
		ctx := "default"
		if in.Context != nil {
			ctx = *in.Context
		}
		s.clock = s.clock.Add(time.Second)
		st := &Status{ID: s.nextID, Login: login, State: in.State, Context: ctx, Description: in.Description, TargetURL: in.TargetURL, CreatedAt: s.clock}
		s.nextID++
		key := m[1] + "/" + m[2] + "@" + m[3]
		s.statuses[key] = append(s.statuses[key], st)
		reply(http.StatusCreated, toAPI(st))
		return
	}
	m := listStatusesPath.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodGet {
		fail(http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	all := s.statuses[m[1]+"/"+m[2]+"@"+m[3]]
	perPage, page := min(queryInt(r, "per_page", 30), 100), queryInt(r, "page", 1)
	from, to := min((page-1)*perPage, len(all)), min(page*perPage, len(all))
	if to < len(all) {
		next := *r.URL
		q := next.Query()
		q.Set("page", strconv.Itoa(page+1))
		next.RawQuery = q.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<%s%s>; rel="next"`, s.URL, next.RequestURI()))
	}
	out := []apiStatus{}
	for i := len(all) - 1 - from; i >= len(all)-to; i-- {
		out = append(out, toAPI(all[i]))
	}
	reply(http.StatusOK, out)
}
