package policies

import (
	"testing"

	"github.com/ballast-dev/ballast/policies/policytest"
)

func TestBenchRepositoryIsClean(t *testing.T) {
	repo, err := Load(policytest.Repository(100, 10), ".", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Rules) != 1000 || len(repo.ClusterPolicies) != 2 {
		t.Fatalf("%d rules, %d policies", len(repo.Rules), len(repo.ClusterPolicies))
	}
	if fs := repo.Validate(); len(fs) != 0 {
		t.Errorf("the benchmark repository must be valid, so the benchmark measures the whole validation: %v", fs[0])
	}
}

func BenchmarkLoadValidate(b *testing.B) {
	fsys := policytest.Repository(100, 10)
	b.ReportAllocs()
	for b.Loop() {
		repo, err := Load(fsys, ".", "")
		if err != nil {
			b.Fatal(err)
		}
		if fs := repo.Validate(); len(fs) != 0 {
			b.Fatal(fs[0])
		}
	}
}
