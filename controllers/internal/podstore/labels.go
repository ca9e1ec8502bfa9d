package podstore

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// KeepsLabel reports whether the cache keeps a pod's label: every one but the topology
// labels the API server copies from the node when it binds the pod (Kubernetes'
// PodTopologyLabels admission: topology.kubernetes.io/zone and /region, and
// topology.k8s.io/ labels). Ballast reads zones and regions on nodes, never on pods,
// and the pods of a workload differ by these alone: kept, the pods of a Deployment
// spread over three zones would hold three label sets instead of one (package trim
// shares a label set between the pods that have it).
func KeepsLabel(key string) bool {
	return key != corev1.LabelTopologyZone && key != corev1.LabelTopologyRegion && !strings.HasPrefix(key, "topology.k8s.io/")
}

// Selector is sel without the requirements on labels the cache does not keep: it
// selects from the cache every pod sel selects on the API server, and maybe more, so a
// caller narrows the pods it lists down further (a workload's pods by their owner, as
// the controllers that own them do).
func Selector(sel labels.Selector) labels.Selector {
	reqs, selectable := sel.Requirements()
	if !selectable {
		return sel
	}
	kept := reqs[:0:0]
	for _, r := range reqs {
		if KeepsLabel(r.Key()) {
			kept = append(kept, r)
		}
	}
	if len(kept) == len(reqs) {
		return sel
	}
	return labels.NewSelector().Add(kept...)
}
