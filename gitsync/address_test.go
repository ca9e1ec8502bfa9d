package gitsync_test

import (
	"strings"
	"testing"

	"github.com/ballast-dev/ballast/gitsync"
)

func TestCheckGitAddress(t *testing.T) {
	for _, tc := range []struct {
		addr             string
		secure, insecure bool
	}{
		{"https://github.com/o/r.git", true, true},
		{"HTTPS://github.com/o/r.git", true, true},
		{"ssh://git@github.com:22/o/r.git", true, true},
		{"git@github.com:o/r.git", true, true},
		{"github.com:o/r.git", true, true},
		{"http://127.0.0.1:8080/r.git", false, true},
		{"file:///srv/git/r.git", false, true},
		{"git://github.com/o/r.git", false, false},
		{"ftp://host/r.git", false, false},
		{"/srv/git/r.git", false, false},
		{"./r.git", false, false},
		{"", false, false},
	} {
		if err := gitsync.CheckGitAddress(tc.addr, false); (err == nil) != tc.secure || (err != nil && !gitsync.IsAddress(err)) {
			t.Errorf("CheckGitAddress(%q, false) = %v", tc.addr, err)
		}
		if err := gitsync.CheckGitAddress(tc.addr, true); (err == nil) != tc.insecure {
			t.Errorf("CheckGitAddress(%q, true) = %v", tc.addr, err)
		}
	}
	err := gitsync.CheckGitAddress("http://user:p#ss@host/r.git", false)
	if err == nil || strings.Contains(err.Error(), "p#ss") || !strings.Contains(err.Error(), "--allow-insecure-http") {
		t.Errorf("err = %v", err)
	}
}

func TestCheckForgeAddress(t *testing.T) {
	for _, tc := range []struct {
		addr             string
		secure, insecure bool
	}{
		{"", true, true},
		{"https://gitea.example.com", true, true},
		{"http://127.0.0.1:3000", false, true},
		{"ssh://git@host", false, false},
		{"gitea.example.com", false, false},
	} {
		if err := gitsync.CheckForgeAddress(tc.addr, false); (err == nil) != tc.secure {
			t.Errorf("CheckForgeAddress(%q, false) = %v", tc.addr, err)
		}
		if err := gitsync.CheckForgeAddress(tc.addr, true); (err == nil) != tc.insecure {
			t.Errorf("CheckForgeAddress(%q, true) = %v", tc.addr, err)
		}
	}
}
