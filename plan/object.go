package plan

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// Key identifies a rendered object across revisions.
type Key struct {
	// Cluster is the cluster the object was rendered for.
	Cluster   string `json:"cluster"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// ID is the object's namespace/name, or its name when it is cluster-scoped.
func (k Key) ID() string {
	if k.Namespace == "" {
		return k.Name
	}
	return k.Namespace + "/" + k.Name
}

// String is "Kind namespace/name".
func (k Key) String() string { return k.Kind + " " + k.ID() }

// kindOrder is the order objects are listed in: the order render emits them, then any
// other kind by name.
var kindOrder = []string{"EC2NodeClass", "NodePool", v1alpha1.ClusterPolicyKind, v1alpha1.WorkloadDistributionRuleKind}

func compareKeys(a, b Key) int {
	rank := func(kind string) int {
		if i := slices.Index(kindOrder, kind); i >= 0 {
			return i
		}
		return len(kindOrder)
	}
	return cmp.Or(
		strings.Compare(a.Cluster, b.Cluster),
		cmp.Compare(rank(a.Kind), rank(b.Kind)),
		strings.Compare(a.Kind, b.Kind),
		strings.Compare(a.Namespace, b.Namespace),
		strings.Compare(a.Name, b.Name),
	)
}

// Object is one rendered object as `ballast render` prints it, decoded into plain maps,
// slices, strings, bools and json.Numbers.
type Object struct {
	Key
	Content map[string]any
}

// Objects converts the objects rendered for cluster into Objects, through render.Marshal
// so that the diff is computed on exactly what `ballast render` prints.
func Objects(cluster string, objs []client.Object) ([]Object, error) {
	out := make([]Object, 0, len(objs))
	for _, obj := range objs {
		data, err := render.Marshal([]client.Object{obj})
		if err != nil {
			return nil, fmt.Errorf("failed to serialise the objects of cluster %s: %w", cluster, err)
		}
		doc, err := yaml.YAMLToJSON(bytes.TrimPrefix(data, []byte("---\n")))
		if err != nil {
			return nil, fmt.Errorf("failed to read back %s %s of cluster %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), cluster, err)
		}
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber()
		var content map[string]any
		if err := dec.Decode(&content); err != nil {
			return nil, fmt.Errorf("failed to read back %s %s of cluster %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), cluster, err)
		}
		out = append(out, Object{
			Key: Key{
				Cluster:   cluster,
				Kind:      obj.GetObjectKind().GroupVersionKind().Kind,
				Namespace: obj.GetNamespace(),
				Name:      obj.GetName(),
			},
			Content: content,
		})
	}
	return out, nil
}
