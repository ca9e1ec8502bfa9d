package fallback_test

import (
	"os"
	"testing"

	"github.com/ballast-dev/ballast/test/controlplane"
)

var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunTests(m, &env)) }
