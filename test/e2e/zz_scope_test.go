package e2e

import (
	"context"
	"testing"
	"time"
)

// minObservation is how long the scope observers must have run unharmed.
const minObservation = 2 * time.Minute

// TestScopeLeftAloneThroughoutTheSuite runs last (this file sorts last, and go test
// runs a package's tests in file order): the scope observers started before the suite
// were never touched while every other test placed, evicted and rebalanced, and for at
// least minObservation. A namespace that is not opted in, Ballast's own namespace
// (though labelled opted in), and a workload that pins its capacity type itself keep
// their original pods, without Ballast's placement and without eviction events.
func TestScopeLeftAloneThroughoutTheSuite(t *testing.T) {
	if rest := minObservation - time.Since(observeFrom); rest > 0 {
		time.Sleep(rest)
	}
	for _, o := range observers {
		problems, err := untouched(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if problems != "" {
			t.Errorf("%s/%s was touched: %s", o.Namespace, o.Name, problems)
		}
	}
	t.Logf("observed for %s", time.Since(observeFrom).Round(time.Second))
}
