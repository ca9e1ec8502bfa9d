package policies

import (
	"fmt"
	"strings"
	"testing"
)

func TestValidateCapacity(t *testing.T) {
	s2s := "  binPacking:\n    spotToSpotConsolidation: true\n"
	include := func(n int) string {
		var types []string
		for i := range n {
			types = append(types, fmt.Sprintf("m6i.%dxlarge", i+2))
		}
		return "  instances:\n    include: [" + strings.Join(types, ", ") + "]\n"
	}
	runValidateCases(t, []validateCase{
		{name: "cpu min above max", spec: "  instances:\n    cpu: {min: 16, max: 8}\n", want: []string{"error empty-supply spec.instances.cpu.min"}},
		{name: "memory min above max", spec: "  instances:\n    memory: {min: 64Gi, max: 32Gi}\n", want: []string{"error empty-supply spec.instances.memory.min"}},
		{name: "every include excluded", spec: "  instances:\n    include: [m6i.large]\n    exclude: [m6i.large]\n",
			want: []string{"error empty-supply spec.instances.include"}, contains: "it is in instances.exclude"},
		{name: "include outside families", spec: "  instances:\n    families: [c6i]\n    include: [m6i.large]\n", want: []string{"error empty-supply spec.instances.include"}},
		{name: "families outside categories", spec: "  instances:\n    categories: [c]\n    families: [m6i, r6i]\n", want: []string{"error empty-supply spec.instances.families"}},
		{name: "families too old", spec: "  instances:\n    minGeneration: 7\n    families: [m6i]\n", want: []string{"error empty-supply spec.instances.families"}},
		{name: "arm family with arm64", spec: "  instances:\n    architectures: [arm64]\n    families: [m7g, c6gn, is4gen]\n"},
		{name: "a1 is arm", spec: "  instances:\n    families: [a1]\n", want: []string{"error empty-supply spec.instances.families"}},
		{name: "one usable family", spec: "  instances:\n    families: [m7g, m7i]\n"},

		{name: "narrow include", spec: include(15) + s2s, want: []string{"warning narrow-spot-supply spec.binPacking.spotToSpotConsolidation"}, contains: "leaves 15 usable types"},
		{name: "wide include", spec: include(16) + s2s},
		{name: "include minus exclude", spec: include(16) + "    exclude: [m6i.2xlarge]\n" + s2s, want: []string{"warning narrow-spot-supply spec.binPacking.spotToSpotConsolidation"}},
		{name: "narrow families", spec: "  instances:\n    families: [m6i, c6i, r6i]\n    cpu: {min: 4, max: 16}\n" + s2s,
			want: []string{"warning narrow-spot-supply spec.binPacking.spotToSpotConsolidation"}, contains: "at most 12 types"},
		{name: "families without cpu range", spec: "  instances:\n    families: [m6i]\n" + s2s},
		{name: "many families in a range", spec: "  instances:\n    families: [m6i, c6i, r6i, m7i]\n    cpu: {min: 4, max: 16}\n" + s2s},
		{name: "categories only", spec: "  instances:\n    categories: [c]\n    cpu: {min: 4, max: 4}\n" + s2s},
		{name: "narrow but consolidation off", spec: include(3)},
		{name: "steering floor at the supply", spec: include(3) + "  spot:\n    interruptions:\n      minInstanceTypes: 3\n",
			want: []string{"warning narrow-spot-supply spec.spot.interruptions.minInstanceTypes"}, contains: "no reclaimed type can ever be left out"},
		{name: "steering floor below the supply", spec: include(4) + "  spot:\n    interruptions:\n      minInstanceTypes: 3\n"},
		{name: "s2s while spot disabled", spec: include(3) + s2s + "  spot:\n    enabled: false\n  distribution:\n    onDemandPercent: 100\n",
			want: []string{"warning ignored-field spec.binPacking.spotToSpotConsolidation"}},

		{name: "zero nodes", spec: "  limits:\n    nodes: 0\n", want: []string{"error limits-too-small spec.limits.nodes"}},
		{name: "zero nodes without base", spec: "  limits:\n    nodes: 0\n  distribution:\n    baseOnDemand: 0\n", want: []string{"warning limits-too-small spec.limits.nodes"}},
		{name: "zero nodes with a rule's base", spec: "  limits:\n    nodes: 0\n  distribution:\n    baseOnDemand: 0\n",
			extra: []string{ruleDoc("db", "data", "  baseOnDemand: 2\n")}, want: []string{"error limits-too-small spec.limits.nodes"}, contains: "rule data/db has baseOnDemand 2"},
		{name: "cpu below one vCPU", spec: "  limits:\n    cpu: 500m\n", want: []string{"error limits-too-small spec.limits.cpu"}},
		{name: "memory below the minimum", spec: "  instances:\n    memory: {min: 8Gi}\n  limits:\n    memory: 4Gi\n", want: []string{"error limits-too-small spec.limits.memory"}},
		{name: "limits fit", spec: "  instances:\n    cpu: {min: 8}\n  limits:\n    cpu: \"8\"\n    memory: 32Gi\n    nodes: 1\n"},

		{name: "spot disabled", spec: "  spot:\n    enabled: false\n  distribution:\n    onDemandPercent: 100\n",
			extra: []string{ruleDoc("web", "shop", "  onDemandPercent: 50\n"), ruleDoc("db", "shop", "  clusters: [prod]\n  workloadSelector: {matchLabels: {a: b}}\n")},
			want:  []string{"warning spot-disabled spec.spot.enabled"}, contains: "rule shop/web (onDemandPercent 50)"},
		{name: "spot disabled, all On-Demand", spec: "  spot:\n    enabled: false\n  distribution:\n    onDemandPercent: 100\n"},

		{name: "reservation excluded", spec: "  instances:\n    exclude: [m6i.large]\n  commitments:\n    enabled: true\n    source: Git\n    reservedInstances:\n      - {instanceType: m6i.large, count: 2}\n",
			want: []string{"warning commitment-outside-supply spec.commitments.reservedInstances[0].instanceType"}},
		{name: "reservation of an arm type", spec: "  commitments:\n    enabled: true\n    source: Git\n    reservedInstances:\n      - {instanceType: m7g.large, count: 2}\n",
			want: []string{"warning commitment-outside-supply spec.commitments.reservedInstances[0].instanceType"}, contains: "arm64"},
		{name: "reservation too small", spec: "  instances:\n    cpu: {min: 4}\n  commitments:\n    enabled: true\n    source: Git\n    reservedInstances:\n      - {instanceType: m6i.large, count: 2}\n      - {instanceType: m6i.xlarge, count: 2}\n",
			want: []string{"warning commitment-outside-supply spec.commitments.reservedInstances[0].instanceType"}, contains: "2 vCPUs"},
		{name: "reservation zone outside zones", spec: "  instances:\n    zones: [eu-west-1a]\n  commitments:\n    enabled: true\n    source: Git\n    reservedInstances:\n      - {instanceType: m6i.large, count: 2, zone: eu-west-1b}\n",
			want: []string{"warning commitment-outside-supply spec.commitments.reservedInstances[0].zone"}},
		{name: "reservation while disabled", spec: "  instances:\n    exclude: [m6i.large]\n  commitments:\n    source: Git\n    reservedInstances:\n      - {instanceType: m6i.large, count: 2}\n"},
		{name: "plan family outside", spec: "  instances:\n    families: [m6i]\n  commitments:\n    enabled: true\n    source: Git\n    savingsPlans:\n      - {type: EC2Instance, family: c6i, commitmentPerHour: \"2\"}\n      - {type: EC2Instance, family: m6i, commitmentPerHour: \"2\"}\n",
			want: []string{"warning commitment-outside-supply spec.commitments.savingsPlans[0].family"}},
		{name: "plan family not in include", spec: "  instances:\n    include: [m6i.large]\n  commitments:\n    enabled: true\n    source: Git\n    savingsPlans:\n      - {type: EC2Instance, family: c6i, commitmentPerHour: \"2\"}\n",
			want: []string{"warning commitment-outside-supply spec.commitments.savingsPlans[0].family"}},
		{name: "no cascade from invalid values", spec: "  limits:\n    memory: -1Gi\n", want: []string{"error out-of-range spec.limits.memory"}},
	})
}

func TestParseFamily(t *testing.T) {
	for _, tc := range []struct {
		name     string
		category string
		gen      int
		arch     string
	}{
		{"m6i", "m", 6, "amd64"}, {"m7g", "m", 7, "arm64"}, {"c6gn", "c", 6, "arm64"}, {"r8gd", "r", 8, "arm64"},
		{"t4g", "t", 4, "arm64"}, {"im4gn", "im", 4, "arm64"}, {"is4gen", "is", 4, "arm64"}, {"a1", "a", 1, "arm64"},
		{"g4dn", "g", 4, "amd64"}, {"g5g", "g", 5, "arm64"}, {"u-6tb1", "u", 1, "amd64"}, {"m7i-flex", "m", 7, "amd64"},
		{"inf2", "inf", 2, "amd64"}, {"hpc7g", "hpc", 7, "arm64"}, {"x2iedn", "x", 2, "amd64"},
	} {
		f, ok := parseFamily(tc.name)
		if !ok || f.category != tc.category || f.gen != tc.gen || f.arch != tc.arch {
			t.Errorf("parseFamily(%q) = %+v, %v; want %s %d %s", tc.name, f, ok, tc.category, tc.gen, tc.arch)
		}
	}
	if _, ok := parseFamily("metal"); ok {
		t.Error("parseFamily(metal) must fail")
	}
}

func TestSizeVCPUs(t *testing.T) {
	for size, want := range map[string]int{"large": 2, "xlarge": 4, "2xlarge": 8, "48xlarge": 192, "metal": 0, "medium": 0, "0xlarge": 0} {
		got, ok := sizeVCPUs("m", size)
		if got != want || ok != (want > 0) {
			t.Errorf("sizeVCPUs(%s) = %d, %v; want %d", size, got, ok, want)
		}
	}
	if _, ok := sizeVCPUs("hpc", "48xlarge"); ok {
		t.Error("hpc sizes are not hyperthreaded and must not be guessed")
	}
}
