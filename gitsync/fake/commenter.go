package fake

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ballast-dev/ballast/gitsync"
)

// Call is one recorded call to the Commenter.
type Call struct {
	// Method is "Login", "List", "Create" or "Update".
	Method string
	// ID is the comment ID passed to Update.
	ID int64
	// Body is the body passed to Create or Update.
	Body string
}

// Commenter is an in-memory pull request: it records every call, keeps comments in
// order of creation, and returns an injected error from the next call when NextError is
// set. The zero value is not ready; use New.
type Commenter struct {
	mu sync.Mutex
	// Me is the login Login returns and Create and Update write as.
	Me string
	// MaxLength is what MaxBodyLength returns.
	MaxLength int
	// NextError, when set, is returned by the next call, then cleared.
	NextError error

	comments []gitsync.Comment
	calls    []Call
	nextID   int64
	now      time.Time
}

// New returns a pull request without comments on which login writes.
func New(login string) *Commenter {
	return &Commenter{Me: login, MaxLength: 65536, nextID: 1, now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

// Add puts a comment by author on the pull request, as another writer would, and
// returns its ID.
func (c *Commenter) Add(author, body string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.add(author, body).ID
}

func (c *Commenter) add(author, body string) gitsync.Comment {
	c.now = c.now.Add(time.Second)
	cm := gitsync.Comment{ID: c.nextID, Author: author, Body: body, UpdatedAt: c.now, URL: fmt.Sprintf("https://forge.test/pr/1#comment-%d", c.nextID)}
	c.nextID++
	c.comments = append(c.comments, cm)
	return cm
}

// Comments returns the comments now on the pull request.
func (c *Commenter) Comments() []gitsync.Comment {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]gitsync.Comment(nil), c.comments...)
}

// Calls returns the calls made so far.
func (c *Commenter) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.calls...)
}

// Reset forgets the recorded calls and any injected error; comments stay.
func (c *Commenter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.NextError = nil, nil
}

func (c *Commenter) record(call Call) error {
	c.calls = append(c.calls, call)
	err := c.NextError
	c.NextError = nil
	return err
}

// Login implements gitsync.Commenter.
func (c *Commenter) Login(context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(Call{Method: "Login"}); err != nil {
		return "", err
	}
	return c.Me, nil
}

// List implements gitsync.Commenter.
func (c *Commenter) List(context.Context) ([]gitsync.Comment, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(Call{Method: "List"}); err != nil {
		return nil, err
	}
	return append([]gitsync.Comment(nil), c.comments...), nil
}

// Create implements gitsync.Commenter.
func (c *Commenter) Create(_ context.Context, body string) (gitsync.Comment, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(Call{Method: "Create", Body: body}); err != nil {
		return gitsync.Comment{}, err
	}
	if len(body) > c.MaxLength {
		return gitsync.Comment{}, fmt.Errorf("body is %d bytes, more than %d", len(body), c.MaxLength)
	}
	return c.add(c.Me, body), nil
}

// Update implements gitsync.Commenter.
func (c *Commenter) Update(_ context.Context, id int64, body string) (gitsync.Comment, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(Call{Method: "Update", ID: id, Body: body}); err != nil {
		return gitsync.Comment{}, err
	}
	if len(body) > c.MaxLength {
		return gitsync.Comment{}, fmt.Errorf("body is %d bytes, more than %d", len(body), c.MaxLength)
	}
	for i := range c.comments {
		if c.comments[i].ID == id {
			if c.comments[i].Author != c.Me {
				return gitsync.Comment{}, fmt.Errorf("comment %d belongs to %s", id, c.comments[i].Author)
			}
			c.now = c.now.Add(time.Second)
			c.comments[i].Body, c.comments[i].UpdatedAt = body, c.now
			return c.comments[i], nil
		}
	}
	return gitsync.Comment{}, fmt.Errorf("no comment %d", id)
}

// MaxBodyLength implements gitsync.Commenter.
func (c *Commenter) MaxBodyLength() int { return c.MaxLength }

var _ gitsync.Commenter = (*Commenter)(nil)
