package cost

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// ParseSnapshot reads a snapshot held in memory; see ReadSnapshot.
func ParseSnapshot(data []byte) (*Workload, error) {
	return ReadSnapshot(bytes.NewReader(data))
}

// ReadSnapshot reads nodes and pods from `kubectl get nodes,pods -A -o yaml` or
// `-o json` output: a v1 List (NodeList, PodList, ...), a YAML stream of such lists or
// objects, or a JSON stream of them; ReplicaSets, Deployments and StatefulSets in it
// (and their lists) are read too, other kinds ignored. FromCluster's rules turn the
// objects into the workload.
//
// The snapshot is read as a stream, one object at a time, and only the fields the
// estimate uses are kept (see snapshotObject), so memory grows with the number of
// nodes and pods, not with the size of the file: a pod's status, probes, env and
// volumes, a node's images and conditions are skipped without being decoded.
func ReadSnapshot(r io.Reader) (*Workload, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	b := newClusterBuilder()
	var err error
	if isJSON(br) {
		err = readJSONSnapshot(br, b)
	} else {
		err = readYAMLSnapshot(br, b)
	}
	if err != nil {
		return nil, err
	}
	if len(b.nodes) == 0 && len(b.pods) == 0 && b.podsSeen == 0 {
		return nil, errors.New("the snapshot holds no nodes and no pods: take it with `kubectl get nodes,pods -A -o yaml`")
	}
	return b.workload()
}

// isJSON reports whether the stream starts, after white space, with a JSON object (a
// brace and a quoted key, or an empty one) or array; YAML streams are read otherwise,
// flow mappings such as {kind: Node, ...} included.
func isJSON(br *bufio.Reader) bool {
	opened := byte(0)
	for n := 1; ; n++ {
		peek, _ := br.Peek(n)
		if len(peek) < n {
			return false
		}
		switch c := peek[n-1]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			continue
		case opened == '{':
			return c == '"' || c == '}'
		case c == '{':
			opened = c
		case c == '[':
			return true
		default:
			return false
		}
	}
}

// snapshotObject is what the estimate reads of any object of a snapshot: the fields
// of a Node, a Pod, a ReplicaSet, a Deployment or a StatefulSet that FromCluster uses,
// and the items of a list. Everything else is skipped.
type snapshotObject struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name            string                  `json:"name"`
		Namespace       string                  `json:"namespace"`
		Labels          map[string]string       `json:"labels"`
		Annotations     map[string]string       `json:"annotations"`
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		snapshotPodSpec
		NodeName string `json:"nodeName"`
		Replicas *int32 `json:"replicas"`
		Template struct {
			Spec snapshotPodSpec `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
	Status struct {
		Phase       corev1.PodPhase     `json:"phase"`
		Allocatable corev1.ResourceList `json:"allocatable"`
	} `json:"status"`
	Items []json.RawMessage `json:"items"`
}

// snapshotPodSpec is what podRequests and accelerator read of a pod spec.
type snapshotPodSpec struct {
	Containers     []snapshotContainer `json:"containers"`
	InitContainers []snapshotContainer `json:"initContainers"`
	Overhead       corev1.ResourceList `json:"overhead"`
}

type snapshotContainer struct {
	Resources     corev1.ResourceRequirements    `json:"resources"`
	RestartPolicy *corev1.ContainerRestartPolicy `json:"restartPolicy"`
}

// podSpec is s as the corev1.PodSpec podRequests and accelerator take.
func (s *snapshotPodSpec) podSpec() *corev1.PodSpec {
	containers := func(cs []snapshotContainer) []corev1.Container {
		out := make([]corev1.Container, len(cs))
		for i := range cs {
			out[i].Resources, out[i].RestartPolicy = cs[i].Resources, cs[i].RestartPolicy
		}
		return out
	}
	return &corev1.PodSpec{Containers: containers(s.Containers), InitContainers: containers(s.InitContainers), Overhead: s.Overhead}
}

// add adds what o says to b: the object itself, or the items of a list.
func (b *clusterBuilder) add(o *snapshotObject) error {
	for _, item := range o.Items {
		io, err := decodeObject(item)
		if err != nil {
			return err
		}
		if err := b.add(io); err != nil {
			return err
		}
	}
	m := &o.Metadata
	switch o.Kind {
	case "Node":
		b.addNode(m.Name, m.Labels, o.Status.Allocatable)
	case "Pod":
		b.podsSeen++
		spec := o.Spec.podSpec()
		b.addPod(m.Namespace, m.Name, m.Labels, m.Annotations, m.OwnerReferences, o.Spec.NodeName, o.Status.Phase, spec)
	case "ReplicaSet":
		b.addReplicaSet(m.Namespace, m.Name, m.OwnerReferences)
	case "Deployment", "StatefulSet":
		b.addWorkload(o.Kind, m.Namespace, m.Name, m.Labels, m.Annotations, o.Spec.Replicas, o.Spec.Template.Spec.podSpec())
	}
	return nil
}

// readJSONSnapshot reads a stream of JSON values: objects, lists, or arrays of them.
// The items of a list are decoded one by one as the stream goes, so that a list is
// never held whole.
func readJSONSnapshot(r io.Reader, b *clusterBuilder) error {
	dec := json.NewDecoder(r)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("invalid snapshot: %w", err)
		}
		switch tok {
		case json.Delim('{'):
			err = readJSONObject(dec, b)
		case json.Delim('['):
			err = readJSONItems(dec, b)
		default:
			err = fmt.Errorf("invalid snapshot: %v is not an object or a list", tok)
		}
		if err != nil {
			return err
		}
	}
}

// readJSONObject reads the rest of an object whose '{' dec has read: its items are
// added as they come, then the object itself.
func readJSONObject(dec *json.Decoder, b *clusterBuilder) error {
	var o snapshotObject
	var fieldErr error
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("invalid snapshot: %w", err)
		}
		var into any
		switch tok {
		case "items":
			switch tok, err := dec.Token(); {
			case err != nil:
				return fmt.Errorf("invalid snapshot: %w", err)
			case tok != json.Delim('['):
				return fmt.Errorf("invalid snapshot: items is not a list but %v", tok)
			}
			if err := readJSONItems(dec, b); err != nil {
				return err
			}
			continue
		case "kind":
			into = &o.Kind
		case "metadata":
			into = &o.Metadata
		case "spec":
			into = &o.Spec
		case "status":
			into = &o.Status
		default:
			into = &skipJSON{}
		}
		var te *json.UnmarshalTypeError
		switch err := dec.Decode(into); {
		case errors.As(err, &te):
			// The value was read: whether it matters depends on the kind, which may
			// come later.
			te.Field = strings.Trim(fmt.Sprint(tok)+"."+te.Field, ".")
			fieldErr = cmp.Or(fieldErr, err)
		case err != nil:
			return objectError(o.Kind, err)
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return fmt.Errorf("invalid snapshot: %w", err)
	}
	if fieldErr != nil {
		if readKind(o.Kind) {
			return objectError(o.Kind, fieldErr)
		}
		return nil
	}
	return b.add(&o)
}

// readJSONItems reads the rest of an array whose '[' dec has read, one object at a
// time.
func readJSONItems(dec *json.Decoder, b *clusterBuilder) error {
	var raw json.RawMessage
	for dec.More() {
		raw = raw[:0]
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("invalid snapshot: %w", err)
		}
		o, err := decodeObject(raw)
		if err != nil {
			return err
		}
		if err := b.add(o); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // ']'
		return fmt.Errorf("invalid snapshot: %w", err)
	}
	return nil
}

// skipJSON is a JSON value read and dropped.
type skipJSON struct{}

func (*skipJSON) UnmarshalJSON([]byte) error { return nil }

// decodeObject decodes one JSON object of a snapshot. What is wrong with an object of
// a kind the estimate does not read does not matter.
func decodeObject(data []byte) (*snapshotObject, error) {
	var o snapshotObject
	if err := json.Unmarshal(data, &o); err != nil {
		var head struct {
			Kind string `json:"kind"`
		}
		if json.Unmarshal(data, &head) == nil && !readKind(head.Kind) {
			return &snapshotObject{Kind: head.Kind}, nil
		}
		return nil, objectError(head.Kind, err)
	}
	return &o, nil
}

// readKind reports whether the estimate reads objects of kind, or the items of lists
// of it (all of whose items are read).
func readKind(kind string) bool {
	switch kind {
	case "Node", "Pod", "ReplicaSet", "Deployment", "StatefulSet",
		"List", "NodeList", "PodList", "ReplicaSetList", "DeploymentList", "StatefulSetList":
		return true
	}
	return false
}

// objectError says what is wrong with an object of kind (when known), in the
// snapshot's terms rather than the decoder's.
func objectError(kind string, err error) error {
	what := "object"
	if kind != "" {
		what = kind
	}
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return fmt.Errorf("invalid %s in snapshot: %s: a %s is not what Kubernetes writes there", what, te.Field, te.Value)
	case errors.As(err, &te):
		return fmt.Errorf("invalid snapshot: a %s is not an object", te.Value)
	}
	return fmt.Errorf("invalid %s in snapshot: %w", what, err)
}

// decodeYAMLObject decodes one YAML object (filtered, see yamlFilter); when there is
// no filtered text or it does not decode, the object as written (raw) is decoded
// instead, so that the filter changes how fast a snapshot is read, not what it means.
func decodeYAMLObject(filtered, raw []byte) (*snapshotObject, error) {
	if filtered != nil {
		if data, err := yaml.YAMLToJSON(filtered); err == nil {
			if o, err := decodeObject(data); err == nil {
				return o, nil
			}
		}
	}
	data, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid snapshot: %w", err)
	}
	return decodeObject(data)
}
