package app

import (
	"strings"
	"testing"
)

// TestDevFlags: ballast dev refuses an unknown forge, scenario or output before it
// starts anything.
func TestDevFlags(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"dev", "--forge", "github"}, `Error: --forge "github": one of auto, git, gitea`},
		{[]string{"dev", "--forge", ""}, `Error: --forge "": one of auto, git, gitea`},
		{[]string{"dev", "--scenario", "outage"}, `Error: --scenario "outage": one of spot-outage, scale, policy-change`},
		{[]string{"dev", "-o", "yaml"}, `Error: -o "yaml": only json`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := run(tc.args...)
			if code != ExitError || stdout != "" || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, stdout, stderr, ExitError, tc.stderr)
			}
		})
	}
}
