package policies

import (
	"fmt"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/json"
)

// Object returns the document as the JSON object it denotes, for documents Ballast does
// not decode into its own types: `ballast import` reads Karpenter's NodePools and
// EC2NodeClasses with it, and finds their fields again with Locate. Integers are int64
// and other numbers float64, as the API server's decoder reads them. Keys that are not
// plain strings, YAML merge keys and keys set twice are error findings, as in policy
// documents: a YAML decoder would silently keep one of two values.
func (d *Document) Object() (map[string]any, Findings) {
	c := &checker{file: d.File}
	c.checkKeys(d.root, "", 0)
	if len(c.findings) > 0 {
		return nil, c.findings
	}
	if d.root.Kind != yaml.MappingNode {
		return nil, Findings{d.finding("", RuleWrongType, "expected a mapping of fields, got %s", describe(d.root))}
	}
	data, err := toJSON(d.root)
	var obj map[string]any
	if err == nil {
		err = json.Unmarshal(data, &obj)
	}
	if err != nil {
		return nil, Findings{d.finding("", RuleWrongType, "the document cannot be read as a JSON object: %v", err)}
	}
	return obj, nil
}

// checkKeys checks the keys of every mapping under n, with no type to check the values
// against, and bounds the document's depth and size as check does.
func (c *checker) checkKeys(n *yaml.Node, path string, depth int) {
	n = c.enter(n, path, depth, "the document nests too deeply or is too large")
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := resolve(n.Content[i]), n.Content[i+1]
			if c.checkKey(k, path, seen) {
				c.checkKeys(v, join(path, k.Value), depth+1)
			}
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			c.checkKeys(item, fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	}
}
