package app

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/crdcheck"
	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/render"
)

// karpenterRejects is the examples/invalid case of karpenter-rejects: a policy Ballast's
// own rules accept whose rendered EC2NodeClass Karpenter's CRD refuses.
const karpenterRejects = "../../../examples/invalid/karpenter-rejects"

// expectedLine returns the line of the "# expect: <rule>" comment of a case file.
func expectedLine(t *testing.T, file, rule string) int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if strings.Contains(sc.Text(), "# expect: "+rule) {
			return line
		}
	}
	t.Fatalf("%s has no '# expect: %s' comment", file, rule)
	return 0
}

// TestInvalidExamplesRendered runs the examples/invalid cases policies cannot check
// alone (see policies.renderedRules) through ballast validate: exactly the expected
// finding, at the commented line, and nothing else.
func TestInvalidExamplesRendered(t *testing.T) {
	line := expectedLine(t, filepath.Join(karpenterRejects, "policy.yaml"), policies.RuleKarpenterRejects)
	code, out, errOut := run("validate", karpenterRejects)
	if code != ExitFindings {
		t.Fatalf("exit %d, want %d\n%s%s", code, ExitFindings, out, errOut)
	}
	want := karpenterRejects + "/policy.yaml:" + strconv.Itoa(line) + ":10: error [karpenter-rejects] spec.nodeClass.ami: " +
		"Karpenter would reject the rendered EC2NodeClass ballast-prod: spec.amiSelectorTerms[0].alias: Too long: may not be more than 30 bytes\n"
	if !strings.HasPrefix(out, want) {
		t.Errorf("output\n%s\nwant it to start with\n%s", out, want)
	}
	if !strings.HasSuffix(out, "\n1 error in 1 file\n") {
		t.Errorf("want exactly one finding:\n%s", out)
	}
}

// TestRenderRefusesWhatKarpenterRejects: render prints nothing, and the same finding.
func TestRenderRefusesWhatKarpenterRejects(t *testing.T) {
	code, out, errOut := run("render", karpenterRejects, "--time", "2026-06-01T00:00:00Z")
	if code != ExitFindings {
		t.Fatalf("exit %d, want %d\n%s%s", code, ExitFindings, out, errOut)
	}
	if out != "" {
		t.Errorf("render printed objects Karpenter would refuse:\n%s", out)
	}
	for _, want := range []string{
		"error [karpenter-rejects] spec.nodeClass.ami: Karpenter would reject the rendered EC2NodeClass ballast-prod: spec.amiSelectorTerms[0].alias: Too long: may not be more than 30 bytes",
		"nothing rendered",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr\n%s\nwant %q", errOut, want)
		}
	}
}

// TestExamplesPassKarpenter: the example repository users copy validates clean with
// the Karpenter check, and renders.
func TestExamplesPassKarpenter(t *testing.T) {
	const examples = "../../../examples/policies"
	if code, out, errOut := run("validate", examples); code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := run("render", examples, "--time", "2026-06-01T00:00:00Z"); code != ExitOK || !strings.Contains(out, "kind: EC2NodeClass") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
}

// TestKarpenterObjectsAreReported: a NodePool or EC2NodeClass handed to validate is a
// warning that says what to do, at its file and line.
func TestKarpenterObjectsAreReported(t *testing.T) {
	tree(t, map[string]string{
		"prod.yaml": cleanPolicy,
		"karpenter.yaml": "apiVersion: karpenter.k8s.aws/v1\nkind: EC2NodeClass\nmetadata: {name: default}\nspec: {role: r}\n" +
			"---\n# the pools\napiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: gpu}\n",
	})
	code, out, _ := run("validate")
	if code != ExitFindings {
		t.Fatalf("exit %d, want %d\n%s", code, ExitFindings, out)
	}
	for _, want := range []string{
		"karpenter.yaml:1:1: warning [karpenter-object] EC2NodeClass \"default\" (karpenter.k8s.aws/v1) is a Karpenter EC2NodeClass, not Ballast policy",
		"karpenter.yaml:7:1: warning [karpenter-object] NodePool \"gpu\" (karpenter.sh/v1) is a Karpenter NodePool, not Ballast policy",
		"try `ballast import`",
		"2 warnings in 1 file",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output\n%s\nwant %q", out, want)
		}
	}
}

// TestKarpenterFindingsPointAtPolicyFields breaks the rendered objects of a valid
// policy the ways Karpenter's rules catch, and checks each finding: the policy field
// it points at (and its line), the Karpenter rule's own message, and one finding for
// a rule both NodePools break.
func TestKarpenterFindingsPointAtPolicyFields(t *testing.T) {
	const doc = cleanPolicy + `    subnetSelector:
      - tags: {tier: private}
      - tags: {tier: shared}
  instances:
    zones: [eu-west-1a]
  binPacking:
    disruptionBudgets:
      - nodes: "1"
`
	repo := policies.LoadBytes("prod.yaml", []byte(doc))
	if fs := repo.Validate(); len(fs) != 0 {
		t.Fatalf("the policy must be valid: %v", fs)
	}
	p := repo.ClusterPolicies[0]
	checker, err := crdcheck.Karpenter()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render.Render(render.Input{Policy: p.Policy, Source: "local", Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if fs := karpenterFindings(checker, p, objs); len(fs) != 0 {
		t.Fatalf("the valid policy's objects are rejected: %v", fs)
	}
	for _, obj := range objs {
		switch o := obj.(type) {
		case *awsv1.EC2NodeClass:
			o.Spec.SubnetSelectorTerms[1].Tags[""] = "x"
			o.Spec.Tags = map[string]string{"karpenter.sh/nodepool": "x"}
		case *karpv1.NodePool:
			for i, r := range o.Spec.Template.Spec.Requirements {
				if r.Key == corev1.LabelTopologyZone {
					o.Spec.Template.Spec.Requirements[i].Operator = corev1.NodeSelectorOpGt
					o.Spec.Template.Spec.Requirements[i].Values = []string{"-1"}
				}
			}
			if o.Name == render.NodePoolName("prod", "spot") {
				s := "0 5 * * *"
				o.Spec.Disruption.Budgets[0].Schedule = &s
			}
		}
	}
	// In the order of the rendered objects, and of the fields within one.
	var got []string
	for _, f := range karpenterFindings(checker, p, objs) {
		got = append(got, f.String())
	}
	// A rule on a whole list (requirements, budgets) names the list; the finding
	// points at the policy field of the one element that breaks it.
	want := []string{
		`prod.yaml:13:9: error [karpenter-rejects] spec.nodeClass.subnetSelector[1].tags: Karpenter would reject the rendered EC2NodeClass ballast-prod: spec.subnetSelectorTerms[1].tags: empty tag keys or values aren't supported`,
		`prod.yaml:9:3: error [karpenter-rejects] spec.nodeClass.tags: Karpenter would reject the rendered EC2NodeClass ballast-prod: spec.tags: tag contains a restricted tag matching karpenter.sh/nodepool`,
		`prod.yaml:15:5: error [karpenter-rejects] spec.instances.zones: Karpenter would reject the rendered NodePools ballast-prod-on-demand and ballast-prod-spot: spec.template.spec.requirements: requirements operator 'Gt', 'Lt', 'Gte', or 'Lte' must have a single positive integer value`,
		`prod.yaml:18:9: error [karpenter-rejects] spec.binPacking.disruptionBudgets[0]: Karpenter would reject the rendered NodePool ballast-prod-spot: spec.disruption.budgets: 'schedule' must be set with 'duration'`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestPolicyField maps fields of rendered objects back to the policy fields they come
// from.
func TestPolicyField(t *testing.T) {
	repo := policies.LoadBytes("prod.yaml", []byte(cleanPolicy+`    blockDevices:
      - {deviceName: /dev/xvda, volumeSize: 20Gi}
  instances:
    categories: [c, m]
    include: [m6i.large, c6i.large]
  binPacking:
    disruptionBudgets:
      - nodes: "1"
  maintenanceWindows:
    - {name: nights, days: [Mon], start: "01:00", end: "05:00", timeZone: Europe/Berlin, allow: [Consolidation]}
`))
	if fs := repo.Validate(); len(fs) != 0 {
		t.Fatalf("the policy must be valid: %v", fs)
	}
	policy := repo.ClusterPolicies[0].Policy.DeepCopy()
	policy.Default()
	objs, err := render.Render(render.Input{Policy: policy, Source: "local", Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	var nc *awsv1.EC2NodeClass
	var np *karpv1.NodePool
	for _, o := range objs {
		switch o := o.(type) {
		case *awsv1.EC2NodeClass:
			nc = o
		case *karpv1.NodePool:
			np = o
		}
	}
	index := func(key string) string {
		for i, r := range np.Spec.Template.Spec.Requirements {
			if r.Key == key {
				return "spec.template.spec.requirements[" + strconv.Itoa(i) + "]"
			}
		}
		t.Fatalf("no requirement %s", key)
		return ""
	}
	for _, c := range []struct {
		obj      any
		rendered string
		want     string
	}{
		{nc, "metadata.name", "spec.cluster.name"},
		{nc, "spec.amiSelectorTerms[0].alias", "spec.nodeClass.ami"},
		{nc, "spec.blockDeviceMappings[0].ebs.volumeSize", "spec.nodeClass.blockDevices[0]"},
		{nc, "spec.subnetSelectorTerms[0].tags", "spec.nodeClass.subnetSelector[0].tags"},
		{nc, "spec.subnetSelectorTerms[3].tags", "spec.nodeClass.subnetSelector"},
		{nc, "spec.metadataOptions.httpTokens", "spec.nodeClass.metadataOptions"},
		{nc, "spec.role", "spec.nodeClass.role"},
		{nc, "spec.userData", "spec.nodeClass"},
		{np, "metadata.name", "spec.cluster.name"},
		{np, index(awsv1.LabelInstanceCategory) + ".values", "spec.instances.categories"},
		{np, index(corev1.LabelInstanceTypeStable) + ".values", "spec.instances.include"},
		{np, index(karpv1.CapacityTypeLabelKey) + ".values", "spec.instances"},
		{np, "spec.template.spec.requirements", "spec.instances"},
		{np, "spec.template.spec.expireAfter", "spec.binPacking.expireAfter"},
		{np, "spec.disruption.budgets[0].nodes", "spec.binPacking.disruptionBudgets[0]"},
		{np, "spec.disruption.budgets[1].schedule", "spec.maintenanceWindows"},
		{np, "spec.disruption.consolidateAfter", "spec.binPacking.consolidateAfter"},
		{np, "spec.template.spec.taints", ""},
		{np, "spec.template.spec.nodeClassRef.name", ""},
	} {
		if got := policyField(c.obj, c.rendered, policy); got != c.want {
			t.Errorf("%T %s: %q, want %q", c.obj, c.rendered, got, c.want)
		}
	}
}

// TestKarpenterFindingsInNodePools: Karpenter's rules broken in spec.nodePools and
// spec.nodeClasses are reported at the entry's field, as written.
func TestKarpenterFindingsInNodePools(t *testing.T) {
	const doc = cleanPolicy + `  nodeClasses:
  - name: gpu
    spec:
      amiSelectorTerms: [{alias: al2023@latest}]
      role: KarpenterNodeRole-prod
      subnetSelectorTerms:
      - tags: {"": x}
      securityGroupSelectorTerms:
      - tags: {karpenter.sh/discovery: prod}
  nodePools:
  - name: gpu
    spec:
      template:
        spec:
          nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: gpu}
          requirements:
          - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
          - {key: karpenter.k8s.aws/instance-gpu-count, operator: Gt, values: [one]}
      disruption:
        budgets:
        - {nodes: "1", schedule: "0 5 * * *"}
`
	repo := policies.LoadBytes("prod.yaml", []byte(doc))
	var got []string
	for _, f := range repo.ValidateWith(policies.Options{CheckRendered: karpenterCheck(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))}) {
		got = append(got, f.String())
	}
	want := []string{
		`prod.yaml:17:9: error [karpenter-rejects] spec.nodeClasses[0].spec.subnetSelectorTerms[0].tags: Karpenter would reject the rendered EC2NodeClass gpu: spec.subnetSelectorTerms[0].tags: empty tag keys or values aren't supported`,
		`prod.yaml:28:13: error [karpenter-rejects] spec.nodePools[0].spec.template.spec.requirements[1]: Karpenter would reject the rendered NodePool gpu: spec.template.spec.requirements: type conversion error from 'string' to 'int' evaluating rule: requirements operator 'Gt', 'Lt', 'Gte', or 'Lte' must have a single positive integer value`,
		`prod.yaml:31:11: error [karpenter-rejects] spec.nodePools[0].spec.disruption.budgets[0]: Karpenter would reject the rendered NodePool gpu: spec.disruption.budgets: 'schedule' must be set with 'duration'`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
