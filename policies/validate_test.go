package policies

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/robfig/cron/v3"
)

// basePolicy is a valid ClusterPolicy; tests append fields to its spec (two spaces in)
// or its nodeClass (four spaces in).
const basePolicy = `apiVersion: ballast.dev/v1alpha1
kind: ClusterPolicy
metadata:
  name: prod
spec:
  cluster:
    name: prod
    region: eu-west-1
  nodeClass:
    role: KarpenterNodeRole-prod
`

func ruleDoc(name, namespace, spec string) string {
	return fmt.Sprintf(`apiVersion: ballast.dev/v1alpha1
kind: WorkloadDistributionRule
metadata:
  name: %s
  namespace: %s
spec:
%s`, name, namespace, spec)
}

// validateFiles loads the documents, one file each, and validates them.
func validateFiles(t *testing.T, opts Options, docs ...string) Findings {
	t.Helper()
	fsys := fstest.MapFS{}
	for i, d := range docs {
		fsys[fmt.Sprintf("f%d.yaml", i)] = &fstest.MapFile{Data: []byte(d)}
	}
	repo, err := Load(fsys, ".", "")
	if err != nil {
		t.Fatal(err)
	}
	return repo.ValidateWith(opts)
}

// keys summarises the error and warning findings as "severity rule field".
func keys(fs Findings) []string {
	out := []string{}
	for _, f := range fs {
		if f.Severity != SeverityInfo {
			out = append(out, fmt.Sprintf("%s %s %s", f.Severity, f.Rule, f.Field))
		}
	}
	slices.Sort(out)
	return out
}

type validateCase struct {
	name string
	// spec is appended to basePolicy; policy replaces it when set.
	spec   string
	policy string
	// extra are more documents, one file each.
	extra []string
	today string
	want  []string
	// contains is a piece of the first finding's message.
	contains string
}

func runValidateCases(t *testing.T, cases []validateCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.policy
			if doc == "" {
				doc = basePolicy + tc.spec
			}
			var opts Options
			if tc.today != "" {
				opts.Today, _ = time.Parse(time.DateOnly, tc.today)
			}
			fs := validateFiles(t, opts, append([]string{doc}, tc.extra...)...)
			got := keys(fs)
			want := append([]string{}, tc.want...)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("findings:\n got %q\nwant %q\n%v", got, want, fs)
			}
			if tc.contains != "" && (len(fs) == 0 || !strings.Contains(fs[0].Message, tc.contains)) {
				t.Errorf("want a message containing %q, got %v", tc.contains, fs)
			}
		})
	}
}

func TestValidateValues(t *testing.T) {
	runValidateCases(t, []validateCase{
		{name: "clean", want: nil},
		{name: "onDemandPercent negative", spec: "  distribution:\n    onDemandPercent: -1\n",
			want: []string{"error out-of-range spec.distribution.onDemandPercent"}},
		{name: "baseOnDemand too large", spec: "  distribution:\n    baseOnDemand: 10001\n",
			want: []string{"error out-of-range spec.distribution.baseOnDemand"}},
		{name: "minGeneration 0", spec: "  instances:\n    minGeneration: 0\n",
			want: []string{"error out-of-range spec.instances.minGeneration"}},
		{name: "hop limit", spec: "    metadataOptions:\n      httpPutResponseHopLimit: 65\n",
			want: []string{"error out-of-range spec.nodeClass.metadataOptions.httpPutResponseHopLimit"}},
		{name: "iops and throughput too low", spec: "    blockDevices:\n      - {deviceName: /dev/xvda, volumeSize: 20Gi, iops: 50, throughput: 100}\n",
			want: []string{"error out-of-range spec.nodeClass.blockDevices[0].iops", "error out-of-range spec.nodeClass.blockDevices[0].throughput"}},
		{name: "volume size", spec: "    blockDevices:\n      - {deviceName: /dev/xvda, volumeSize: 500Mi}\n      - {deviceName: /dev/xvdb, volumeSize: 100T}\n",
			want: []string{"error out-of-range spec.nodeClass.blockDevices[0].volumeSize", "error out-of-range spec.nodeClass.blockDevices[1].volumeSize"}},
		{name: "maxUtilizationPercent 0 when enabled", spec: "  commitments:\n    enabled: true\n    maxUtilizationPercent: 0\n",
			want: []string{"error out-of-range spec.commitments.maxUtilizationPercent"}},
		{name: "maxUtilizationPercent 0 when disabled", spec: "  commitments:\n    maxUtilizationPercent: 0\n", want: nil},
		{name: "reserved count 0", spec: "  commitments:\n    source: Git\n    reservedInstances:\n      - {instanceType: m6i.large, count: 0}\n",
			want: []string{"error out-of-range spec.commitments.reservedInstances[0].count"}},
		{name: "pod eviction ranges", spec: "  binPacking:\n    podEviction:\n      cpuThresholdPercent: 0\n      memoryThresholdPercent: 101\n      maxEvictionsPerPass: 1001\n",
			want: []string{"error out-of-range spec.binPacking.podEviction.cpuThresholdPercent", "error out-of-range spec.binPacking.podEviction.memoryThresholdPercent", "error out-of-range spec.binPacking.podEviction.maxEvictionsPerPass"}},
		{name: "negative limits", spec: "  limits:\n    nodes: -1\n    memory: -1Gi\n",
			want: []string{"error out-of-range spec.limits.nodes", "error out-of-range spec.limits.memory"}},
		{name: "negative cpu range", spec: "  instances:\n    cpu: {min: -1}\n",
			want: []string{"error out-of-range spec.instances.cpu.min"}},
		{name: "enums", spec: "  distribution:\n    selector: Spot\n  binPacking:\n    consolidationPolicy: Always\n  commitments:\n    source: AWS\n",
			want: []string{"error invalid-value spec.distribution.selector", "error invalid-value spec.binPacking.consolidationPolicy", "error invalid-value spec.commitments.source"}},
		{name: "strategy typo suggests", spec: "  spot:\n    strategy: LeastInterupted\n",
			want: []string{"error invalid-value spec.spot.strategy"}, contains: `did you mean "LeastInterrupted"`},
		{name: "architecture alias", spec: "  instances:\n    architectures: [x86_64]\n",
			want: []string{"error invalid-value spec.instances.architectures[0]"}, contains: "write amd64"},
		{name: "volume type and tokens", spec: "    blockDevices:\n      - {deviceName: /dev/xvda, volumeSize: 20Gi, volumeType: gp4}\n    metadataOptions:\n      httpTokens: require\n",
			want: []string{"error invalid-value spec.nodeClass.blockDevices[0].volumeType", "error invalid-value spec.nodeClass.metadataOptions.httpTokens"}},
		{name: "cluster name", policy: strings.Replace(basePolicy, "    name: prod\n", "    name: Prod\n", 1),
			want: []string{"error invalid-value spec.cluster.name"}},
		{name: "cluster name too long", policy: strings.Replace(basePolicy, "    name: prod\n", "    name: "+strings.Repeat("a", 41)+"\n", 1),
			want: []string{"error invalid-value spec.cluster.name"}},
		{name: "region", policy: strings.Replace(basePolicy, "eu-west-1", "europe-west1", 1),
			want: []string{"error invalid-value spec.cluster.region"}},
		{name: "metadata name", policy: strings.Replace(basePolicy, "  name: prod\nspec", "  name: Prod_1\nspec", 1),
			want: []string{"error invalid-value metadata.name"}},
		{name: "ami id", spec: "    ami: ami-0123456789\n", want: []string{"error invalid-value spec.nodeClass.ami"}, contains: "AMI id"},
		{name: "ami family", spec: "    ami: ubuntu@latest\n", want: []string{"error invalid-value spec.nodeClass.ami"}},
		{name: "windows pinned", spec: "    ami: windows2022@v1.2\n", want: []string{"error invalid-value spec.nodeClass.ami"}},
		{name: "ami pinned", spec: "    ami: bottlerocket@v1.20.0\n", want: nil},
		{name: "instance names", spec: "  instances:\n    categories: [C]\n    families: [m6i.large, M6]\n    include: [m6i]\n    exclude: [c6i.large]\n",
			want: []string{"error invalid-value spec.instances.categories[0]", "error invalid-value spec.instances.families[0]", "error invalid-value spec.instances.families[1]", "error invalid-value spec.instances.include[0]"}},
		{name: "dates and amounts", spec: "  commitments:\n    source: Git\n    reservedInstances:\n      - {instanceType: m6i.large, count: 1, expires: \"2026-13-01\"}\n      - {instanceType: m6i.large, count: 1, expires: \"31.12.2026\"}\n    savingsPlans:\n      - {type: Compute, commitmentPerHour: \"$12\"}\n",
			want: []string{"error invalid-value spec.commitments.reservedInstances[0].expires", "error invalid-value spec.commitments.reservedInstances[1].expires", "error invalid-value spec.commitments.savingsPlans[0].commitmentPerHour"}},
		{name: "savings plan type", spec: "  commitments:\n    source: Git\n    savingsPlans:\n      - {type: Compute1, commitmentPerHour: \"1\"}\n",
			want: []string{"error invalid-value spec.commitments.savingsPlans[0].type"}},
		{name: "budget nodes and reasons", spec: "  binPacking:\n    disruptionBudgets:\n      - nodes: \"10 %\"\n        reasons: [Expired]\n",
			want: []string{"error invalid-value spec.binPacking.disruptionBudgets[0].nodes", "error invalid-value spec.binPacking.disruptionBudgets[0].reasons[0]"}},
		{name: "selector ids", spec: "    subnetSelector:\n      - id: sg-123\n    securityGroupSelector:\n      - id: sg-0abc\n",
			want: []string{"error invalid-value spec.nodeClass.subnetSelector[0].id"}},
		{name: "empty selector tag value", spec: "    subnetSelector:\n      - tags: {network: \"\"}\n",
			want: []string{`error invalid-value spec.nodeClass.subnetSelector[0].tags["network"]`}, contains: `write "*"`},
		{name: "reserved tag", spec: "    tags:\n      kubernetes.io/cluster/prod: owned\n      team: a\n",
			want: []string{`error invalid-value spec.nodeClass.tags["kubernetes.io/cluster/prod"]`}},
		{name: "too many tags", spec: "    tags:\n" + manyTags(41),
			want: []string{"error too-many-items spec.nodeClass.tags"}},
		{name: "too many zones", spec: "  instances:\n    zones: [" + strings.TrimSuffix(strings.Repeat("eu-west-1a, ", 21), ", ") + "]\n",
			want: []string{"error too-many-items spec.instances.zones"}},
	})
}

func manyTags(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "      tag%d: v\n", i)
	}
	return b.String()
}

func TestValidateStructure(t *testing.T) {
	runValidateCases(t, []validateCase{
		{name: "neither role nor profile", policy: strings.Replace(basePolicy, "    role: KarpenterNodeRole-prod\n", "    ami: al2023@latest\n", 1),
			want: []string{"error exactly-one-of spec.nodeClass"}},
		{name: "selector tags and id", spec: "    subnetSelector:\n      - tags: {a: b}\n        id: subnet-0abc\n      - {}\n",
			want: []string{"error exactly-one-of spec.nodeClass.subnetSelector[0].id", "error exactly-one-of spec.nodeClass.subnetSelector[1]"}},
		{name: "durations", spec: "  spot:\n    fallback:\n      after: 0s\n      reverseInterval: 0m\n  binPacking:\n    consolidateAfter: 1w\n",
			want: []string{"error invalid-duration spec.spot.fallback.reverseInterval", "error invalid-duration spec.binPacking.consolidateAfter"}},
		{name: "fallback timing", spec: "  spot:\n    fallback:\n      after: 10m\n      reverseInterval: 5m\n",
			want: []string{"error fallback-timing spec.spot.fallback.reverseInterval"}},
		{name: "fallback timing against the default interval", spec: "  spot:\n    fallback:\n      after: 1h\n",
			want: []string{"error fallback-timing spec.spot.fallback.after"}},
		{name: "fallback sooner than Karpenter tries other pools", spec: "  spot:\n    fallback:\n      after: 10s\n",
			want: []string{"warning fallback-timing spec.spot.fallback.after"}},
		{name: "expireAfter", spec: "  binPacking:\n    expireAfter: forever\n", want: []string{"error invalid-duration spec.binPacking.expireAfter"}},
		{name: "expireAfter zero", spec: "  binPacking:\n    expireAfter: 0h\n", want: []string{"error invalid-duration spec.binPacking.expireAfter"}},
		{name: "expireAfter Never and days", spec: "  binPacking:\n    expireAfter: Never\n", want: nil},
		{name: "missing name", policy: strings.Replace(basePolicy, "metadata:\n  name: prod\n", "metadata:\n  labels: {a: b}\n", 1),
			want: []string{"error missing-field metadata.name"}},
		{name: "rule without namespace", extra: []string{strings.Replace(ruleDoc("web", "x", "  onDemandPercent: 10\n"), "  namespace: x\n", "", 1)},
			want: []string{"error missing-field metadata.namespace"}},
		{name: "rule namespace invalid", extra: []string{ruleDoc("web", "Shop", "  onDemandPercent: 10\n")},
			want: []string{"error invalid-value metadata.namespace"}},
		{name: "EC2Instance plan without family", spec: "  commitments:\n    source: Git\n    savingsPlans:\n      - {type: EC2Instance, commitmentPerHour: \"1.5\"}\n",
			want: []string{"error missing-field spec.commitments.savingsPlans[0].family"}},
		{name: "pod eviction without threshold", spec: "  binPacking:\n    podEviction:\n      enabled: true\n",
			want: []string{"error missing-field spec.binPacking.podEviction"}},
		{name: "ignored fields", spec: "  commitments:\n    enabled: true\n    reservedInstances:\n      - {instanceType: m6i.large, count: 1}\n    savingsPlans:\n      - {type: Compute, family: m6i, commitmentPerHour: \"1\"}\n    source: Discover\n",
			want: []string{"warning ignored-field spec.commitments.reservedInstances", "warning ignored-field spec.commitments.savingsPlans[0].family"}},
		{name: "kms on unencrypted", spec: "    blockDevices:\n      - {deviceName: /dev/xvda, volumeSize: 20Gi, encrypted: false, kmsKeyID: arn:aws:kms:x}\n",
			want: []string{"warning ignored-field spec.nodeClass.blockDevices[0].kmsKeyID"}},
		{name: "io2 without iops, throughput on gp2", spec: "    blockDevices:\n      - {deviceName: /dev/xvda, volumeSize: 20Gi, volumeType: io2}\n      - {deviceName: /dev/xvdb, volumeSize: 20Gi, volumeType: gp2, throughput: 200}\n",
			want: []string{"error invalid-block-device spec.nodeClass.blockDevices[0].volumeType", "error invalid-block-device spec.nodeClass.blockDevices[1].throughput"}},
		{name: "duplicate device", spec: "    blockDevices:\n      - {deviceName: /dev/xvda, volumeSize: 20Gi}\n      - {deviceName: /dev/xvda, volumeSize: 30Gi}\n",
			want: []string{"error duplicate-name spec.nodeClass.blockDevices[1].deviceName"}},
		{name: "duplicate rule", extra: []string{ruleDoc("web", "shop", "  onDemandPercent: 10\n"), ruleDoc("web", "shop", "  workloadSelector: {matchLabels: {a: b}}\n")},
			want: []string{"error duplicate-name metadata.name"}},
		{name: "same rule name in two namespaces", extra: []string{ruleDoc("web", "shop", "  onDemandPercent: 10\n"), ruleDoc("web", "blog", "  onDemandPercent: 10\n")}},
		{name: "unknown cluster without policies", policy: ruleDoc("web", "shop", "  clusters: [prod]\n"),
			want: []string{"error unknown-cluster spec.clusters[0]"}},
		{name: "known cluster", extra: []string{ruleDoc("web", "shop", "  clusters: [prod]\n")}},
		{name: "broken policy still names its cluster", spec: "  spot:\n    enabeld: true\n", extra: []string{ruleDoc("web", "shop", "  clusters: [prod]\n")},
			want: []string{"error unknown-field spec.spot.enabeld"}},
		{name: "zone id", spec: "  instances:\n    zones: [euw1-az1]\n", want: []string{"error zone-not-in-region spec.instances.zones[0]"}, contains: "zone id"},
		{name: "local zone", spec: "  instances:\n    zones: [eu-west-1a, eu-west-1-lax-1a]\n"},
		{name: "reservation zone", spec: "  commitments:\n    source: Git\n    reservedInstances:\n      - {instanceType: m6i.large, count: 1, zone: us-east-1a}\n",
			want: []string{"error zone-not-in-region spec.commitments.reservedInstances[0].zone"}},
	})
}

func TestValidateSchedules(t *testing.T) {
	window := func(fields string) string {
		return "  maintenanceWindows:\n    - name: nights\n      days: [Mon]\n      allow: [Consolidation]\n" + fields
	}
	runValidateCases(t, []validateCase{
		{name: "whole day", spec: window("      start: \"00:00\"\n      end: \"24:00\"\n")},
		{name: "over midnight", spec: window("      start: \"22:00\"\n      end: \"06:00\"\n      timeZone: America/New_York\n")},
		{name: "empty", spec: window("      start: \"00:00\"\n      end: \"00:00\"\n"), want: []string{"error invalid-window spec.maintenanceWindows[0].end"}},
		{name: "sloppy time", spec: window("      start: \"9:00\"\n      end: \"25:00\"\n"),
			want: []string{"error invalid-value spec.maintenanceWindows[0].start", "error invalid-value spec.maintenanceWindows[0].end"}, contains: `write "09:00"`},
		{name: "start 24:00", spec: window("      start: \"24:00\"\n      end: \"01:00\"\n"), want: []string{"error invalid-value spec.maintenanceWindows[0].start"}},
		{name: "names and days", spec: "  maintenanceWindows:\n    - {name: a, days: [Monday], start: \"01:00\", end: \"02:00\", allow: [Consolidation]}\n    - {name: a, days: [], start: \"01:00\", end: \"02:00\", allow: []}\n    - {name: B, days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun, Mon], start: \"01:00\", end: \"02:00\", allow: [Eviction]}\n",
			want: []string{"error invalid-value spec.maintenanceWindows[0].days[0]", "error duplicate-name spec.maintenanceWindows[1].name", "error missing-field spec.maintenanceWindows[1].days", "error missing-field spec.maintenanceWindows[1].allow", "error invalid-value spec.maintenanceWindows[2].name", "error too-many-items spec.maintenanceWindows[2].days", "error invalid-value spec.maintenanceWindows[2].allow[0]"}},
		{name: "zone CET", spec: window("      start: \"01:00\"\n      end: \"02:00\"\n      timeZone: CET\n")},
		{name: "zone EST", spec: window("      start: \"01:00\"\n      end: \"02:00\"\n      timeZone: EST\n"),
			want: []string{"warning invalid-time-zone spec.maintenanceWindows[0].timeZone"}, contains: "America/New_York"},
		{name: "zone Etc/GMT-2", spec: window("      start: \"01:00\"\n      end: \"02:00\"\n      timeZone: Etc/GMT-2\n"),
			want: []string{"warning invalid-time-zone spec.maintenanceWindows[0].timeZone"}, contains: "UTC+2"},
		{name: "zone PST", spec: window("      start: \"01:00\"\n      end: \"02:00\"\n      timeZone: PST\n"),
			want: []string{"error invalid-time-zone spec.maintenanceWindows[0].timeZone"}, contains: "America/Los_Angeles"},
		{name: "zone Local", spec: window("      start: \"01:00\"\n      end: \"02:00\"\n      timeZone: Local\n"),
			want: []string{"error invalid-time-zone spec.maintenanceWindows[0].timeZone"}},
		{name: "zone case", spec: window("      start: \"01:00\"\n      end: \"02:00\"\n      timeZone: america/new_york\n"),
			want: []string{"error invalid-time-zone spec.maintenanceWindows[0].timeZone"}, contains: `"America/New_York"`},
		{name: "ineffective reverse fallback", spec: "  spot:\n    enabled: false\n  distribution:\n    onDemandPercent: 100\n" +
			"  maintenanceWindows:\n    - {name: a, days: [Mon], start: \"01:00\", end: \"02:00\", allow: [ReverseFallback, PodEviction]}\n  binPacking:\n    podEviction: {enabled: true, cpuThresholdPercent: 40}\n",
			want: []string{"warning ineffective-window spec.maintenanceWindows[0].allow[0]"}},
		{name: "budget without schedule", spec: "  binPacking:\n    disruptionBudgets:\n      - {nodes: \"0\", duration: 8h}\n",
			want: []string{"error incomplete-budget spec.binPacking.disruptionBudgets[0].duration"}},
		{name: "budget durations", spec: "  binPacking:\n    disruptionBudgets:\n      - {nodes: \"0\", schedule: \"@daily\", duration: 90s}\n      - {nodes: \"0\", schedule: \"@daily\", duration: 0m}\n      - {nodes: \"0\", schedule: \"@daily\", duration: 1d}\n",
			want: []string{"error invalid-duration spec.binPacking.disruptionBudgets[0].duration", "error invalid-duration spec.binPacking.disruptionBudgets[1].duration"}, contains: "write e.g. 2m"},
		{name: "budget every", spec: "  binPacking:\n    disruptionBudgets:\n      - {nodes: \"0\", schedule: \"@every 1h\", duration: 1h}\n",
			want: []string{"error invalid-schedule spec.binPacking.disruptionBudgets[0].schedule"}},
		{name: "expired", today: "2026-06-01", spec: "  commitments:\n    source: Git\n    reservedInstances:\n      - {instanceType: m6i.large, count: 1, expires: \"2026-05-31\"}\n      - {instanceType: m6i.large, count: 1, expires: \"2026-06-01\"}\n    savingsPlans:\n      - {type: Compute, commitmentPerHour: \"1\", expires: \"2020-01-01\"}\n",
			want: []string{"warning expired-commitment spec.commitments.reservedInstances[0].expires", "warning expired-commitment spec.commitments.savingsPlans[0].expires"}},
		{name: "expiry without a date", spec: "  commitments:\n    source: Git\n    reservedInstances:\n      - {instanceType: m6i.large, count: 1, expires: \"2020-01-01\"}\n"},
	})
}

func TestCheckCron(t *testing.T) {
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{"0 22 * * 1-5", true}, {"*/15 * * * *", true}, {"0 0 1 JAN *", true}, {"0 9 * * MON-FRI", true},
		{"0 0 ? * SUN", true}, {"5,10,15 0-6/2 1-31 1-12 0-6", true}, {"@daily", true}, {"@hourly", true},
		{"0 25 * * *", false}, {"60 * * * *", false}, {"0 0 0 * *", false}, {"0 0 * 13 *", false}, {"0 0 * * 7", false},
		{"0 0 * *", false}, {"0 0 * * * *", false}, {"@every 1h", false}, {"@weekdays", false}, {"*/0 * * * *", false},
		{"5-1 * * * *", false}, {"? ? * * *", true}, {"a * * * *", false}, {"", false},
	} {
		if err := checkCron(tc.expr); (err == nil) != tc.ok {
			t.Errorf("checkCron(%q) = %v, want ok=%v", tc.expr, err, tc.ok)
		}
	}
}

func TestValidateIsRepeatable(t *testing.T) {
	repo := LoadBytes("p.yaml", []byte(basePolicy+"  spot:\n    enabeld: true\n---\n"+ruleDoc("a", "b", "  onDemandPercent: 200\n")))
	first := repo.Validate()
	second := repo.Validate()
	if len(first) != 2 || !slices.Equal(keys(first), keys(second)) || len(repo.Findings) != 1 {
		t.Errorf("Validate must not accumulate findings: %v then %v (load findings %v)", first, second, repo.Findings)
	}
}

// TestCheckCronAgreesWithKarpenter compares checkCron with the parser Karpenter runs
// (robfig/cron's standard parser) on many expressions; they must agree, except that
// Karpenter's schema refuses @every and time-zone prefixes, which checkCron does too.
func TestCheckCronAgreesWithKarpenter(t *testing.T) {
	parts := [][]string{
		{"*", "0", "59", "60", "*/5", "5/10", "1-5", "5-1", "1,2,3", "*/0", "a", "-1", "?", "1-2/3", ""},
		{"*", "0", "23", "24", "0-23/2", "?"},
		{"*", "1", "31", "0", "32", "?", "1-15", "L"},
		{"*", "1", "12", "13", "JAN", "jan-mar", "FOO", "0"},
		{"*", "0", "6", "7", "MON-FRI", "sun", "?", "1-7", "FRI-MON"},
	}
	n := 0
	var expr func(i int, prefix []string)
	expr = func(i int, prefix []string) {
		if i == len(parts) {
			e := strings.Join(prefix, " ")
			_, err := cron.ParseStandard(e)
			if mine := checkCron(e); (mine == nil) != (err == nil) {
				t.Errorf("%q: checkCron says %v, Karpenter's parser %v", e, mine, err)
			}
			n++
			return
		}
		for j, p := range parts[i] {
			if i >= 2 && j > 2 && len(prefix) > 0 && prefix[0] != "*" {
				continue // keep the product small: vary late fields only with a plain minute
			}
			expr(i+1, append(prefix, p))
		}
	}
	expr(0, nil)
	for _, e := range []string{"@daily", "@yearly", "@annually", "@monthly", "@weekly", "@midnight", "@hourly"} {
		if checkCron(e) != nil {
			t.Errorf("%s must be accepted", e)
		}
	}
	t.Logf("%d expressions compared", n)
}
