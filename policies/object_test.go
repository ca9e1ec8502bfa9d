package policies

import (
	"reflect"
	"strings"
	"testing"
)

// TestDocumentObject reads Karpenter documents, which Ballast does not decode itself,
// as JSON objects with the API server's number types, and finds their fields again.
func TestDocumentObject(t *testing.T) {
	repo := LoadBytes("pools.yaml", []byte(`apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: gpu
spec:
  weight: 10
  template:
    spec:
      requirements: &reqs
        - key: karpenter.k8s.aws/instance-gpu-count
          operator: Gt
          values: ["0"]
      expireAfter: 720h
  limits:
    nvidia.com/gpu: 8
    ratio: 0.5
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: gpu
spec:
  role: a
  role: b
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: merged
spec:
  <<: {role: a}
---
- a list
`))
	if len(repo.Ignored) != 4 {
		t.Fatalf("%d documents ignored, want 4", len(repo.Ignored))
	}
	pool, findings := repo.Ignored[0].Object()
	if len(findings) > 0 {
		t.Fatal(findings)
	}
	spec := pool["spec"].(map[string]any)
	if w, ok := spec["weight"].(int64); !ok || w != 10 {
		t.Errorf("weight %#v, want int64 10", spec["weight"])
	}
	limits := spec["limits"].(map[string]any)
	if !reflect.DeepEqual(limits, map[string]any{"nvidia.com/gpu": int64(8), "ratio": 0.5}) {
		t.Errorf("limits %#v", limits)
	}
	reqs := spec["template"].(map[string]any)["spec"].(map[string]any)["requirements"].([]any)
	if values := reqs[0].(map[string]any)["values"]; !reflect.DeepEqual(values, []any{"0"}) {
		t.Errorf("values %#v", values)
	}
	if got := repo.Ignored[0].Locate("spec.template.spec.expireAfter").String(); got != "pools.yaml:13:20" {
		t.Errorf("expireAfter at %s", got)
	}

	for i, want := range []string{
		`pools.yaml:24:3: error [duplicate-key] spec.role: "role" is set twice in this mapping (first at line 23)`,
		`pools.yaml:31:3: error [wrong-type] spec: YAML merge keys (<<)`,
		`pools.yaml:33:1: error [wrong-type] expected a mapping of fields, got a list`,
	} {
		obj, findings := repo.Ignored[i+1].Object()
		if obj != nil || len(findings) != 1 || !strings.HasPrefix(findings[0].String(), want) {
			t.Errorf("document %d: %v, %v; want %s", i+1, obj, findings, want)
		}
	}
}
