package gitsync

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ballast-dev/ballast/redact"
)

// Stamp records which head commit and which CI run wrote a sticky comment, so that a
// later run can tell whether it describes something newer. It is kept in the comment's
// hidden marker.
type Stamp struct {
	// Commit is the full hash of the head commit the comment describes.
	Commit string
	// CommitTime is that commit's committer time.
	CommitTime time.Time
	// Run orders CI runs of the same pipeline (GitHub's run number, GitLab's pipeline
	// IID); 0 when unknown.
	Run int64
}

// Sticky is one comment a tool keeps up to date on a pull request.
type Sticky struct {
	// Key names the comment in its hidden marker, e.g. "ballast-plan". Comments with
	// other keys are other comments.
	Key string
	// Body is the Markdown to show, without the marker.
	Body string
	// Stamp describes this run.
	Stamp Stamp
	// Author is the login the comment is written as; empty to ask the forge. Only
	// comments by this login are ever edited.
	Author string
	// MergeBase, when set, finds the best common ancestor of two commits (by full hash)
	// in the local repository; it decides which of two commits is newer when one
	// descends from the other. It returns an error when it cannot tell.
	MergeBase func(ctx context.Context, a, b string) (string, error)
}

// Outcome is what Upsert did.
type Outcome string

// The outcomes of Upsert.
const (
	// Created means there was no comment yet and one was posted.
	Created Outcome = "created"
	// Updated means the existing comment was edited in place.
	Updated Outcome = "updated"
	// Unchanged means the existing comment already said the same about the same commit.
	Unchanged Outcome = "unchanged"
	// Superseded means the existing comment describes a newer head, and was left alone.
	Superseded Outcome = "superseded"
)

// Result is what Upsert did and to which comment.
type Result struct {
	Outcome Outcome
	// Comment is the comment as written, or as found when nothing was written.
	Comment Comment
	// Reason explains a Superseded outcome.
	Reason string
}

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9:._/-]*$`)

// Marker is the hidden HTML comment that starts a sticky comment's body.
func Marker(key string, s Stamp) string {
	t := ""
	if !s.CommitTime.IsZero() {
		t = s.CommitTime.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("<!-- %s commit=%s time=%s run=%d -->", key, s.Commit, t, s.Run)
}

// ParseMarker finds the marker with key in body and returns its stamp.
func ParseMarker(key, body string) (Stamp, bool) {
	re := regexp.MustCompile(`(?m)^<!-- ` + regexp.QuoteMeta(key) + `((?: [a-z]+=\S*)*) -->\r?$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return Stamp{}, false
	}
	var s Stamp
	for _, field := range strings.Fields(m[1]) {
		k, v, _ := strings.Cut(field, "=")
		switch k {
		case "commit":
			s.Commit = v
		case "time":
			if t, err := time.Parse(time.RFC3339, v); err == nil {
				s.CommitTime = t
			}
		case "run":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				s.Run = n
			}
		}
	}
	return s, true
}

// Upsert keeps one comment per key on the pull request: it finds the comment by its
// marker among the comments of Sticky.Author (never anybody else's), creates it when
// there is none, leaves it alone when it already says the same about the same commit or
// describes a newer head (see Newer), and edits it in place otherwise. A body longer than
// the forge accepts is cut at a line boundary.
//
// When several comments of the author carry the marker, the oldest is kept up to date.
func Upsert(ctx context.Context, c Commenter, s Sticky) (Result, error) {
	if !keyPattern.MatchString(s.Key) {
		return Result{}, fmt.Errorf("invalid sticky comment key %q", s.Key)
	}
	author := s.Author
	if author == "" {
		login, err := c.Login(ctx)
		if err != nil {
			return Result{}, fmt.Errorf("failed to find out who the token belongs to: %w", err)
		}
		author = login
	}
	marker := Marker(s.Key, s.Stamp)
	// A comment is public to whoever reads the pull request: never a credential.
	full := marker + "\n" + Truncate(redact.String(s.Body), c.MaxBodyLength()-len(marker)-1)

	comments, err := c.List(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("failed to list the comments: %w", err)
	}
	var existing *Comment
	var stamp Stamp
	for i := range comments {
		if !strings.EqualFold(comments[i].Author, author) {
			continue
		}
		if st, ok := ParseMarker(s.Key, comments[i].Body); ok {
			existing, stamp = &comments[i], st
			break
		}
	}
	if existing == nil {
		created, err := c.Create(ctx, full)
		if err != nil {
			return Result{}, fmt.Errorf("failed to create the comment: %w", err)
		}
		return Result{Outcome: Created, Comment: created}, nil
	}
	if stamp.Commit == s.Stamp.Commit && content(existing.Body) == content(full) {
		return Result{Outcome: Unchanged, Comment: *existing}, nil
	}
	if newer, reason := Newer(ctx, stamp, s.Stamp, s.MergeBase); newer {
		return Result{Outcome: Superseded, Comment: *existing, Reason: reason}, nil
	}
	updated, err := c.Update(ctx, existing.ID, full)
	if err != nil {
		return Result{}, fmt.Errorf("failed to update comment %d: %w", existing.ID, err)
	}
	return Result{Outcome: Updated, Comment: updated}, nil
}

// Newer reports whether the existing stamp describes a newer head than ours, and why.
// In order:
//
//  1. Different commits where the local repository knows that one descends from the
//     other (mergeBase): the descendant is newer.
//  2. Otherwise different committer times: the later commit is newer.
//  3. Otherwise (the same commit, or the same time) the higher CI run number is newer.
//
// A tie is not newer, so a rerun of the same commit replaces the comment. A stamp
// without a commit (written by hand or by an older version) is never newer.
func Newer(ctx context.Context, existing, ours Stamp, mergeBase func(ctx context.Context, a, b string) (string, error)) (bool, string) {
	if existing.Commit == "" {
		return false, ""
	}
	if existing.Commit != ours.Commit {
		if mergeBase != nil {
			if mb, err := mergeBase(ctx, existing.Commit, ours.Commit); err == nil {
				switch mb {
				case ours.Commit:
					return true, fmt.Sprintf("it describes commit %s, which descends from this run's commit %s", short(existing.Commit), short(ours.Commit))
				case existing.Commit:
					return false, ""
				}
			}
		}
		if !existing.CommitTime.IsZero() && !ours.CommitTime.IsZero() && !existing.CommitTime.Equal(ours.CommitTime) {
			if existing.CommitTime.After(ours.CommitTime) {
				return true, fmt.Sprintf("it describes commit %s, committed at %s, after this run's commit %s (%s)",
					short(existing.Commit), existing.CommitTime.UTC().Format(time.RFC3339), short(ours.Commit), ours.CommitTime.UTC().Format(time.RFC3339))
			}
			return false, ""
		}
	}
	if existing.Run > 0 && ours.Run > 0 && existing.Run > ours.Run {
		return true, fmt.Sprintf("it was written by run %d, after this run (%d)", existing.Run, ours.Run)
	}
	return false, ""
}

// Truncate cuts body to at most maxLen bytes at a line boundary and says so at the end.
// A body that fits is returned unchanged.
func Truncate(body string, maxLen int) string {
	if len(body) <= maxLen {
		return body
	}
	const note = "\n\n_… cut here to fit the forge's comment size limit._\n"
	keep := maxLen - len(note)
	if keep <= 0 {
		return ""
	}
	cut := body[:keep]
	if i := strings.LastIndexByte(cut, '\n'); i > 0 {
		cut = cut[:i]
	} else {
		for len(cut) > 0 && !utf8.RuneStart(body[len(cut)]) {
			cut = cut[:len(cut)-1]
		}
	}
	return cut + note
}

// content is a body without its marker line, as forges may return it.
func content(body string) string {
	body = strings.ReplaceAll(body, "\r\n", "\n")
	if strings.HasPrefix(body, "<!-- ") {
		if _, rest, ok := strings.Cut(body, "\n"); ok {
			body = rest
		}
	}
	return strings.TrimRight(body, " \n")
}

func short(commit string) string {
	if len(commit) > 7 {
		return commit[:7]
	}
	return commit
}
