package policies

import (
	"strings"
	"testing"
)

// TestCheckRendered: the caller's check of what a policy renders to runs for the
// policies without an error, and only for them, and its findings are reported with the
// others, sorted.
func TestCheckRendered(t *testing.T) {
	broken := strings.Replace(basePolicy, "name: prod\n", "name: broken\n", 2) + "  distribution:\n    onDemandPercent: 120\n"
	repo := LoadBytes("p.yaml", []byte(basePolicy+"---\n"+broken))
	var checked []string
	fs := repo.ValidateWith(Options{CheckRendered: func(p *ClusterPolicyDoc) Findings {
		checked = append(checked, p.Policy.Name)
		return Findings{{Position: p.Locate("spec.nodeClass.role"), Field: "spec.nodeClass.role", Rule: RuleKarpenterRejects, Severity: SeverityError, Message: "refused"}}
	}})
	if strings.Join(checked, ",") != "prod" {
		t.Errorf("checked %v, want only the valid policy prod", checked)
	}
	var got []string
	for _, f := range fs {
		got = append(got, f.String())
	}
	want := []string{
		"p.yaml:10:11: error [karpenter-rejects] spec.nodeClass.role: refused",
		"p.yaml:23:22: error [out-of-range] spec.distribution.onDemandPercent: 120 is out of range: write a number from 0 to 100",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestKarpenterObjects: Karpenter's NodePool and EC2NodeClass are warnings that point
// at ballast import; other Karpenter kinds and other objects stay notes.
func TestKarpenterObjects(t *testing.T) {
	for _, c := range []struct{ apiVersion, kind, rule string }{
		{"karpenter.sh/v1", "NodePool", RuleKarpenterObject},
		{"karpenter.sh/v1beta1", "NodePool", RuleKarpenterObject},
		{"karpenter.k8s.aws/v1", "EC2NodeClass", RuleKarpenterObject},
		{"karpenter.sh/v1", "NodeClaim", RuleIgnored},
		{"karpenter.k8s.aws/v1", "NodePool", RuleIgnored},
		{"v1", "ConfigMap", RuleIgnored},
	} {
		repo := LoadBytes("k.yaml", []byte("# a comment\napiVersion: "+c.apiVersion+"\nkind: "+c.kind+"\nmetadata: {name: x}\n"))
		fs := repo.Validate()
		if len(fs) != 1 || fs[0].Rule != c.rule || fs[0].Line != 2 {
			t.Errorf("%s %s: %v, want one %s at line 2", c.apiVersion, c.kind, fs, c.rule)
			continue
		}
		if c.rule == RuleKarpenterObject && (fs[0].Severity != SeverityWarning || !strings.Contains(fs[0].Message, "not Ballast policy") || !strings.Contains(fs[0].Message, "`ballast import`")) {
			t.Errorf("%s: %s", c.kind, fs[0])
		}
	}
}
