package crdcheck

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	awsapis "github.com/aws/karpenter-provider-aws/pkg/apis"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiextensionsvalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// Checker checks objects against the served versions of a set of CRDs. It is safe for
// concurrent use: what it holds is compiled once and only read afterwards.
type Checker struct {
	// versions are keyed by apiVersion + "/" + kind, e.g. karpenter.sh/v1/NodePool.
	versions map[string]*version
}

// version is one served version of a CRD, compiled.
type version struct {
	crd        string
	structural *structuralschema.Structural
	validator  apiextensionsvalidation.SchemaValidator
	cel        *cel.Validator
}

// Violation is one rule of a CRD that an object breaks.
type Violation struct {
	// Field is the path of the offending value in the object, e.g.
	// spec.amiSelectorTerms[0].alias, or of the object or list a CEL rule is written on.
	Field string
	// Message says which rule failed: a CEL rule's own message, or the OpenAPI
	// constraint (e.g. "Too long: may not be more than 30 bytes").
	Message string
	// CEL is true when the rule is a CEL rule (x-kubernetes-validations).
	CEL bool
	// CRD is the name of the CRD whose rule failed, e.g. nodepools.karpenter.sh.
	CRD string
}

// String formats the violation as field: message.
func (v Violation) String() string {
	if v.Field == "" {
		return v.Message
	}
	return v.Field + ": " + v.Message
}

// New compiles CRDs given as YAML or JSON, every version of each.
func New(crds ...[]byte) (*Checker, error) {
	c := &Checker{versions: map[string]*version{}}
	for _, data := range crds {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			return nil, fmt.Errorf("failed to read a CRD: %w", err)
		}
		if err := c.add(&crd); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Checker) add(crd *apiextensionsv1.CustomResourceDefinition) error {
	for _, v := range crd.Spec.Versions {
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			return fmt.Errorf("CRD %s version %s has no schema", crd.Name, v.Name)
		}
		internal := &apiextensions.JSONSchemaProps{}
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
			return fmt.Errorf("failed to convert the schema of CRD %s version %s: %w", crd.Name, v.Name, err)
		}
		s, err := structuralschema.NewStructural(internal)
		if err != nil {
			return fmt.Errorf("the schema of CRD %s version %s is not structural: %w", crd.Name, v.Name, err)
		}
		validator, _, err := apiextensionsvalidation.NewSchemaValidator(internal)
		if err != nil {
			return fmt.Errorf("failed to compile the schema of CRD %s version %s: %w", crd.Name, v.Name, err)
		}
		c.versions[crd.Spec.Group+"/"+v.Name+"/"+crd.Spec.Names.Kind] = &version{
			crd:        crd.Name,
			structural: s,
			validator:  validator,
			// Nil when the schema has no CEL rule.
			cel: cel.NewValidator(s, true, celconfig.PerCallLimit),
		}
	}
	return nil
}

// karpenter compiles Karpenter's CRDs once per process, from the CRDs the module has
// already decoded when it was initialised (awsapis.CRDs).
var karpenter = sync.OnceValues(func() (*Checker, error) {
	c := &Checker{versions: map[string]*version{}}
	for _, crd := range awsapis.CRDs {
		if crd.Name != "nodepools.karpenter.sh" && crd.Name != "ec2nodeclasses.karpenter.k8s.aws" {
			continue
		}
		if err := c.add(crd); err != nil {
			return nil, err
		}
	}
	if len(c.versions) == 0 {
		return nil, fmt.Errorf("the Karpenter module has no NodePool or EC2NodeClass CRD")
	}
	return c, nil
})

// Karpenter returns the checker of Karpenter's NodePool (karpenter.sh) and
// EC2NodeClass (karpenter.k8s.aws), from the CRDs of the pinned Karpenter AWS
// provider; the NodePool CRD of the AWS provider is the one that knows the
// karpenter.k8s.aws labels. It is compiled on the first call and shared afterwards.
func Karpenter() (*Checker, error) {
	return karpenter()
}

// Knows reports whether the checker has a CRD for the apiVersion and kind.
func (c *Checker) Knows(apiVersion, kind string) bool {
	_, ok := c.versions[apiVersion+"/"+kind]
	return ok
}

// CheckObject checks a typed object, e.g. a Karpenter NodePool; its TypeMeta must be
// set. It does not change obj.
func (c *Checker) CheckObject(obj runtime.Object) ([]Violation, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("failed to serialise the object: %w", err)
	}
	return c.CheckJSON(data)
}

// CheckYAML checks one object written as YAML or JSON.
func (c *Checker) CheckYAML(doc []byte) ([]Violation, error) {
	data, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("failed to read the object: %w", err)
	}
	return c.CheckJSON(data)
}

// CheckJSON checks one object written as JSON.
func (c *Checker) CheckJSON(data []byte) ([]Violation, error) {
	var obj map[string]any
	// utiljson keeps integers as int64, as the API server's decoder does.
	if err := utiljson.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("failed to read the object: %w", err)
	}
	return c.Check(obj)
}

// Check checks an object decoded from JSON (integers as int64) as the API server
// would on create: unknown fields, then nulls and defaults, then the OpenAPI schema, list types
// and CEL rules. The violations are sorted by field and message. It prunes and
// defaults obj in place. It returns an error when the
// checker has no CRD for the object's apiVersion and kind.
func (c *Checker) Check(obj map[string]any) ([]Violation, error) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	v, ok := c.versions[apiVersion+"/"+kind]
	if !ok {
		return nil, fmt.Errorf("no CRD for apiVersion %q kind %q", apiVersion, kind)
	}
	var out []Violation
	opts := structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}
	for _, path := range pruning.PruneWithOptions(obj, v.structural, true, opts) {
		out = append(out, Violation{Field: path, Message: "unknown field: the CRD has no such field", CRD: v.crd})
	}
	// As the API server's decoder does: a null where the schema allows none is dropped,
	// as if the field were not written (typed Go objects write nil slices as null).
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj, v.structural)
	structuraldefaulting.Default(obj, v.structural)
	errs := apiextensionsvalidation.ValidateCustomResource(nil, obj, v.validator)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, v.structural, obj)...)
	for _, e := range errs {
		out = append(out, Violation{Field: e.Field, Message: e.ErrorBody(), CRD: v.crd})
	}
	if v.cel != nil {
		celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		for _, e := range celErrs {
			out = append(out, Violation{Field: e.Field, Message: celMessage(e), CEL: true, CRD: v.crd})
		}
	}
	// The validators walk maps, in no fixed order: sort, so the same object always
	// gives the same list.
	slices.SortFunc(out, func(a, b Violation) int {
		return cmp.Or(cmp.Compare(a.Field, b.Field), cmp.Compare(a.Message, b.Message))
	})
	return slices.Compact(out), nil
}

// Default fills obj's unset fields with its CRD's defaults, in place, as the API server
// does on create (a null where the schema allows none is dropped first). It returns an
// error when the checker has no CRD for the object's apiVersion and kind.
func (c *Checker) Default(obj map[string]any) error {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	v, ok := c.versions[apiVersion+"/"+kind]
	if !ok {
		return fmt.Errorf("no CRD for apiVersion %q kind %q", apiVersion, kind)
	}
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj, v.structural)
	structuraldefaulting.Default(obj, v.structural)
	return nil
}

// celMessage is a CEL rule's own message; the bad value the validator reports for a
// rule is only the type of the value (object, string), which says nothing.
func celMessage(e *field.Error) string {
	if e.Type == field.ErrorTypeInvalid && e.Detail != "" {
		return strings.TrimSpace(e.Detail)
	}
	return e.ErrorBody()
}
