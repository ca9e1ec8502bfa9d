package render

import (
	"os"
	"path/filepath"
	"testing"

	awsapis "github.com/aws/karpenter-provider-aws/pkg/apis"

	"github.com/ballast-dev/ballast/crdcheck"
)

// loadCRDs compiles Karpenter's AWS CRDs (the NodePool CRD of the AWS provider carries
// the karpenter.k8s.aws label rules) and Ballast's own.
func loadCRDs(t *testing.T) *crdcheck.Checker {
	t.Helper()
	sources := [][]byte{awsapis.EC2NodeClassCRD, awsapis.NodePoolCRD}
	for _, f := range []string{"ballast.dev_clusterpolicies.yaml", "ballast.dev_workloaddistributionrules.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "config", "crd", "bases", f))
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, data)
	}
	c, err := crdcheck.New(sources...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRenderedObjectsMatchCRDs checks every document of every golden case against the
// real CRD schemas and CEL rules, without an API server. test/rendering repeats this
// against a real kube-apiserver. crdcheck's own tests show that the check rejects what
// the API server rejects.
func TestRenderedObjectsMatchCRDs(t *testing.T) {
	checker := loadCRDs(t)
	for _, c := range loadCases(t) {
		t.Run(c.name, func(t *testing.T) {
			docs := splitDocuments(mustRender(t, c.in))
			if len(docs) == 0 {
				t.Fatal("the case renders nothing")
			}
			for i, doc := range docs {
				violations, err := checker.CheckYAML(doc)
				if err != nil {
					t.Fatalf("document %d: %v", i, err)
				}
				for _, v := range violations {
					t.Errorf("document %d: %s", i, v)
				}
			}
		})
	}
}
