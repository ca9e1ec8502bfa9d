package app

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
)

func TestRedactingLogger(t *testing.T) {
	var out strings.Builder
	l := redactingLogger(funcr.New(func(prefix, args string) { out.WriteString(prefix + " " + args + "\n") }, funcr.Options{}))
	l = l.WithValues("url", "https://u:s3cret-one@git.example.com/r.git")
	l.Info("fetching https://token-two@git.example.com/r.git", "auth", "Authorization: Bearer abcdefgh-three")
	l.WithName("sync").Error(errors.New(`parse "https://u:p#ss/four@h": invalid port`), "failed", "count", 3)
	got := out.String()
	for _, secret := range []string{"s3cret-one", "token-two", "abcdefgh-three", "p#ss/four"} {
		if strings.Contains(got, secret) {
			t.Errorf("the log shows %q:\n%s", secret, got)
		}
	}
	if !strings.Contains(got, `"count"=3`) || !strings.Contains(got, "git.example.com/r.git") {
		t.Errorf("the log lost what it should show:\n%s", got)
	}
}

func TestCLIErrorsAreRedacted(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := MainContext(context.Background(), []string{"validate", "https://user:pa55-w#rd@git.example.com/policies"}, strings.NewReader(""), &stdout, &stderr)
	if code == ExitOK {
		t.Fatalf("validate of a URL succeeded: %s", stdout.String())
	}
	if strings.Contains(stderr.String()+stdout.String(), "pa55-w#rd") || !strings.Contains(stderr.String()+stdout.String(), "git.example.com") {
		t.Errorf("output:\n%s%s", stdout.String(), stderr.String())
	}
}
