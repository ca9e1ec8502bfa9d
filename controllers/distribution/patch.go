package distribution

import (
	"encoding/json"
	"reflect"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// placementPatch answers an admission with the JSON patch that turns the pod as
// admitted into the placed one. Placement changes only the fields listed here (labels,
// annotations, node selector, tolerations, affinity, topology spread), so the patch
// sets each of them that changed as a whole ("add" replaces an existing member),
// instead of encoding the whole pod and diffing it against the request: that diff took
// over half of the webhook's answer, and it would also remove every field of the
// request this build's Pod type does not know.
func placementPatch(original, placed *corev1.Pod) admission.Response {
	fields := []struct {
		path        string
		old, placed any
	}{
		{"/metadata/labels", original.Labels, placed.Labels},
		{"/metadata/annotations", original.Annotations, placed.Annotations},
		{"/spec/nodeSelector", original.Spec.NodeSelector, placed.Spec.NodeSelector},
		{"/spec/tolerations", original.Spec.Tolerations, placed.Spec.Tolerations},
		{"/spec/affinity", original.Spec.Affinity, placed.Spec.Affinity},
		{"/spec/topologySpreadConstraints", original.Spec.TopologySpreadConstraints, placed.Spec.TopologySpreadConstraints},
	}
	var ops []jsonpatch.Operation
	for _, f := range fields {
		if reflect.DeepEqual(f.old, f.placed) {
			continue
		}
		if v := reflect.ValueOf(f.placed); v.IsNil() {
			ops = append(ops, jsonpatch.Operation{Operation: "remove", Path: f.path})
			continue
		}
		value, err := asJSON(f.placed)
		if err != nil {
			return admission.Allowed("placement not encodable; admitted unchanged")
		}
		ops = append(ops, jsonpatch.Operation{Operation: "add", Path: f.path, Value: value})
	}
	if len(ops) == 0 {
		return admission.Allowed("")
	}
	return admission.Patched("", ops...)
}

// asJSON returns v encoded, as the value of a patch operation: the response encodes it
// as it is.
func asJSON(v any) (any, error) {
	raw, err := json.Marshal(v)
	return json.RawMessage(raw), err
}
