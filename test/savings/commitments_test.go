package savings

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/controllers/commitments"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// committedState is what the test reads of the commitments: the ClusterPolicy's
// status.commitments, and the committed NodePool's instance types, weight and limits.
type committedState struct {
	reserved  []v1alpha1.ReservedInstanceUsage
	types     []string
	weight    int32
	nodeLimit int64
	cpuLimit  int64
	ready     *metav1.Condition
	// generation is the ClusterPolicy's.
	generation int64
}

func readCommitted(ctx context.Context) (*committedState, error) {
	p, err := clusterPolicy(ctx)
	if err != nil {
		return nil, err
	}
	s := &committedState{generation: p.Generation}
	if c := p.Status.Commitments; c != nil {
		s.reserved = c.ReservedInstances
	}
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == commitments.ReadyCondition {
			s.ready = &p.Status.Conditions[i]
		}
	}
	var np karpv1.NodePool
	if err := env.Kube.Client.Get(ctx, client.ObjectKey{Name: commitments.PoolName(cluster)}, &np); err != nil {
		return s, client.IgnoreNotFound(err)
	}
	for _, r := range np.Spec.Template.Spec.Requirements {
		if r.Key == corev1.LabelInstanceTypeStable {
			s.types = r.Values
		}
	}
	if np.Spec.Weight != nil {
		s.weight = *np.Spec.Weight
	}
	nodes, cpu := np.Spec.Limits["nodes"], np.Spec.Limits[corev1.ResourceCPU]
	s.nodeLimit, s.cpuLimit = nodes.Value(), cpu.Value()
	return s, nil
}

func (s *committedState) String() string {
	return fmt.Sprintf("reserved %+v; committed pool types %v weight %d limits nodes=%d cpu=%d; %s %+v (generation %d); %d DescribeReservedInstances calls",
		s.reserved, s.types, s.weight, s.nodeLimit, s.cpuLimit, commitments.ReadyCondition, s.ready, s.generation, awsAPI.Calls("DescribeReservedInstances"))
}

// waitCommitted waits until three regional m5.large are committed with used of them
// in use, and the committed pool allows m5.large only, at the highest weight, within
// limits of the pool's own nodes plus the unused ones: always three m5.large here.
func waitCommitted(t *testing.T, used int32, extra func(*committedState) bool) *committedState {
	t.Helper()
	var last *committedState
	want := []v1alpha1.ReservedInstanceUsage{{InstanceType: "m5.large", Committed: 3, Used: used, Unused: 3 - used}}
	err := env.Kube.Eventually(context.Background(), fmt.Sprintf("%d of 3 committed m5.large used", used), 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		s, err := readCommitted(ctx)
		if err != nil {
			return false, "", err
		}
		last = s
		ok := reflect.DeepEqual(s.reserved, want) && slices.Equal(s.types, []string{"m5.large"}) && s.weight == render.CommittedWeight &&
			s.nodeLimit == 3 && s.cpuLimit == 6 && s.ready != nil && s.ready.Status == metav1.ConditionTrue &&
			s.ready.ObservedGeneration == s.generation && (extra == nil || extra(s))
		return ok, s.String(), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// nodePoolsOf returns the NodePool of the node of every running pod of app in ns.
func nodePoolsOf(ctx context.Context, ns, app string) (map[string]int, map[string]string, error) {
	byNode, err := podsByNode(ctx, ns, app)
	if err != nil {
		return nil, nil, err
	}
	pools, types := map[string]int{}, map[string]string{}
	for name, pods := range byNode {
		var n corev1.Node
		if err := env.Kube.Client.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil {
			return nil, nil, err
		}
		pools[n.Labels[karpv1.NodePoolLabelKey]] += len(pods)
		types[name] = n.Labels[corev1.LabelInstanceTypeStable]
	}
	return pools, types, nil
}

// TestCommitmentsFirst: with 3 m5.large reserved in Git and a workload On-Demand, the
// first On-Demand nodes are m5.large from the committed pool and later ones come from
// the regular On-Demand pool; the commitment's use follows the nodes; discovering the
// same reservation through the EC2 and Savings Plans APIs gives the same figures.
func TestCommitmentsFirst(t *testing.T) {
	ctx := context.Background()
	committedPool, onDemandPool := commitments.PoolName(cluster), render.NodePoolName(cluster, v1alpha1.CapacityOnDemand)
	push(t, "commitments: 3 m5.large reserved", policyYAML(gitCommitments, closedWindow(time.Now())), func(p *v1alpha1.ClusterPolicy) bool {
		return p.Spec.Commitments != nil && p.Spec.Commitments.Source == v1alpha1.CommitmentsFromGit
	})
	waitCommitted(t, 0, nil)

	const ns, app = "steady", "steady"
	optIn(t, ns)
	// One pod per 2-vCPU node (1.5 of the 1.9 vCPU allocatable).
	if err := env.Kube.Client.Create(ctx, deployment(ns, app, 3, "1500m", "1Gi")); err != nil {
		t.Fatal(err)
	}
	sel := labels.SelectorFromSet(labels.Set{"app": app})
	if _, err := env.Kube.WaitPodsRunning(ctx, ns, sel, 3, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	pools, types, err := nodePoolsOf(ctx, ns, app)
	if err != nil {
		t.Fatal(err)
	}
	if pools[committedPool] != 3 || len(types) != 3 {
		t.Fatalf("the first 3 On-Demand replicas run on %v (nodes %v), want 3 nodes of %s", pools, types, committedPool)
	}
	for node, typ := range types {
		if typ != "m5.large" {
			t.Errorf("committed node %s is %s, want m5.large", node, typ)
		}
	}
	waitCommitted(t, 3, nil)

	// The commitment is used up: more On-Demand capacity comes from the regular pool
	// (the cheaper c5.large), and the committed pool's limits stay at its 3 nodes.
	scale(t, ns, app, 5)
	if _, err := env.Kube.WaitPodsRunning(ctx, ns, sel, 5, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	if pools, types, err = nodePoolsOf(ctx, ns, app); err != nil {
		t.Fatal(err)
	}
	if pools[committedPool] != 3 || pools[onDemandPool] != 2 {
		t.Fatalf("5 On-Demand replicas run on %v (nodes %v), want 3 on %s and 2 on %s", pools, types, committedPool, onDemandPool)
	}
	git := waitCommitted(t, 3, nil)
	t.Logf("from Git: %s", git)

	// Discover: the same reservation read through the AWS APIs gives the same figures.
	push(t, "commitments: discover them", policyYAML(discoveredCommitments, closedWindow(time.Now())), func(p *v1alpha1.ClusterPolicy) bool {
		return p.Spec.Commitments != nil && p.Spec.Commitments.Source == v1alpha1.CommitmentsFromAWS
	})
	// (The controller caches what it discovered for an hour: another test may have
	// made the calls.)
	discovered := waitCommitted(t, 3, func(*committedState) bool {
		return awsAPI.Calls("DescribeReservedInstances") > 0 && awsAPI.Calls("DescribeSavingsPlans") > 0
	})
	t.Logf("discovered: %s", discovered)

	// The status file in Git carries the commitment's use (written at once for a new
	// revision).
	err = env.Kube.Eventually(ctx, "the status file to show the commitment's use", 2*time.Minute, func(context.Context) (bool, string, error) {
		data := env.Repo.Read("ballast-status", "status/"+cluster+".yaml")
		var file struct {
			Runtime struct {
				Commitments struct {
					ReservedInstances []v1alpha1.ReservedInstanceUsage `json:"reservedInstances"`
				} `json:"commitments"`
			} `json:"runtime"`
		}
		if err := yaml.Unmarshal([]byte(data), &file); err != nil {
			return false, "", err
		}
		got := file.Runtime.Commitments.ReservedInstances
		return reflect.DeepEqual(got, discovered.reserved), fmt.Sprintf("%+v", got), nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The nodes go: the commitment is unused again, the pool's limits unchanged.
	scale(t, ns, app, 0)
	err = env.Kube.Eventually(ctx, "the committed nodes to go", 3*time.Minute, func(ctx context.Context) (bool, string, error) {
		nodes, err := poolNodes(ctx, committedPool)
		return len(nodes) == 0, fmt.Sprintf("%d nodes", len(nodes)), err
	})
	if err != nil {
		t.Fatal(err)
	}
	waitCommitted(t, 0, nil)
}
