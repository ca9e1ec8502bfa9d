package app

import (
	"context"
	"os"
	"strings"
	"testing"
)

// mainEnv, when set, makes the test binary run `ballast` with the arguments it holds
// (one a line) instead of the tests. Tests that run the controller more
// than once start it as a process of its own this way: a process runs it once, since
// controller-runtime and Flux register controller names and metrics process-wide.
const mainEnv = "BALLAST_APP_TEST_MAIN"

func TestMain(m *testing.M) {
	if args := os.Getenv(mainEnv); args != "" {
		os.Exit(MainContext(context.Background(), strings.Split(args, "\n"), os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
