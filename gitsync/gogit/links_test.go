package gogit

import (
	"os"
	"path/filepath"
	"testing"
)

func TestEscapes(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a/b", "sub", "deep/er/est"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"sub/up":    "..",                  // the root itself: inside
		"sub/loop1": "loop2",               // loops
		"sub/loop2": "loop1",               //
		"to-deep":   "deep/er",             // inside
		"a/b/ok":    "../../sub",           // inside
		"a/b/chain": "../../to-deep/../..", // deep/er/../.. is deep's parent, the root: inside
	} {
		if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		from, target, want string
	}{
		{".", "/etc/passwd", "is absolute"},
		{".", "../x", "leads out of the repository"},
		{"a/b", "../../x", ""},
		{"a/b", "../../../x", "leads out of the repository"},
		{".", "sub/up", ""},
		// Lexically sub/up/.. is sub, but up is the root, so .. is its parent.
		{".", "sub/up/..", "leads out of the repository"},
		{"sub", "up/../etc", "leads out of the repository"},
		{".", "sub/loop1", "loops"},
		{".", "to-deep/../..", ""},
		{".", "to-deep/../../..", "leads out of the repository"},
		{".", "a/b/chain/x", ""},
		{".", "a/b/chain/../x", "leads out of the repository"},
		{"deep/er", "missing/../../x", ""},
	} {
		if got := escapes(root, tc.from, tc.target); got != tc.want {
			t.Errorf("escapes(%s, %s) = %q, want %q", tc.from, tc.target, got, tc.want)
		}
	}
}
