package render_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/crdcheck"
	"github.com/ballast-dev/ballast/plan"
	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/policies/maintenance"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// Parameters of TestValidPoliciesRender.
const (
	// propertySeed seeds the generator: the test is deterministic.
	propertySeed = 20261201
	// propertyPolicies is how many policy trees are generated.
	propertyPolicies = 300
	// propertyRandomTimes is how many reference times of propertyYears are drawn for
	// each valid policy, besides the instants around its zones' offset changes.
	propertyRandomTimes = 8
	// propertyTransitions is how many offset changes of a policy's zones are rendered
	// around: 1s, 1m and 1h before and after each.
	propertyTransitions = 4
	// propertyYears is the span of the reference times, from maintenance.From.
	propertyYears = 10
	// propertyCRDEvery: the first rendering of every propertyCRDEvery-th valid policy
	// is also checked against Karpenter's and Ballast's CRD schemas (slow).
	propertyCRDEvery = 10
)

// propertyZones are the time zones windows are generated in: daylight-saving time in
// the north and the south, zones a quarter or half an hour off the hour (Kathmandu,
// Chatham, St John's, Eucla, Lord Howe, which moves by half an hour), Troll, which
// moves by two hours, Dublin's negative daylight-saving time, Casablanca's changes for
// Ramadan, and zones without daylight-saving time. "" leaves the zone unset (UTC).
var propertyZones = []string{
	"", "UTC", "Europe/Berlin", "Europe/London", "Europe/Dublin", "America/New_York",
	"America/Los_Angeles", "America/St_Johns", "America/Santiago", "America/Havana",
	"America/Sao_Paulo", "Asia/Kathmandu", "Asia/Kolkata", "Asia/Tokyo", "Asia/Tehran",
	"Asia/Gaza", "Australia/Sydney", "Australia/Adelaide", "Australia/Lord_Howe",
	"Australia/Eucla", "Pacific/Chatham", "Pacific/Auckland", "Pacific/Kiritimati",
	"Pacific/Apia", "Africa/Casablanca", "Antarctica/Troll", "Etc/GMT+12",
}

// TestValidPoliciesRender is the promise of validation, checked on random policies:
// whatever validate accepts without an error renders, serialises and diffs (as render,
// plan and diff do) at any reference time, in particular just before and after the
// daylight-saving changes of its windows' time zones. The generator mixes valid values
// with values near the limits of what renders (budget counts, volume sizes, memory
// ranges, durations, label values), so that validation has to tell them apart; the
// test also checks that it produces enough valid policies, and enough near the limit
// of 50 budgets, not to pass vacuously.
func TestValidPoliciesRender(t *testing.T) {
	rng := rand.New(rand.NewPCG(propertySeed, propertySeed))
	schemas := render.LoadCRDs(t)
	var valid, nearLimit, seasonal, tooManyBudgets, renders, diffs, crdChecks int
	failures := 0
	for i := range propertyPolicies {
		g := &policyGen{rng: rng}
		fsys := g.repository()
		repo, err := policies.Load(fsys, ".", "")
		if err != nil {
			t.Fatalf("policy %d: %v", i, err)
		}
		findings := repo.Validate()
		if findings.HasErrors() {
			for _, f := range findings {
				if f.Rule == policies.RuleTooManyItems && f.Field == "spec.maintenanceWindows" {
					tooManyBudgets++
				}
			}
			continue
		}
		valid++
		policy, rules, err := repo.ForCluster(repo.Clusters()[0])
		if err != nil {
			t.Fatalf("policy %d: %v", i, err)
		}
		counts := map[int]bool{}
		var previous []plan.Object
		times := g.referenceTimes(policy.Spec.MaintenanceWindows)
		for j, at := range times {
			objs, err := render.Render(render.Input{Policy: policy, Rules: rules, Source: "local", Now: at})
			renders++
			if err != nil {
				failures++
				t.Errorf("policy %d validates but does not render at %s: %v\n%s", i, at.Format(time.RFC3339), err, fsys["policy.yaml"].Data)
				break
			}
			for _, obj := range objs {
				if np, ok := obj.(*karpv1.NodePool); ok {
					counts[len(np.Spec.Disruption.Budgets)] = true
				}
			}
			// Serialise and diff the first and the last rendering as ballast plan and diff
			// do (plan.Objects serialises with render.Marshal; that is slower than
			// rendering, so it is not done at every time).
			if j != 0 && j != len(times)-1 {
				continue
			}
			if j == 0 && valid%propertyCRDEvery == 0 {
				crdChecks++
				checkCRDs(t, schemas, objs, fmt.Sprintf("policy %d at %s", i, at.Format(time.RFC3339)), fsys)
			}
			flat, err := plan.Objects("c", objs)
			if err != nil {
				failures++
				t.Errorf("policy %d: rendered at %s but does not serialise: %v\n%s", i, at.Format(time.RFC3339), err, fsys["policy.yaml"].Data)
				break
			}
			if previous != nil {
				_ = plan.Diff(previous, flat)
				diffs++
			}
			previous = flat
		}
		if failures >= 5 {
			t.Fatal("stopping after 5 failures")
		}
		most := 0
		for n := range counts {
			most = max(most, n)
		}
		if most >= 45 {
			nearLimit++
		}
		if len(counts) > 1 {
			seasonal++
		}
	}
	t.Logf("%d of %d policies valid (%d with 45 to 50 budgets, %d whose budget count changes with the season); %d refused for too many budgets; %d renderings, %d diffs, %d checked against the CRDs",
		valid, propertyPolicies, nearLimit, seasonal, tooManyBudgets, renders, diffs, crdChecks)
	// The converse: the generator must give validation work on both sides.
	switch {
	case valid < propertyPolicies*3/10:
		t.Errorf("only %d of %d generated policies are valid: the test proves little", valid, propertyPolicies)
	case valid > propertyPolicies*9/10:
		t.Errorf("%d of %d generated policies are valid: the generator does not probe the limits", valid, propertyPolicies)
	case nearLimit < 10:
		t.Errorf("only %d valid policies come near the limit of 50 budgets", nearLimit)
	case seasonal < 10:
		t.Errorf("only %d valid policies have budget counts that change with the season", seasonal)
	case tooManyBudgets < 5:
		t.Errorf("only %d policies are refused for too many budgets", tooManyBudgets)
	}
}

// checkCRDs checks rendered objects against the CRD schemas and CEL rules, as the API
// server would on apply.
func checkCRDs(t *testing.T, schemas *crdcheck.Checker, objs []client.Object, what string, fsys fstest.MapFS) {
	t.Helper()
	data, err := render.Marshal(objs)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	for _, doc := range render.SplitDocuments(data) {
		violations, err := schemas.CheckYAML(doc)
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
		for _, e := range violations {
			t.Errorf("%s: the API server would refuse a rendered object: %s\n%s", what, e, fsys["policy.yaml"].Data)
		}
	}
}

// policyGen writes one random policy tree. Most fields get values that are plainly
// valid; one part of the policy, the probe, gets values near the limits of what
// renders, some valid and some not. The maintenance windows are always random.
type policyGen struct {
	rng   *rand.Rand
	b     strings.Builder
	probe string
}

// probes are the parts of a policy the generator probes; "" probes only the windows.
var probes = []string{"", "", "", "cluster", "labels", "volume", "supply", "memory", "limits", "durations", "budgets"}

func (g *policyGen) probing(part string) bool { return g.probe == part }

func (g *policyGen) chance(p float64) bool { return g.rng.Float64() < p }

func pick[T any](g *policyGen, xs ...T) T { return xs[g.rng.IntN(len(xs))] }

func (g *policyGen) line(indent int, format string, args ...any) {
	g.b.WriteString(strings.Repeat("  ", indent))
	fmt.Fprintf(&g.b, format, args...)
	g.b.WriteByte('\n')
}

// repository is a ClusterPolicy and a few WorkloadDistributionRules.
func (g *policyGen) repository() fstest.MapFS {
	g.probe = pick(g, probes...)
	cluster := "c" + strconv.Itoa(g.rng.IntN(1000))
	if g.probing("cluster") {
		cluster += "-" + strings.Repeat("x", 35+g.rng.IntN(10)) // at most 40 characters
	}
	g.clusterPolicy(cluster)
	fsys := fstest.MapFS{"policy.yaml": &fstest.MapFile{Data: []byte(g.b.String())}}
	g.b.Reset()
	for i := range g.rng.IntN(4) {
		if i > 0 {
			g.b.WriteString("---\n")
		}
		g.rule(cluster, i)
	}
	fsys["rules.yaml"] = &fstest.MapFile{Data: []byte(g.b.String())}
	return fsys
}

func (g *policyGen) clusterPolicy(cluster string) {
	region := pick(g, "eu-west-1", "us-east-1", "ap-southeast-2")
	g.line(0, "apiVersion: ballast.dev/v1alpha1")
	g.line(0, "kind: ClusterPolicy")
	g.line(0, "metadata:")
	g.line(1, "name: %s", cluster)
	if g.probing("labels") {
		g.line(1, "labels: {team: %s, %q: %q}", pick(g, "a", "b"), pick(g, "on", "yes", "app.kubernetes.io/instance", "x/y"), pick(g, "null", "1", "true", ""))
		g.line(1, "annotations: {note: %q}", pick(g, "a: b", "- x", "{}", "multi\nline", "ünïcode"))
	}
	g.line(0, "spec:")
	g.line(1, "cluster: {name: %s, region: %s}", cluster, region)
	g.nodeClass()
	g.instances(region)
	if g.chance(0.5) {
		g.line(1, "limits:")
		if g.probing("limits") {
			g.line(2, "cpu: %q", pick(g, "1000", "64", "0.5", "2", "1e30"))
			g.line(2, "memory: %s", pick(g, "4000Gi", "1Ti", "100Mi", "512Mi", "100Ei"))
			g.line(2, "nodes: %d", pick(g, 0, 1, 10, 300))
		} else {
			g.line(2, "cpu: %q", pick(g, "1000", "64"))
			g.line(2, "memory: %s", pick(g, "4000Gi", "1Ti"))
			g.line(2, "nodes: %d", pick(g, 10, 300))
		}
	}
	spotOff := g.chance(0.15)
	g.line(1, "spot:")
	g.line(2, "enabled: %t", !spotOff)
	g.line(2, "strategy: %s", pick(g, "CostOptimized", "LeastInterrupted"))
	g.line(2, "fallback: {after: %s, reverseInterval: %s}", g.duration(), g.duration())
	g.line(1, "distribution:")
	if spotOff {
		g.line(2, "onDemandPercent: 100")
	} else {
		g.line(2, "onDemandPercent: %d", g.rng.IntN(101))
	}
	g.line(2, "baseOnDemand: %d", g.rng.IntN(4))
	windows := g.windows()
	// With many windows, as many budgets of its own as bring the policy near the
	// limit of 50 at some time of the year: above or below it, in some seasons or all.
	own := -1
	if n := g.budgetCount(windows); n > 25 {
		own = max(0, min(20, 50-n+g.rng.IntN(7)-4))
	}
	g.binPacking(own)
	g.writeWindows(windows)
}

func (g *policyGen) nodeClass() {
	g.line(1, "nodeClass:")
	g.line(2, "role: KarpenterNodeRole")
	g.line(2, "ami: %s", pick(g, "al2023@latest", "bottlerocket@v1.20.0", "al2@latest"))
	if g.probing("labels") {
		g.line(2, "tags: {%q: %q, team: x}", pick(g, "on", "yes", "a b", "cost-center", "ünï"), pick(g, "", "null", "4711", "a: b"))
	}
	if g.chance(0.5) {
		g.line(2, "blockDevices:")
		for i := range 1 + g.rng.IntN(3) {
			g.line(3, "- {deviceName: /dev/xvd%c, volumeSize: %q}", 'a'+i, g.volumeSize())
		}
	}
}

// volumeSize is a size in range, often near the edges of what the EC2NodeClass takes.
func (g *policyGen) volumeSize() string {
	if !g.probing("volume") {
		return pick(g, "20Gi", "100Gi", "1Ti")
	}
	if g.chance(0.5) {
		return pick(g, "20Gi", "1Gi", "59000Gi", "59001Gi", "17Ti", "18Ti", "58Ti", "64T", "63999999999999",
			"18432Gi", "1500Mi", "63000G", "10Ti", "50Ti", "1073741825")
	}
	switch g.rng.IntN(4) {
	case 0:
		return fmt.Sprintf("%dGi", 1+g.rng.IntN(59604))
	case 1:
		return fmt.Sprintf("%dG", 2+g.rng.IntN(63999))
	case 2:
		return fmt.Sprintf("%dTi", 1+g.rng.IntN(58))
	default:
		return strconv.FormatInt((1<<30)+g.rng.Int64N(64e12-(1<<30)), 10)
	}
}

func (g *policyGen) instances(region string) {
	g.line(1, "instances:")
	probe := g.probing("supply")
	if g.chance(0.3) {
		g.line(2, "categories: [%s]", pick(g, "c, m, r", "m"))
	} else if probe && g.chance(0.3) {
		g.line(2, "categories: [%s]", pick(g, "t", strings.Repeat("c", 63), strings.Repeat("c", 64)))
	}
	if g.chance(0.3) {
		g.line(2, "families: [%s]", pick(g, "m6i, c6i, r6i", "m7i-flex, m7i"))
	} else if probe && g.chance(0.3) {
		g.line(2, "families: [%s]", pick(g, "m7g, c7g", "m6-", "t3", "m"+strings.Repeat("6", 62), "m"+strings.Repeat("6", 63)))
	}
	if g.chance(0.3) {
		g.line(2, "minGeneration: %d", 1+g.rng.IntN(6))
	}
	if g.chance(0.3) {
		g.line(2, "architectures: [%s]", pick(g, "amd64", "amd64, arm64"))
	}
	if g.chance(0.3) {
		lo := g.rng.IntN(16)
		g.line(2, "cpu: {min: %d, max: %d}", lo, lo+g.rng.IntN(64))
	}
	switch {
	case g.probing("memory"):
		// Memory bounds near whole MiB, in units that need rounding, and huge ones.
		switch g.rng.IntN(3) {
		case 0:
			lo := 1 + g.rng.IntN(4096)
			g.line(2, "memory: {min: %dKi, max: %dKi}", lo, lo+g.rng.IntN(2048))
		case 1:
			g.line(2, "memory: {min: %s, max: %s}", pick(g, "1Gi", "0", "1500Ki", "1000000"), pick(g, "1Ti", "100Ei", "1600Ki", "1Ei", "2000000"))
		default:
			lo := g.rng.IntN(64)
			g.line(2, "memory: {min: %dM, max: %dM}", lo, lo+g.rng.IntN(4))
		}
	case g.chance(0.3):
		lo := g.rng.IntN(64)
		g.line(2, "memory: {min: %dGi, max: %dGi}", lo, lo+g.rng.IntN(512))
	}
	if g.chance(0.4) || probe {
		zone := region + pick(g, "a", "b", "c")
		if probe {
			zone = region + pick(g, "a b", "-lax-1a", "a-", "a_", "a."+strings.Repeat("z", 60))
		}
		g.line(2, "zones: [%q]", zone)
	}
	types := []string{"m6i.large", "m6i.xlarge", "c6i.2xlarge", "r6i.large", "t3.micro"}
	if probe {
		types = append(types, "m6i.large-", "m6i.large_", "m6i."+strings.Repeat("x", 60))
	}
	if g.chance(0.2) {
		g.line(2, "include: [%s, %s]", pick(g, types...), pick(g, types...))
	}
	if g.chance(0.2) {
		g.line(2, "exclude: [%s]", pick(g, types...))
	}
}

// duration is a valid duration, or when probing durations often one near the
// longest int64 nanoseconds hold.
func (g *policyGen) duration() string {
	if g.probing("durations") && g.chance(0.5) {
		return pick(g, "106752d", "2562048h", "300000000h", "106751d", "2562047h", "9223372036s", "9223372037s", "0s")
	}
	return fmt.Sprintf("%d%s", 1+g.rng.IntN(120), pick(g, "s", "m", "h", "d"))
}

// binPacking writes bin packing with n disruption budgets; a random number when n
// is -1.
func (g *policyGen) binPacking(n int) {
	g.line(1, "binPacking:")
	g.line(2, "consolidationPolicy: %s", pick(g, "WhenEmpty", "WhenEmptyOrUnderutilized"))
	g.line(2, "consolidateAfter: %s", g.duration())
	if g.probing("durations") {
		g.line(2, "expireAfter: %s", g.duration())
	} else {
		g.line(2, "expireAfter: %s", pick(g, "Never", "720h", "30d", g.duration()))
	}
	if g.chance(0.2) {
		g.line(2, "podEviction: {enabled: true, cpuThresholdPercent: %d}", 1+g.rng.IntN(100))
	}
	switch {
	case n >= 0:
	case g.chance(0.3):
		n = 0
	case g.chance(0.4):
		n = 1 + g.rng.IntN(3)
	default:
		n = 1 + g.rng.IntN(20)
	}
	if n == 0 {
		return
	}
	g.line(2, "disruptionBudgets:")
	for range n {
		var fields []string
		fields = append(fields, fmt.Sprintf("nodes: %q", pick(g, "0", "1", "10%", "100%", "5")))
		if g.chance(0.3) {
			fields = append(fields, fmt.Sprintf("reasons: [%s]", pick(g, "Drifted", "Empty, Underutilized", "Underutilized")))
		}
		if g.chance(0.6) {
			schedule := pick(g, "@daily", "@weekly", "0 22 * * 1-5", "*/15 * * * *", "0 0 1 JAN *", "? ? * * *",
				fmt.Sprintf("%d %d * * %s", g.rng.IntN(60), g.rng.IntN(24), pick(g, "*", "MON-FRI", "0,6", "sun")))
			duration := pick(g, fmt.Sprintf("%dm", 1+g.rng.IntN(600)), fmt.Sprintf("%dh", 1+g.rng.IntN(48)), "1d")
			if g.probing("budgets") {
				duration = pick(g, "90s", "60s", "1h30m", "120s", "1m1s", g.duration())
				schedule = pick(g, schedule, "@every 1h", "0 0 * * 7", "5/10 * * * *", "0 0 ? * *", "+5 * * * *")
			}
			fields = append(fields, fmt.Sprintf("schedule: %q", schedule), "duration: "+duration)
		}
		g.line(3, "- {%s}", strings.Join(fields, ", "))
	}
}

// windows generates none, a few, or many maintenance windows (many to probe the
// limit of 50 budgets).
func (g *policyGen) windows() []v1alpha1.MaintenanceWindow {
	n := 0
	switch {
	case g.chance(0.2):
	case g.chance(0.35):
		n = 1 + g.rng.IntN(4)
	default:
		n = 20 + g.rng.IntN(31)
	}
	// A policy uses a few zones, as real ones do; several windows share each.
	zones := make([]string, 1+g.rng.IntN(3))
	for i := range zones {
		zones[i] = pick(g, propertyZones...)
	}
	step := pick(g, 1, 5, 15, 30, 60)
	clockAt := func(m int) string { return fmt.Sprintf("%02d:%02d", m/60%24, m%60) }
	clock := func() string { return clockAt(g.rng.IntN(24*60/step) * step) }
	dayNames := []v1alpha1.Weekday{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	out := make([]v1alpha1.MaintenanceWindow, 0, n)
	for i := range n {
		var days []v1alpha1.Weekday
		if n > 10 && g.chance(0.85) {
			days = []v1alpha1.Weekday{pick(g, dayNames...)}
		} else {
			for _, d := range dayNames {
				if g.chance(0.4) {
					days = append(days, d)
				}
			}
			if len(days) == 0 {
				days = []v1alpha1.Weekday{pick(g, dayNames...)}
			}
		}
		start, end := clock(), clock()
		if n > 10 {
			// Many short windows: each leaves gaps of its own.
			m := g.rng.IntN(24*60/step) * step
			start, end = clockAt(m), clockAt(m+step*(1+g.rng.IntN(max(1, 90/step))))
		}
		for end == start && g.chance(0.99) {
			end = clock()
		}
		if g.chance(0.05) {
			end = "24:00"
		}
		allow := []v1alpha1.MaintenanceOperation{v1alpha1.OperationConsolidation}
		if g.chance(0.15) {
			allow = []v1alpha1.MaintenanceOperation{pick(g, v1alpha1.OperationPodEviction, v1alpha1.OperationReverseFallback)}
		} else if g.chance(0.2) {
			allow = append(allow, v1alpha1.OperationReverseFallback)
		}
		out = append(out, v1alpha1.MaintenanceWindow{
			Name: fmt.Sprintf("w%d", i), Days: days, Start: start, End: end, TimeZone: pick(g, zones...), Allow: allow,
		})
	}
	return out
}

// writeWindows writes the windows in YAML.
func (g *policyGen) writeWindows(windows []v1alpha1.MaintenanceWindow) {
	if len(windows) == 0 {
		return
	}
	g.line(1, "maintenanceWindows:")
	for _, w := range windows {
		zone := ""
		if w.TimeZone != "" {
			zone = ", timeZone: " + w.TimeZone
		}
		days := make([]string, len(w.Days))
		for i, d := range w.Days {
			days[i] = string(d)
		}
		allow := make([]string, len(w.Allow))
		for i, a := range w.Allow {
			allow[i] = string(a)
		}
		g.line(2, "- {name: %s, days: [%s], start: %q, end: %q%s, allow: [%s]}", w.Name, strings.Join(days, ", "), w.Start, w.End, zone, strings.Join(allow, ", "))
	}
}

// budgetCount is how many budgets the windows compile to at a random time of the
// first year, or 0.
func (g *policyGen) budgetCount(windows []v1alpha1.MaintenanceWindow) int {
	at := maintenance.From.Add(time.Duration(g.rng.Int64N(int64(365 * 24 * time.Hour))))
	blocked, err := maintenance.Blocked(maintenance.Allowing(windows, v1alpha1.OperationConsolidation), at)
	if err != nil {
		return 0
	}
	return len(blocked)
}

func (g *policyGen) rule(cluster string, i int) {
	g.line(0, "apiVersion: ballast.dev/v1alpha1")
	g.line(0, "kind: WorkloadDistributionRule")
	g.line(0, "metadata: {name: r%d, namespace: team-%d}", i, i)
	g.line(0, "spec:")
	if g.chance(0.5) {
		g.line(1, "clusters: [%s]", cluster)
	}
	if g.chance(0.5) {
		g.line(1, "workloadSelector: {matchLabels: {app: %s}}", pick(g, "web", "api"))
	}
	g.line(1, "onDemandPercent: %d", g.rng.IntN(101))
	g.line(1, "baseOnDemand: %d", g.rng.IntN(3))
	g.line(1, "strategy: %s", pick(g, "CostOptimized", "LeastInterrupted"))
}

// referenceTimes are the instants a valid policy is rendered at: random instants of
// propertyYears, the first instant of every combination of offsets its windows' zones
// take (and the second before it), and instants around some of their offset changes.
func (g *policyGen) referenceTimes(windows []v1alpha1.MaintenanceWindow) []time.Time {
	from := maintenance.From
	to := from.AddDate(propertyYears, 0, 0)
	var out []time.Time
	for range propertyRandomTimes {
		out = append(out, from.Add(time.Duration(g.rng.Int64N(int64(to.Sub(from))))))
	}
	zones, err := maintenance.Locations(windows)
	if err != nil || len(zones) == 0 {
		return out
	}
	for _, r := range maintenance.Regimes(zones, from, to) {
		out = append(out, r.At)
		if r.At.After(from) {
			out = append(out, r.At.Add(-time.Second))
		}
	}
	var changes []time.Time
	for _, loc := range zones {
		for t := from; ; {
			_, end := t.In(loc).ZoneBounds()
			if end.IsZero() || !end.Before(to) {
				break
			}
			changes = append(changes, end)
			t = end
		}
	}
	for range min(propertyTransitions, len(changes)) {
		c := changes[g.rng.IntN(len(changes))]
		for _, d := range []time.Duration{time.Second, time.Minute, time.Hour} {
			out = append(out, c.Add(-d), c.Add(d))
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// TestSeasonalBudgetCountIsCaught is the case that motivated checking every season:
// pairs of windows, one in UTC and one in London that opens an hour after it ends,
// compile to 25 budgets in summer (London's window is adjacent) and 50 in winter, when
// with the default budget the NodePool would have 51. Rendering fails only in winter;
// validation refuses the policy whenever it runs.
func TestSeasonalBudgetCountIsCaught(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: ballast.dev/v1alpha1\nkind: ClusterPolicy\nmetadata: {name: prod}\nspec:\n" +
		"  cluster: {name: prod, region: eu-west-1}\n  nodeClass: {role: KarpenterNodeRole-prod}\n  maintenanceWindows:\n")
	days := []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	clock := func(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }
	for i := range 25 {
		m := 50 * i
		fmt.Fprintf(&b, "    - {name: utc-%d, days: [%s], start: %q, end: %q, allow: [Consolidation]}\n", i, days[i%7], clock(m), clock(m+60))
		fmt.Fprintf(&b, "    - {name: london-%d, days: [%s], start: %q, end: %q, timeZone: Europe/London, allow: [Consolidation]}\n", i, days[i%7], clock(m+120), clock(m+180))
	}
	repo := policies.LoadBytes("policy.yaml", []byte(b.String()))
	findings := repo.Validate()
	if !slices.ContainsFunc(findings, func(f policies.Finding) bool {
		return f.Rule == policies.RuleTooManyItems && f.Field == "spec.maintenanceWindows"
	}) {
		t.Errorf("validation must refuse the policy, found %v", findings)
	}
	policy, rules, err := repo.ForCluster("prod")
	if err != nil {
		t.Fatal(err)
	}
	summer := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	if _, err := render.Render(render.Input{Policy: policy, Rules: rules, Source: "local", Now: summer}); err != nil {
		t.Errorf("in summer the policy renders: %v", err)
	}
	winter := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if _, err := render.Render(render.Input{Policy: policy, Rules: rules, Source: "local", Now: winter}); err == nil || !strings.Contains(err.Error(), "51 disruption budgets") {
		t.Errorf("in winter rendering must fail with 51 budgets, got %v", err)
	}
}
