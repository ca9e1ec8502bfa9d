package render

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	awsapis "github.com/aws/karpenter-provider-aws/pkg/apis"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiextensionsvalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// crdSchema is one served version of a CRD, ready to check objects the way the API
// server's custom resource handler does: prune unknown fields, default, then validate
// the OpenAPI schema, list types and CEL rules.
type crdSchema struct {
	structural *structuralschema.Structural
	validator  apiextensionsvalidation.SchemaValidator
	cel        *cel.Validator
}

// loadCRDs reads Karpenter's AWS CRDs (the NodePool CRD of the AWS provider carries the
// karpenter.k8s.aws label rules) and Ballast's own, keyed by "apiVersion/kind".
func loadCRDs(t *testing.T) map[string]crdSchema {
	t.Helper()
	sources := [][]byte{awsapis.EC2NodeClassCRD, awsapis.NodePoolCRD}
	for _, f := range []string{"ballast.dev_clusterpolicies.yaml", "ballast.dev_workloaddistributionrules.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "config", "crd", "bases", f))
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, data)
	}
	schemas := map[string]crdSchema{}
	for _, data := range sources {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatal(err)
		}
		for _, v := range crd.Spec.Versions {
			internal := &apiextensions.JSONSchemaProps{}
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
				t.Fatal(err)
			}
			s, err := structuralschema.NewStructural(internal)
			if err != nil {
				t.Fatalf("%s: %v", crd.Name, err)
			}
			validator, _, err := apiextensionsvalidation.NewSchemaValidator(internal)
			if err != nil {
				t.Fatalf("%s: %v", crd.Name, err)
			}
			schemas[crd.Spec.Group+"/"+v.Name+"/"+crd.Spec.Names.Kind] = crdSchema{
				structural: s,
				validator:  validator,
				cel:        cel.NewValidator(s, true, celconfig.PerCallLimit),
			}
		}
	}
	return schemas
}

// crdErrors checks one YAML document against its CRD as the API server would on create.
func crdErrors(t *testing.T, schemas map[string]crdSchema, doc []byte) []string {
	t.Helper()
	data, err := yaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := utiljson.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	s, ok := schemas[apiVersion+"/"+kind]
	if !ok {
		return []string{"no CRD for " + apiVersion + " " + kind}
	}
	var out []string
	opts := structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}
	for _, path := range pruning.PruneWithOptions(obj, s.structural, true, opts) {
		out = append(out, "unknown field "+path)
	}
	structuraldefaulting.Default(obj, s.structural)
	errs := apiextensionsvalidation.ValidateCustomResource(nil, obj, s.validator)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, s.structural, obj)...)
	if s.cel != nil {
		celErrs, _ := s.cel.Validate(context.Background(), nil, s.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// TestRenderedObjectsMatchCRDs checks every document of every golden case against the
// real CRD schemas and CEL rules, without an API server. test/rendering repeats this
// against a real kube-apiserver.
func TestRenderedObjectsMatchCRDs(t *testing.T) {
	schemas := loadCRDs(t)
	for _, c := range loadCases(t) {
		t.Run(c.name, func(t *testing.T) {
			for i, doc := range splitDocuments(mustRender(t, c.in)) {
				for _, e := range crdErrors(t, schemas, doc) {
					t.Errorf("document %d: %s", i, e)
				}
			}
		})
	}
}

// TestCRDCheckCatchesMistakes keeps the check above honest: documents with the
// mistakes a renderer could make are rejected.
func TestCRDCheckCatchesMistakes(t *testing.T) {
	schemas := loadCRDs(t)
	const pool = `apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: p
spec:
  disruption:
    budgets:
    - nodes: "0"
      schedule: 0 5 * * MON
      duration: %s
    consolidateAfter: %s
  template:
    spec:
      expireAfter: 720h
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: c}
      requirements:
      - {key: %s, operator: %s, values: ["%s"]}
`
	cases := []struct {
		name string
		doc  string
		want string
	}{
		{"valid", fmt.Sprintf(pool, "16h0m0s", "1m0s", "karpenter.k8s.aws/instance-cpu", "Gt", "3"), ""},
		{"budget in seconds", fmt.Sprintf(pool, "30s", "1m0s", "karpenter.k8s.aws/instance-cpu", "Gt", "3"), "duration"},
		{"days", fmt.Sprintf(pool, "16h0m0s", "1d", "karpenter.k8s.aws/instance-cpu", "Gt", "3"), "consolidateAfter"},
		{"negative bound", fmt.Sprintf(pool, "16h0m0s", "1m0s", "karpenter.k8s.aws/instance-cpu", "Gt", "-1"), "single positive integer"},
		{"restricted key", fmt.Sprintf(pool, "16h0m0s", "1m0s", "karpenter.k8s.aws/made-up", "In", "x"), "restricted"},
		{"unknown field", `apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: c
spec:
  role: r
  amiSelectorTerms: [{alias: al2023@latest}]
  subnetSelectorTerms: [{tags: {a: b}}]
  securityGroupSelectorTerms: [{tags: {a: b}}]
  volumeSize: 20Gi
`, "unknown field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := strings.Join(crdErrors(t, schemas, []byte(c.doc)), "\n")
			switch {
			case c.want == "" && errs != "":
				t.Errorf("valid document rejected: %s", errs)
			case c.want != "" && !strings.Contains(errs, c.want):
				t.Errorf("errors %q, want one containing %q", errs, c.want)
			}
		})
	}
}
