package gogit_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/gitsync/gogit"
)

// TestReadFile reads back what WriteFile wrote, over every transport; a missing branch
// or file is a NotFoundError, so that a caller can tell "never written" from a failure.
func TestReadFile(t *testing.T) {
	ctx := context.Background()
	r := newRemotes(t)
	r.repo.Commit(t, "main", "policies", map[string]string{"policies/a.yaml": "1"})
	w := gogit.NewFileWriter()

	r.each(t, func(t *testing.T, url string, auth gitsync.Auth) {
		branch := "status-" + strings.ReplaceAll(t.Name()[strings.LastIndex(t.Name(), "/")+1:], "-", "")
		read := gitsync.FileReadOptions{URL: url, Auth: auth, Branch: branch, Path: "status/prod.yaml"}
		if _, err := w.ReadFile(ctx, read); !gitsync.IsNotFound(err) {
			t.Errorf("read of a missing branch: err = %v, want a NotFoundError", err)
		}
		if _, _, err := w.WriteFile(ctx, gitsync.FileWriteOptions{URL: url, Auth: auth, Branch: branch, Path: "status/prod.yaml",
			Content: []byte("revision: 1\n")}); err != nil {
			t.Fatal(err)
		}
		got, err := w.ReadFile(ctx, read)
		if err != nil || string(got) != "revision: 1\n" {
			t.Errorf("read = %q, %v", got, err)
		}
		// Another cluster's file on the same branch: this one is read unchanged.
		if _, _, err := w.WriteFile(ctx, gitsync.FileWriteOptions{URL: url, Auth: auth, Branch: branch, Path: "status/staging.yaml",
			Content: []byte("revision: 9\n")}); err != nil {
			t.Fatal(err)
		}
		if got, err := w.ReadFile(ctx, gitsync.FileReadOptions{URL: url, Auth: auth, Branch: branch, Path: "/status/prod.yaml"}); err != nil || string(got) != "revision: 1\n" {
			t.Errorf("read after another file's commit = %q, %v", got, err)
		}
		read.Path = "status/dev.yaml"
		if _, err := w.ReadFile(ctx, read); !gitsync.IsNotFound(err) {
			t.Errorf("read of a missing file: err = %v, want a NotFoundError", err)
		}
		read.Branch = "main"
		read.Path = "policies/a.yaml"
		if got, err := w.ReadFile(ctx, read); err != nil || string(got) != "1" {
			t.Errorf("read of main = %q, %v", got, err)
		}
	})
}

func TestReadFileAuthFailure(t *testing.T) {
	r := newRemotes(t)
	r.repo.Commit(t, "status", "status", map[string]string{"s.yaml": "x"})
	_, err := gogit.NewFileWriter().ReadFile(context.Background(), gitsync.FileReadOptions{URL: r.http.RepoURL("policies"),
		Auth: gitsync.Auth{Username: testUser, Password: "wrong-pa55word"}, Branch: "status", Path: "s.yaml"})
	if !gitsync.IsAuth(err) || strings.Contains(err.Error(), "wrong-pa55word") {
		t.Errorf("err = %v, want an AuthError without the password", err)
	}
	if _, err := gogit.NewFileWriter().ReadFile(context.Background(), gitsync.FileReadOptions{URL: r.http.RepoURL("policies"),
		Auth: r.basic, Branch: "status", Path: "../s.yaml"}); err == nil {
		t.Error("a path leaving the repository was read")
	}
}
