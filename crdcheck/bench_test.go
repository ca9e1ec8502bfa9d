package crdcheck_test

import (
	"fmt"
	"testing"

	awsapis "github.com/aws/karpenter-provider-aws/pkg/apis"

	"github.com/ballast-dev/ballast/crdcheck"
)

// BenchmarkCompileKarpenter measures compiling Karpenter's NodePool and EC2NodeClass
// CRDs from YAML, their schemas and CEL rules; Karpenter() pays this once per process,
// less the YAML decoding the Karpenter module's own initialisation has done.
func BenchmarkCompileKarpenter(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := crdcheck.New(awsapis.EC2NodeClassCRD, awsapis.NodePoolCRD); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck measures checking one NodePool and one EC2NodeClass.
func BenchmarkCheck(b *testing.B) {
	checker, err := crdcheck.Karpenter()
	if err != nil {
		b.Fatal(err)
	}
	docs := [][]byte{
		[]byte(fmt.Sprintf(pool, "16h0m0s", "1m0s", "karpenter.k8s.aws/instance-cpu", "Gt", "3")),
		[]byte(fmt.Sprintf(nodeClass, "al2023@latest", "")),
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, doc := range docs {
			if v, err := checker.CheckYAML(doc); err != nil || len(v) != 0 {
				b.Fatal(err, v)
			}
		}
	}
}
