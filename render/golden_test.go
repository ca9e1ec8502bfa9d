package render

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the expected output of the golden cases")

// A golden case is a directory under testdata with:
//
//	policy.yaml           the input: one ClusterPolicy and any WorkloadDistributionRules
//	now.txt               the reference time, RFC 3339
//	expected.yaml.golden  the rendered stream
//
// The expected output is not named *.yaml so that loading the case directory as a
// policy tree (as test/rendering does) sees only the input.
const (
	inputFile    = "policy.yaml"
	nowFile      = "now.txt"
	expectedFile = "expected.yaml.golden"
	testSource   = "local"
)

// goldenCase is a loaded golden case.
type goldenCase struct {
	name string
	dir  string
	in   Input
}

func loadCases(t *testing.T) []goldenCase {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "*", inputFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no golden cases under testdata")
	}
	var cases []goldenCase
	for _, f := range dirs {
		dir := filepath.Dir(f)
		cases = append(cases, goldenCase{name: filepath.Base(dir), dir: dir, in: loadInput(t, dir)})
	}
	return cases
}

// loadInput reads a case's policy and keeps the rules that apply to its cluster, as the
// controller and the CLI do; neither is defaulted, since Render must do that itself.
func loadInput(t *testing.T, dir string) Input {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, inputFile))
	if err != nil {
		t.Fatal(err)
	}
	policy, allRules, err := decodePolicies(data)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Join(dir, inputFile), err)
	}
	var rules []*v1alpha1.WorkloadDistributionRule
	for _, r := range allRules {
		if len(r.Spec.Clusters) == 0 || slices.Contains(r.Spec.Clusters, policy.Spec.Cluster.Name) {
			rules = append(rules, r)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, nowFile))
	if err != nil {
		t.Fatal(err)
	}
	now, err := time.Parse(time.RFC3339, strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("%s: %v", filepath.Join(dir, nowFile), err)
	}
	return Input{Policy: policy, Rules: rules, Source: testSource, Now: now}
}

// decodePolicies strictly decodes a multi-document stream of exactly one ClusterPolicy
// and any number of WorkloadDistributionRules: unknown fields and kinds are errors.
// The tests decode on their own rather than with the policies package, so that they
// depend only on the API types.
func decodePolicies(data []byte) (*v1alpha1.ClusterPolicy, []*v1alpha1.WorkloadDistributionRule, error) {
	var policy *v1alpha1.ClusterPolicy
	var rules []*v1alpha1.WorkloadDistributionRule
	for i, doc := range strings.Split("\n"+string(data), "\n---") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, nil, fmt.Errorf("document %d: %w", i, err)
		}
		if tm.APIVersion != v1alpha1.GroupVersion.String() {
			return nil, nil, fmt.Errorf("document %d: apiVersion %q", i, tm.APIVersion)
		}
		switch tm.Kind {
		case v1alpha1.ClusterPolicyKind:
			if policy != nil {
				return nil, nil, fmt.Errorf("document %d: a second ClusterPolicy", i)
			}
			policy = &v1alpha1.ClusterPolicy{}
			if err := yaml.UnmarshalStrict([]byte(doc), policy); err != nil {
				return nil, nil, fmt.Errorf("document %d: %w", i, err)
			}
		case v1alpha1.WorkloadDistributionRuleKind:
			r := &v1alpha1.WorkloadDistributionRule{}
			if err := yaml.UnmarshalStrict([]byte(doc), r); err != nil {
				return nil, nil, fmt.Errorf("document %d: %w", i, err)
			}
			rules = append(rules, r)
		default:
			return nil, nil, fmt.Errorf("document %d: kind %q", i, tm.Kind)
		}
	}
	if policy == nil {
		return nil, nil, fmt.Errorf("no ClusterPolicy")
	}
	return policy, rules, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	for _, c := range loadCases(t) {
		t.Run(c.name, func(t *testing.T) {
			objs, err := Render(c.in)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			got, err := Marshal(objs)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			file := filepath.Join(c.dir, expectedFile)
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test ./render -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("rendered output differs from %s (run go test ./render -update and review the diff):\n%s", file, lineDiff(string(want), string(got)))
			}
			checkObjects(t, c.in, objs)
			checkRoundTrip(t, got, objs)
		})
	}
}

// checkObjects asserts what must hold for every rendered object, whatever the case.
func checkObjects(t *testing.T, in Input, objs []client.Object) {
	t.Helper()
	cluster := in.Policy.Spec.Cluster.Name
	var kinds []string
	for _, obj := range objs {
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		kinds = append(kinds, kind)
		if kind == "" || obj.GetObjectKind().GroupVersionKind().Version == "" {
			t.Errorf("%s has no TypeMeta", obj.GetName())
		}
		labels := obj.GetLabels()
		if labels[v1alpha1.SourceLabel] != testSource || labels[v1alpha1.ClusterLabel] != cluster {
			t.Errorf("%s %s: owner labels are %v", kind, obj.GetName(), labels)
		}
		for _, m := range []map[string]string{obj.GetLabels(), obj.GetAnnotations()} {
			for k := range m {
				if isTrackingKey(k) {
					t.Errorf("%s %s carries the GitOps tracking key %s", kind, obj.GetName(), k)
				}
			}
		}
		if np, ok := obj.(*karpv1.NodePool); ok {
			// Karpenter's own runtime validation: a NodePool failing it never gets Ready.
			if err := np.RuntimeValidate(context.Background()); err != nil {
				t.Errorf("NodePool %s fails Karpenter's runtime validation: %v", np.Name, err)
			}
			if _, extra := np.Labels[v1alpha1.NodePoolLabel]; !extra && np.Spec.Template.Spec.NodeClassRef.Name != NodeClassName(cluster) {
				t.Errorf("NodePool %s refers to node class %q", np.Name, np.Spec.Template.Spec.NodeClassRef.Name)
			}
		}
	}
	want := []string{"EC2NodeClass", "NodePool"}
	if in.Policy.Spec.Spot.Enabled == nil || *in.Policy.Spec.Spot.Enabled {
		want = append(want, "NodePool")
	}
	for range in.Policy.Spec.NodeClasses {
		want = append(want, "EC2NodeClass")
	}
	for range in.Policy.Spec.NodePools {
		want = append(want, "NodePool")
	}
	want = append(want, "ClusterPolicy")
	for range in.Rules {
		want = append(want, "WorkloadDistributionRule")
	}
	if !slices.Equal(kinds, want) {
		t.Errorf("rendered kinds %v, want %v", kinds, want)
	}
}

// checkRoundTrip decodes every document of the stream strictly into its Go type: the
// output has no field the types do not know and reads back as what was rendered.
func checkRoundTrip(t *testing.T, stream []byte, objs []client.Object) {
	t.Helper()
	docs := splitDocuments(stream)
	if len(docs) != len(objs) {
		t.Fatalf("the stream has %d documents for %d objects", len(docs), len(objs))
	}
	for i, doc := range docs {
		var into client.Object
		switch objs[i].(type) {
		case *awsv1.EC2NodeClass:
			into = &awsv1.EC2NodeClass{}
		case *karpv1.NodePool:
			into = &karpv1.NodePool{}
		case *v1alpha1.ClusterPolicy:
			into = &v1alpha1.ClusterPolicy{}
		case *v1alpha1.WorkloadDistributionRule:
			into = &v1alpha1.WorkloadDistributionRule{}
		default:
			t.Fatalf("unexpected object type %T", objs[i])
		}
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			t.Errorf("document %d does not decode strictly: %v", i, err)
			continue
		}
		again, err := Marshal([]client.Object{into})
		if err != nil {
			t.Fatal(err)
		}
		if want := "---\n" + string(doc); string(again) != want {
			t.Errorf("document %d does not survive a round trip:\n%s", i, lineDiff(want, string(again)))
		}
	}
}

// splitDocuments splits a stream Marshal wrote into its documents.
func splitDocuments(stream []byte) [][]byte {
	var docs [][]byte
	for _, part := range strings.Split(string(stream), "---\n") {
		if strings.TrimSpace(part) != "" {
			docs = append(docs, []byte(part))
		}
	}
	return docs
}

// lineDiff shows the lines of two texts from the first one that differs.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	var b strings.Builder
	b.WriteString("first difference at line " + strconv.Itoa(i+1) + ":\n")
	for j := i; j < len(w) && j < i+8; j++ {
		b.WriteString("- " + w[j] + "\n")
	}
	for j := i; j < len(g) && j < i+8; j++ {
		b.WriteString("+ " + g[j] + "\n")
	}
	return b.String()
}
