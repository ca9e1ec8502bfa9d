package localcluster_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/ballast-dev/ballast/localcluster"
)

// TestBallastSources: the files a test of the binary opens, so that the go command runs
// it again when one of them changes, include the controllers' code, the files the
// binary embeds and the module's requirements, and nothing outside this module.
func TestBallastSources(t *testing.T) {
	files, err := localcluster.BallastSources()
	if err != nil {
		t.Fatal(err)
	}
	root := localcluster.RepoRoot()
	for _, want := range []string{
		"go.mod", "go.sum", "cmd/ballast/main.go",
		"controllers/internal/trim/trim.go", "controllers/distribution/statusbatch.go",
		"cost/catalogue.go",
	} {
		if !slices.Contains(files, filepath.Join(root, want)) {
			t.Errorf("%s is not among the %d sources of the binary", want, len(files))
		}
	}
	embedded := false
	for _, f := range files {
		rel, err := filepath.Rel(root, f)
		if err != nil || !filepath.IsLocal(rel) {
			t.Errorf("%s is outside the module", f)
		}
		if filepath.Dir(rel) != "." && filepath.Ext(f) != ".go" && filepath.Base(f) != "go.mod" {
			embedded = true
		}
	}
	if !embedded {
		t.Error("no embedded file (the price catalogue) among the sources")
	}
}
