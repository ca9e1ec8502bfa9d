package cost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

type typeMeta struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Items      []json.RawMessage `json:"items"`
}

// ParseSnapshot reads nodes and pods from `kubectl get nodes,pods -A -o yaml` output:
// a v1 List, NodeList or PodList, or a YAML stream of such objects; ReplicaSets,
// Deployments and StatefulSets in it (and their lists) are read too. FromCluster turns
// the objects into the workload.
func ParseSnapshot(data []byte) (*Workload, error) {
	var c Cluster
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("invalid snapshot: %w", err)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		if err := addObject(&c, raw); err != nil {
			return nil, err
		}
	}
	if len(c.Nodes) == 0 && len(c.Pods) == 0 {
		return nil, errors.New("the snapshot holds no nodes and no pods: take it with `kubectl get nodes,pods -A -o yaml`")
	}
	return FromCluster(c)
}

// addObject adds one object of a snapshot (or the items of a list) to c.
func addObject(c *Cluster, raw json.RawMessage) error {
	var tm typeMeta
	if err := json.Unmarshal(raw, &tm); err != nil {
		return fmt.Errorf("invalid snapshot object: %w", err)
	}
	switch tm.Kind {
	case "List", "NodeList", "PodList", "ReplicaSetList", "DeploymentList", "StatefulSetList":
		for _, item := range tm.Items {
			if err := addObject(c, item); err != nil {
				return err
			}
		}
	case "Node":
		return decodeInto(raw, tm.Kind, &c.Nodes)
	case "Pod":
		return decodeInto(raw, tm.Kind, &c.Pods)
	case "ReplicaSet":
		return decodeInto(raw, tm.Kind, &c.ReplicaSets)
	case "Deployment":
		return decodeInto(raw, tm.Kind, &c.Deployments)
	case "StatefulSet":
		return decodeInto(raw, tm.Kind, &c.StatefulSets)
	}
	return nil
}

// decodeInto decodes raw as a T and appends it to list.
func decodeInto[T corev1.Node | corev1.Pod | appsv1.ReplicaSet | appsv1.Deployment | appsv1.StatefulSet](raw json.RawMessage, kind string, list *[]T) error {
	var o T
	if err := json.Unmarshal(raw, &o); err != nil {
		return fmt.Errorf("invalid %s in snapshot: %w", kind, err)
	}
	*list = append(*list, o)
	return nil
}
