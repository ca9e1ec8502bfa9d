package policies

import "testing"

// pool is a spec.nodePools entry: name, Ballast's fields (four spaces in) and the
// capacity types its requirements offer.
func pool(name, fields, capacity string) string {
	return "  - name: " + name + "\n" + fields + `    spec:
      template:
        spec:
          nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: ballast-prod}
          requirements:
          - {key: karpenter.sh/capacity-type, operator: In, values: [` + capacity + `]}
`
}

func TestValidateNodePools(t *testing.T) {
	class := func(name string) string {
		return "  - name: " + name + "\n    spec:\n      role: KarpenterNodeRole-prod\n      amiSelectorTerms: [{alias: al2023@latest}]\n      subnetSelectorTerms: [{tags: {a: b}}]\n      securityGroupSelectorTerms: [{tags: {a: b}}]\n"
	}
	runValidateCases(t, []validateCase{
		{name: "a GPU and a team pool", spec: "  nodeClasses:\n" + class("gpu") + "  nodePools:\n" + pool("gpu", "", "on-demand") + pool("team-a", "    split: true\n", "spot, on-demand")},
		{name: "a default supply name", spec: "  nodeClasses:\n" + class("ballast-prod") + "  nodePools:\n" + pool("ballast-prod-spot", "", "spot"),
			want: []string{"error duplicate-name spec.nodeClasses[0].name", "error duplicate-name spec.nodePools[0].name"}, contains: "give this one another name"},
		{name: "twice", spec: "  nodeClasses:\n" + class("gpu") + class("gpu") + "  nodePools:\n" + pool("a", "", "spot") + pool("a", "", "spot"),
			want: []string{"error duplicate-name spec.nodeClasses[1].name", "error duplicate-name spec.nodePools[1].name"}},
		{name: "not an object name", spec: "  nodePools:\n" + pool("Team_A", "", "spot"),
			want: []string{"error invalid-value spec.nodePools[0].name"}},
		{name: "the default node class", spec: "  nodePools:\n" + pool("a", "", "spot")},
		{name: "split over one capacity type", spec: "  nodePools:\n" + pool("gpu", "    split: true\n", "on-demand"),
			want: []string{"warning ignored-field spec.nodePools[0].split"}, contains: "offers only on-demand"},
		{name: "a pool's window allows only consolidation", spec: "  nodePools:\n" + pool("a", "    maintenanceWindows:\n    - {name: nights, days: [Mon], start: \"01:00\", end: \"05:00\", allow: [Consolidation, PodEviction]}\n", "spot"),
			want: []string{"error invalid-value spec.nodePools[0].maintenanceWindows[0].allow[1]"}, contains: "default supply"},
		{name: "a pool's window time zone", spec: "  nodePools:\n" + pool("a", "    maintenanceWindows:\n    - {name: nights, days: [Mon], start: \"01:00\", end: \"05:00\", allow: [Consolidation], timeZone: Mars/Olympus}\n", "spot"),
			want: []string{"error invalid-time-zone spec.nodePools[0].maintenanceWindows[0].timeZone"}},
		{name: "commitments without the cluster's", spec: "  nodePools:\n" + pool("gpu", "    commitments: true\n", "on-demand"),
			want: []string{"warning ignored-field spec.nodePools[0].commitments"}, contains: "spec.commitments is not enabled"},
		{name: "commitments", spec: "  commitments: {enabled: true, source: Git, reservedInstances: [{instanceType: g5.xlarge, count: 2}]}\n  nodePools:\n" + pool("gpu", "    commitments: true\n", "on-demand")},
		{name: "a committed pool's name", spec: "  commitments: {enabled: true}\n  nodePools:\n" + pool("gpu", "    commitments: true\n", "on-demand") + pool("gpu-committed", "", "spot"),
			want: []string{"error duplicate-name spec.nodePools[1].name"}, contains: "committed NodePool of spec.nodePools[0]"},
		{name: "Karpenter's fields are typed", spec: "  nodePools:\n  - name: a\n    spec:\n      weight: heavy\n      disruption: {consolidateAfter: soon}\n      template: {spec: {nodeClassRef: {group: g, kind: k, name: n}, requirements: [], expireAfter: Never}}\n",
			want: []string{"error wrong-type spec.nodePools[0].spec.weight", "error wrong-type spec.nodePools[0].spec.disruption.consolidateAfter"}},
		{name: "a typo in Karpenter's fields", spec: "  nodePools:\n  - name: a\n    spec:\n      template: {spec: {nodeClassRef: {group: g, kind: k, name: n}, requirements: [], taint: []}}\n",
			want: []string{"error unknown-field spec.nodePools[0].spec.template.spec.taint"}, contains: `did you mean "taints"`},
	})
}

// TestNodePoolsGetKarpentersDefaults: a pool's fields left out get the defaults of
// Karpenter's CRDs when the policy is loaded, as the API server would give them;
// Karpenter's Go types would read an expireAfter left out as Never.
func TestNodePoolsGetKarpentersDefaults(t *testing.T) {
	repo := LoadBytes("prod.yaml", []byte(basePolicy+"  nodePools:\n"+pool("a", "", "spot")+`  - name: b
    spec:
      template:
        spec:
          nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: ballast-prod}
          expireAfter: Never
          requirements: []
      disruption: {consolidateAfter: Never}
`))
	if fs := repo.Validate(); fs.HasErrors() {
		t.Fatal(fs)
	}
	pools := repo.ClusterPolicies[0].Policy.Spec.NodePools
	a, b := pools[0].Spec, pools[1].Spec
	if got := a.Template.Spec.ExpireAfter.Duration; got == nil || got.String() != "720h0m0s" {
		t.Errorf("expireAfter left out = %v, want Karpenter's default 720h", got)
	}
	if got := a.Disruption.ConsolidateAfter.Duration; got == nil || *got != 0 {
		t.Errorf("consolidateAfter left out = %v, want Karpenter's default 0s", got)
	}
	if a.Disruption.ConsolidationPolicy != "WhenEmptyOrUnderutilized" || len(a.Disruption.Budgets) != 1 || a.Disruption.Budgets[0].Nodes != "10%" {
		t.Errorf("disruption left out = %+v, want Karpenter's defaults", a.Disruption)
	}
	if b.Template.Spec.ExpireAfter.Duration != nil || b.Disruption.ConsolidateAfter.Duration != nil {
		t.Errorf("Never written = %v / %v, want Never", b.Template.Spec.ExpireAfter, b.Disruption.ConsolidateAfter)
	}
}
