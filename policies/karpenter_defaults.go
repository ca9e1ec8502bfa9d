package policies

import (
	"encoding/json"
	"fmt"

	"github.com/ballast-dev/ballast/crdcheck"
)

// karpenterDefaults fills the Karpenter specs of a ClusterPolicy's spec.nodePools and
// spec.nodeClasses with the defaults of Karpenter's CRDs, before the typed decode.
// Karpenter's Go types cannot tell a field left out from one set to its zero value
// (an expireAfter left out reads as "Never"), so the defaults must be applied while
// the absence can still be seen: a pool renders as the API server would store it.
func karpenterDefaults(data []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	spec, _ := doc["spec"].(map[string]any)
	if spec == nil || (spec["nodePools"] == nil && spec["nodeClasses"] == nil) {
		return data, nil
	}
	checker, err := crdcheck.Karpenter()
	if err != nil {
		return nil, fmt.Errorf("karpenter's CRDs cannot be compiled: %w", err)
	}
	for _, list := range []struct{ field, apiVersion, kind string }{
		{"nodePools", "karpenter.sh/v1", "NodePool"},
		{"nodeClasses", "karpenter.k8s.aws/v1", "EC2NodeClass"},
	} {
		items, _ := spec[list.field].([]any)
		for _, item := range items {
			entry, _ := item.(map[string]any)
			inner, ok := entry["spec"].(map[string]any)
			if !ok {
				continue
			}
			obj := map[string]any{"apiVersion": list.apiVersion, "kind": list.kind, "spec": inner}
			if err := checker.Default(obj); err != nil {
				return nil, err
			}
			entry["spec"] = obj["spec"]
		}
	}
	return json.Marshal(doc)
}
