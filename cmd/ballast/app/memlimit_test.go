package app

import (
	"os"
	"path/filepath"
	"testing"
)

// TestGoMemoryLimit: 90% of the container's limit, from cgroup v2 or v1; none without
// a limit, or when GOMEMLIMIT is set.
func TestGoMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	v2 := write("memory.max", "536870912\n")
	v2max := write("memory.max-unlimited", "max\n")
	v1 := write("memory.limit_in_bytes", "268435456\n")
	v1none := write("memory.limit_in_bytes-unlimited", "9223372036854771712\n")
	missing := filepath.Join(dir, "missing")
	noEnv := func(string) string { return "" }
	for _, c := range []struct {
		name  string
		env   func(string) string
		files []string
		want  int64
	}{
		{"cgroup v2", noEnv, []string{v2, v1}, 536870912 / 10 * 9},
		{"cgroup v1", noEnv, []string{missing, v1}, 268435456 / 10 * 9},
		{"no limit (v2)", noEnv, []string{v2max, v1}, 0},
		{"no limit (v1)", noEnv, []string{missing, v1none}, 0},
		{"no cgroup", noEnv, []string{missing}, 0},
		{"GOMEMLIMIT set", func(k string) string {
			if k == "GOMEMLIMIT" {
				return "300MiB"
			}
			return ""
		}, []string{v2}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := goMemoryLimit(c.env, os.ReadFile, c.files); got != c.want {
				t.Fatalf("%d, want %d", got, c.want)
			}
		})
	}
}

// TestGoGCPercent: the controller's own target unless GOGC sets one (even GOGC=off).
func TestGoGCPercent(t *testing.T) {
	for env, want := range map[string]int{"": controllerGCPercent, "100": -1, "off": -1, "25": -1} {
		if got := goGCPercent(func(k string) string {
			if k == "GOGC" {
				return env
			}
			return ""
		}); got != want {
			t.Errorf("GOGC=%q: %d, want %d", env, got, want)
		}
	}
}
