package distribution_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/ballast-dev/ballast/test/controlplane"
)

var env *controlplane.Env

func TestMain(m *testing.M) {
	var err error
	env, err = controlplane.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}
