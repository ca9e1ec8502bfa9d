package v1alpha1_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/test/controlplane"
)

var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunTests(m, &env)) }

const validClusterPolicy = `
apiVersion: ballast.dev/v1alpha1
kind: ClusterPolicy
metadata:
  name: NAME
spec:
  cluster: {name: prod, region: eu-west-1}
  nodeClass: {role: KarpenterNodeRole-prod}
`

// apply creates the object in the API server and returns the error it answered.
func create(t *testing.T, doc string) error {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatalf("bad test document: %v", err)
	}
	return env.Client.Create(context.Background(), u)
}

// withSpec returns a ClusterPolicy named name with extra spec lines appended.
func clusterPolicy(name, spec string) string {
	return strings.Replace(validClusterPolicy, "NAME", name, 1) + indent(spec, "  ")
}

func indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(strings.Trim(s, "\n"), "\n") {
		if line != "" {
			b.WriteString(prefix + line)
		}
		b.WriteString("\n")
	}
	return b.String()
}

type crdCase struct {
	name    string
	doc     string
	wantErr string // "" when the API server must accept the object
}

func runCases(t *testing.T, cases []crdCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := create(t, tc.doc)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("the API server rejected a valid object: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("the API server accepted an invalid object; want an error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestClusterPolicyValidation(t *testing.T) {
	runCases(t, []crdCase{
		{"minimal", clusterPolicy("minimal", ""), ""},
		{"full", clusterPolicy("full", `
instances:
  categories: [c, m]
  minGeneration: 6
  architectures: [amd64, arm64]
  cpu: {min: 2, max: 32}
  memory: {min: 4Gi, max: 128Gi}
  zones: [eu-west-1a]
  exclude: [m6i.metal]
limits: {cpu: "1000", memory: 4000Gi, nodes: 100}
spot:
  strategy: LeastInterrupted
  fallback: {after: 5m, reverseInterval: 1d}
distribution: {onDemandPercent: 30, baseOnDemand: 2, selector: All}
commitments:
  enabled: true
  source: Git
  reservedInstances: [{instanceType: m6i.xlarge, count: 4}]
  savingsPlans: [{type: EC2Instance, family: m6i, commitmentPerHour: "1.25"}]
binPacking:
  consolidationPolicy: WhenEmpty
  consolidateAfter: 30s
  expireAfter: Never
  disruptionBudgets: [{nodes: "10%"}, {nodes: "0", schedule: "0 9 * * 1-5", duration: 8h}]
maintenanceWindows:
  - {name: nights, days: [Mon, Tue], start: "22:00", end: "06:00", timeZone: Europe/Berlin, allow: [Consolidation]}
`), ""},
		{"role and instance profile", clusterPolicy("both-identities", "") + "  nodeClass: {role: r, instanceProfile: p}\n", "set exactly one of role and instanceProfile"},
		{"on-demand percent above 100", clusterPolicy("pct", "distribution: {onDemandPercent: 101}"), "spec.distribution.onDemandPercent"},
		{"negative base", clusterPolicy("base", "distribution: {baseOnDemand: -1}"), "spec.distribution.baseOnDemand"},
		{"unknown strategy", clusterPolicy("strategy", "spot: {strategy: Cheapest}"), "spec.spot.strategy"},
		{"cpu range inverted", clusterPolicy("cpu", "instances: {cpu: {min: 8, max: 4}}"), "min must not be greater than max"},
		{"memory range inverted", clusterPolicy("mem", "instances: {memory: {min: 64Gi, max: 8Gi}}"), "min must not be greater than max"},
		{"memory range in order", clusterPolicy("mem-ok", "instances: {memory: {min: 512Mi, max: 8Gi}}"), ""},
		{"window time out of range", clusterPolicy("window", `maintenanceWindows: [{name: w, days: [Mon], start: "25:00", end: "06:00", allow: [Consolidation]}]`), "spec.maintenanceWindows[0].start"},
		{"window without operations", clusterPolicy("window-ops", `maintenanceWindows: [{name: w, days: [Mon], start: "01:00", end: "02:00", allow: []}]`), "spec.maintenanceWindows[0].allow"},
		{"bad weekday", clusterPolicy("weekday", `maintenanceWindows: [{name: w, days: [Monday], start: "01:00", end: "02:00", allow: [PodEviction]}]`), "spec.maintenanceWindows[0].days[0]"},
		{"bad duration", clusterPolicy("duration", "spot: {fallback: {after: 5 minutes}}"), "spec.spot.fallback.after"},
		{"git commitments without list", clusterPolicy("commitments", "commitments: {enabled: true, source: Git}"), "source Git needs reservedInstances or savingsPlans"},
		{"commitments at zero utilization", clusterPolicy("commitments-zero", "commitments: {enabled: true, maxUtilizationPercent: 0}"), "maxUtilizationPercent must be above 0"},
		{"instance savings plan without family", clusterPolicy("sp", `commitments: {enabled: true, source: Git, savingsPlans: [{type: EC2Instance, commitmentPerHour: "1"}]}`), "an EC2Instance savings plan needs a family"},
		{"budget nodes pattern", clusterPolicy("budget", `binPacking: {disruptionBudgets: [{nodes: "ten"}]}`), "spec.binPacking.disruptionBudgets[0].nodes"},
		{"cluster name pattern", strings.Replace(clusterPolicy("cname", ""), "name: prod,", "name: Prod_1,", 1), "spec.cluster.name"},
		{"region pattern", strings.Replace(clusterPolicy("region", ""), "eu-west-1", "Europe", 1), "spec.cluster.region"},
		{"selector term with tags and id", clusterPolicy("subnets", "") + "  nodeClass: {role: r, subnetSelector: [{id: subnet-1, tags: {a: b}}]}\n", "set exactly one of tags and id"},
	})
}

func TestWorkloadDistributionRuleValidation(t *testing.T) {
	rule := func(spec string) string {
		return "apiVersion: ballast.dev/v1alpha1\nkind: WorkloadDistributionRule\nmetadata: {name: r, namespace: default, generateName: r-}\nspec:\n" + indent(spec, "  ")
	}
	gen := func(doc string) string { return strings.Replace(doc, "name: r, ", "", 1) }
	runCases(t, []crdCase{
		{"valid", gen(rule("workloadSelector: {matchLabels: {tier: web}}\nonDemandPercent: 50\nbaseOnDemand: 2\nstrategy: LeastInterrupted\nselector: All")), ""},
		{"empty spec", gen(rule("{}")), ""},
		{"percent out of range", gen(rule("onDemandPercent: 150")), "spec.onDemandPercent"},
		{"bad selector enum", gen(rule("selector: Some")), "spec.selector"},
	})
}

func TestPolicySourceValidation(t *testing.T) {
	source := func(name, spec string) string {
		return "apiVersion: ballast.dev/v1alpha1\nkind: PolicySource\nmetadata: {name: " + name + ", namespace: default}\nspec:\n  cluster: prod\n  interval: 5m\n" + indent(spec, "  ")
	}
	runCases(t, []crdCase{
		{"git", source("git", "git: {url: https://git.example.com/platform/policies.git, ref: {branch: main}}\npath: ./clusters/prod\nprune: true"), ""},
		{"flux source", source("flux", "sourceRef: {kind: GitRepository, name: policies}"), ""},
		{"neither git nor sourceRef", source("neither", "suspend: true"), "set exactly one of git and sourceRef"},
		{"both git and sourceRef", source("both", "git: {url: https://h/r.git}\nsourceRef: {kind: GitRepository, name: p}"), "set exactly one of git and sourceRef"},
		{"two refs", source("refs", "git: {url: https://h/r.git, ref: {branch: main, tag: v1}}"), "set at most one of branch, tag and commit"},
		{"ssh without secret", source("ssh", "git: {url: ssh://git@h/r.git}"), "an ssh:// url needs a secretRef"},
		{"unknown source kind", source("kind", "sourceRef: {kind: Bucket, name: p}"), "spec.sourceRef.kind"},
		{"bad interval", source("interval", "git: {url: https://h/r.git}") + "  retryInterval: soon\n", "spec.retryInterval"},
		{"name longer than a label value", source(strings.Repeat("p", 64), "git: {url: https://h/r.git}"), "at most 63 characters"},
		{"status write-back", source("writeback", `git: {url: https://h/r.git}
statusWriteBack:
  commitStatus: {provider: gitea, repository: platform/policies, secretRef: {name: forge-token}}
  statusFile: {branch: ballast-status, author: {name: Ballast, email: ballast@example.com}}`), ""},
		{"status file min interval", source("mininterval", "git: {url: https://h/r.git}\nstatusWriteBack: {statusFile: {minInterval: 10m}}"), ""},
		{"bad status file min interval", source("badinterval", "git: {url: https://h/r.git}\nstatusWriteBack: {statusFile: {minInterval: often}}"), "spec.statusWriteBack.statusFile.minInterval"},
		// A status commit on the synced branch would be a new revision to sync, which
		// writes the status file again.
		{"status file on the synced branch", source("samebranch", "git: {url: https://h/r.git, ref: {branch: prod}}\nstatusWriteBack: {statusFile: {branch: prod}}"), "is the branch this source syncs"},
		{"status file on the default branch", source("defaultbranch", "git: {url: https://h/r.git}\nstatusWriteBack: {statusFile: {branch: main}}"), "is the branch this source syncs"},
		{"status file on the default branch, empty ref", source("emptyref", "git: {url: https://h/r.git, ref: {branch: \"\"}}\nstatusWriteBack: {statusFile: {branch: main, path: elsewhere/prod.yaml}}"), "is the branch this source syncs"},
		{"status file branch synced by name", source("statusbranch", "git: {url: https://h/r.git, ref: {branch: ballast-status}}\nstatusWriteBack: {statusFile: {}}"), "is the branch this source syncs"},
		{"status file beside a synced branch", source("otherbranch", "git: {url: https://h/r.git, ref: {branch: prod}}\nstatusWriteBack: {statusFile: {branch: main}}"), ""},
		{"status file on the branch of a synced tag", source("tag", "git: {url: https://h/r.git, ref: {tag: v1}}\nstatusWriteBack: {statusFile: {branch: main}}"), ""},
		{"status file of a flux git repository", source("fluxgit", "sourceRef: {kind: GitRepository, name: p}\nstatusWriteBack: {statusFile: {}, commitStatus: {provider: github, repository: o/r, secretRef: {name: t}}}"), ""},
		{"status file of an OCI repository", source("oci", "sourceRef: {kind: OCIRepository, name: p}\nstatusWriteBack: {statusFile: {}}"), "an OCIRepository source has none"},
		{"commit status of an OCI repository", source("ocistatus", "sourceRef: {kind: OCIRepository, name: p}\nstatusWriteBack: {commitStatus: {provider: github, repository: o/r, secretRef: {name: t}}}"), "an OCIRepository artifact has none"},
		{"service account", source("sa", "git: {url: https://h/r.git}\nserviceAccountName: platform.policies-1"), ""},
		{"service account not a name", source("sabad", "git: {url: https://h/r.git}\nserviceAccountName: Policies_1"), "spec.serviceAccountName"},
		{"service account of another namespace", source("sans", "git: {url: https://h/r.git}\nserviceAccountName: team-b:policies"), "spec.serviceAccountName"},
		{"empty service account", source("saempty", "git: {url: https://h/r.git}\nserviceAccountName: \"\""), "spec.serviceAccountName"},
	})
}

func TestPrintColumns(t *testing.T) {
	ctx := context.Background()
	for name, want := range map[string][]string{
		"clusterpolicies.ballast.dev":           {"Cluster", "Region", "Strategy", "On-Demand %", "Base", "Ready"},
		"workloaddistributionrules.ballast.dev": {"On-Demand %", "Base", "Strategy", "Selector", "Ready"},
		"policysources.ballast.dev":             {"Cluster", "Revision", "Suspended", "Ready"},
	} {
		crd := &unstructured.Unstructured{}
		crd.SetAPIVersion("apiextensions.k8s.io/v1")
		crd.SetKind("CustomResourceDefinition")
		if err := env.Client.Get(ctx, clientKey(name), crd); err != nil {
			t.Fatalf("CRD %s is not installed: %v", name, err)
		}
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		v := versions[0].(map[string]any)
		var got []string
		for _, c := range v["additionalPrinterColumns"].([]any) {
			got = append(got, c.(map[string]any)["name"].(string))
		}
		for _, w := range want {
			if !strings.Contains(strings.Join(got, "|"), w) {
				t.Errorf("%s: print column %q missing (have %v)", name, w, got)
			}
		}
		if _, ok := v["subresources"].(map[string]any)["status"]; !ok {
			t.Errorf("%s has no status subresource", name)
		}
	}
}
