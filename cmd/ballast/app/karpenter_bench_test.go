package app

import (
	"os"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/policies/policytest"
)

// BenchmarkValidateTreeKarpenter measures what `ballast validate` adds to
// policies.BenchmarkValidateTree: rendering each cluster and checking its NodePools and
// EC2NodeClass against Karpenter's CRDs. "check" is the check alone, "validate" the
// whole validation with it; Karpenter's CRDs are compiled before the loop, once per
// process as in the command.
func BenchmarkValidateTreeKarpenter(b *testing.B) {
	size := policytest.Size{Namespaces: 1, Rules: 1000}
	dir := b.TempDir()
	if err := policytest.WriteRepository(dir, size); err != nil {
		b.Fatal(err)
	}
	repo, err := policies.Load(os.DirFS(dir), ".", "policies")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	check := karpenterCheck(now)
	for _, p := range repo.ClusterPolicies {
		if fs := check(p); len(fs) != 0 {
			b.Fatal(fs[0])
		}
	}
	b.Run("check", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range repo.ClusterPolicies {
				if fs := check(p); len(fs) != 0 {
					b.Fatal(fs[0])
				}
			}
		}
	})
	b.Run("validate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if fs := repo.ValidateWith(policies.Options{CheckRendered: check}); len(fs) != 0 {
				b.Fatal(fs[0])
			}
		}
	})
}
