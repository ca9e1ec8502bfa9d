package crdcheck_test

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/crdcheck"
)

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

const nodeClass = `apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: c
spec:
  role: r
  amiSelectorTerms: [{alias: %s}]
  subnetSelectorTerms: [{tags: {a: b}}]
  securityGroupSelectorTerms: [{tags: {a: b}}]
%s`

// TestKarpenterRejectsWhatItsCRDsReject checks documents with the mistakes a renderer
// or a user could make: each is rejected with the message of the rule it breaks, and
// the valid ones are accepted. The expected messages are Karpenter's own words, so a
// Karpenter upgrade that rewords a rule shows up here.
func TestKarpenterRejectsWhatItsCRDsReject(t *testing.T) {
	checker, err := crdcheck.Karpenter()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		doc       string
		wantField string
		want      string
		cel       bool
	}{
		{name: "valid pool", doc: fmt.Sprintf(pool, "16h0m0s", "1m0s", "karpenter.k8s.aws/instance-cpu", "Gt", "3")},
		{name: "valid node class", doc: fmt.Sprintf(nodeClass, "al2023@latest", "")},
		{name: "budget in seconds", doc: fmt.Sprintf(pool, "30s", "1m0s", "karpenter.k8s.aws/instance-cpu", "Gt", "3"),
			wantField: "spec.disruption.budgets[0].duration", want: "should match"},
		{name: "days", doc: fmt.Sprintf(pool, "16h0m0s", "1d", "karpenter.k8s.aws/instance-cpu", "Gt", "3"),
			wantField: "spec.disruption.consolidateAfter", want: "should match"},
		{name: "negative bound", doc: fmt.Sprintf(pool, "16h0m0s", "1m0s", "karpenter.k8s.aws/instance-cpu", "Gt", "-1"),
			wantField: "spec.template.spec.requirements", want: "requirements operator 'Gt', 'Lt', 'Gte', or 'Lte' must have a single positive integer value", cel: true},
		{name: "restricted key", doc: fmt.Sprintf(pool, "16h0m0s", "1m0s", "karpenter.k8s.aws/made-up", "In", "x"),
			wantField: "spec.template.spec.requirements[0].key", want: `label domain "karpenter.k8s.aws" is restricted`, cel: true},
		{name: "windows pinned", doc: fmt.Sprintf(nodeClass, "windows2022@v20240101", ""),
			wantField: "spec.amiSelectorTerms[0].alias", want: "windows families may only specify version 'latest'", cel: true},
		{name: "alias too long", doc: fmt.Sprintf(nodeClass, "al2023@v20240807-0123456789abcdef", ""),
			wantField: "spec.amiSelectorTerms[0].alias", want: "Too long: may not be more than 30 bytes"},
		{name: "restricted tag", doc: fmt.Sprintf(nodeClass, "al2023@latest", "  tags: {karpenter.sh/nodeclaim: x}\n"),
			wantField: "spec.tags", want: "tag contains a restricted tag matching karpenter.sh/nodeclaim", cel: true},
		{name: "unknown field", doc: fmt.Sprintf(nodeClass, "al2023@latest", "  volumeSize: 20Gi\n"),
			wantField: "spec.volumeSize", want: "unknown field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			violations, err := checker.CheckYAML([]byte(c.doc))
			if err != nil {
				t.Fatal(err)
			}
			if c.want == "" {
				for _, v := range violations {
					t.Errorf("valid document rejected: %s", v)
				}
				return
			}
			var all []string
			for _, v := range violations {
				all = append(all, v.String())
				if v.Field == c.wantField && strings.Contains(v.Message, c.want) {
					if v.CEL != c.cel {
						t.Errorf("%s: CEL is %v, want %v", v, v.CEL, c.cel)
					}
					if v.CRD == "" {
						t.Errorf("%s: no CRD named", v)
					}
					return
				}
			}
			t.Errorf("violations %q, want one at %s containing %q", all, c.wantField, c.want)
		})
	}
}

// TestCheckObject checks a typed object, as the command line does with what render
// returns, and leaves it unchanged.
func TestCheckObject(t *testing.T) {
	checker, err := crdcheck.Karpenter()
	if err != nil {
		t.Fatal(err)
	}
	nc := &awsv1.EC2NodeClass{
		TypeMeta:   metav1.TypeMeta{APIVersion: "karpenter.k8s.aws/v1", Kind: "EC2NodeClass"},
		ObjectMeta: metav1.ObjectMeta{Name: "c"},
		Spec: awsv1.EC2NodeClassSpec{
			Role:                       "r",
			AMISelectorTerms:           []awsv1.AMISelectorTerm{{Alias: "windows2019@v1"}},
			SubnetSelectorTerms:        []awsv1.SubnetSelectorTerm{{Tags: map[string]string{"a": "b"}}},
			SecurityGroupSelectorTerms: []awsv1.SecurityGroupSelectorTerm{{Tags: map[string]string{"a": "b"}}},
			MetadataOptions:            &awsv1.MetadataOptions{HTTPPutResponseHopLimit: ptr.To[int64](2)},
		},
	}
	before := nc.DeepCopy()
	violations, err := checker.CheckObject(nc)
	if err != nil {
		t.Fatal(err)
	}
	if len(violations) != 1 || violations[0].Field != "spec.amiSelectorTerms[0].alias" {
		t.Errorf("violations %v, want the Windows version", violations)
	}
	if nc.Spec.MetadataOptions.HTTPEndpoint != nil || before.Spec.MetadataOptions.HTTPPutResponseHopLimit == nil {
		t.Error("CheckObject defaulted the caller's object")
	}
	if !checker.Knows("karpenter.sh/v1", "NodePool") || !checker.Knows("karpenter.k8s.aws/v1", "EC2NodeClass") || checker.Knows("karpenter.sh/v1", "NodeClaim") {
		t.Error("Knows does not match the CRDs given")
	}
	if _, err := checker.CheckYAML([]byte("apiVersion: v1\nkind: ConfigMap\n")); err == nil {
		t.Error("an object of no known CRD was checked")
	}
}

// TestViolationsAreSorted: the validators walk maps in no fixed order; the same object
// always gives the same violations, sorted by field and message.
func TestViolationsAreSorted(t *testing.T) {
	checker, err := crdcheck.Karpenter()
	if err != nil {
		t.Fatal(err)
	}
	doc := []byte(fmt.Sprintf(nodeClass, "windows2022@v1", "  tags: {karpenter.sh/nodeclaim: x, eks:eks-cluster-name: \"y\"}\n  made: up\n"))
	var first []string
	for i := range 20 {
		violations, err := checker.CheckYAML(doc)
		if err != nil {
			t.Fatal(err)
		}
		sorted := slices.IsSortedFunc(violations, func(a, b crdcheck.Violation) int {
			return cmp.Or(cmp.Compare(a.Field, b.Field), cmp.Compare(a.Message, b.Message))
		})
		var got []string
		for _, v := range violations {
			got = append(got, v.String())
		}
		if i == 0 {
			first = got
			if len(got) < 4 || !sorted {
				t.Fatalf("violations %q: want at least 4, sorted", got)
			}
			continue
		}
		if !slices.Equal(got, first) {
			t.Fatalf("check %d gave %q, the first %q", i, got, first)
		}
	}
}
