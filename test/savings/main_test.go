package savings

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/ballast-dev/ballast/cloud"
	"github.com/ballast-dev/ballast/devenv"
	"github.com/ballast-dev/ballast/localcluster"
)

const (
	cluster = "savings"
	region  = "eu-west-1"
	// The bin-packing timings the controller runs with (defaults 5m and 1m).
	stablePeriod = 10 * time.Second
	passInterval = 5 * time.Second
)

var (
	env *devenv.Env
	// awsAPI answers DescribeReservedInstances and DescribeSavingsPlans: 3 regional
	// m5.large reserved, the same commitment the policy lists in Git.
	awsAPI *localcluster.AWSAPI
	// committedEnd is when the commitment ends.
	committedEnd = time.Date(2031, 6, 30, 0, 0, 0, 0, time.UTC)
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ballast-savings-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	tree := filepath.Join(dir, "policies")
	if err := writeTree(tree, policyYAML(gitCommitments, closedWindow(time.Now()))); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	types, err := localcluster.AWSInstanceTypes(region, "m5.large", "c5.large")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if awsAPI, err = localcluster.StartAWSAPI([]cloud.ReservedInstance{
		{ID: "ri-0e2e5a11e5", InstanceType: "m5.large", Count: 3, Region: region, End: committedEnd},
	}, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer awsAPI.Stop()
	env, err = devenv.Start(ctx, devenv.Options{
		Dir: filepath.Join(dir, "env"), Policies: tree, Forge: devenv.ForgeGit, InstanceTypes: types, NoWorkloads: true,
		ControllerArgs: []string{"--discover-commitments",
			"--binpacking-stable-period", stablePeriod.String(), "--binpacking-interval", passInterval.String()},
		ControllerEnv: awsAPI.Env(region),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "failed to start the environment:", err)
		if env != nil {
			env.Stop()
		}
		return 1
	}
	defer env.Stop()
	code := m.Run()
	if code != 0 {
		env.Kube.Dump(os.Stderr)
		fmt.Fprintf(os.Stderr, "--- ballast controller (last 80 lines)\n%s\n", env.Ballast.Log(80))
	}
	return code
}

// The commitments part of the policy: the list in Git, or discovered.
const (
	gitCommitments = `  commitments:
    enabled: true
    source: Git
    reservedInstances:
      - instanceType: m5.large
        count: 3
        expires: "2031-06-30"
`
	discoveredCommitments = `  commitments:
    enabled: true
    source: Discover
`
)

// closedWindow is a maintenance window for pod eviction that is not open now (it
// opens in three hours, every day, for an hour).
func closedWindow(now time.Time) string {
	start := now.UTC().Add(3 * time.Hour)
	return fmt.Sprintf(`  maintenanceWindows:
    - name: later
      days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun]
      start: "%02d:00"
      end: "%02d:00"
      allow: [PodEviction]
`, start.Hour(), start.Add(time.Hour).Hour())
}

// policyYAML is the cluster's policy: 2-vCPU amd64 instances in three zones, On-Demand
// by default (a namespace rule puts the light workloads on Spot), Karpenter removes
// only empty nodes, and bin-packing evicts one pod per pass from nodes below half
// their CPU and memory.
func policyYAML(commitments, windows string) string {
	return `apiVersion: ballast.dev/v1alpha1
kind: ClusterPolicy
metadata:
  name: savings
spec:
  cluster:
    name: savings
    region: eu-west-1
  nodeClass:
    role: KarpenterNodeRole-savings
  instances:
    architectures: [amd64]
    cpu: {min: 2, max: 2}
    zones: [eu-west-1a, eu-west-1b, eu-west-1c]
  limits:
    cpu: "64"
    nodes: 30
  spot:
    enabled: true
  distribution:
    baseOnDemand: 0
    onDemandPercent: 100
    selector: All
` + commitments + `  binPacking:
    consolidationPolicy: WhenEmpty
    consolidateAfter: 10s
    podEviction:
      enabled: true
      cpuThresholdPercent: 50
      memoryThresholdPercent: 50
      maxEvictionsPerPass: 1
` + windows
}

const lightRule = `apiVersion: ballast.dev/v1alpha1
kind: WorkloadDistributionRule
metadata:
  name: light
  namespace: light
spec:
  clusters: [savings]
  baseOnDemand: 0
  onDemandPercent: 0
  selector: All
`

func writeTree(dir, policy string) error {
	for path, data := range map[string]string{"clusters/savings.yaml": policy, "rules/light.yaml": lightRule} {
		file := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
			return err
		}
	}
	return nil
}
