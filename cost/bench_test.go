package cost

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// snapshot500 is a `kubectl get nodes,pods -o yaml` List of 500 nodes in
// eu-central-1 (a third on Spot), each running 12 pods of 200 Deployments in 20
// namespaces and 2 DaemonSet pods: 7,000 pods.
func snapshot500() []byte {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	types := []string{"m6i.2xlarge", "c6i.2xlarge", "r6i.xlarge", "m7g.2xlarge"}
	for i := range 500 {
		capacity := "on-demand"
		if i%3 == 0 {
			capacity = "spot"
		}
		fmt.Fprintf(&b, `- apiVersion: v1
  kind: Node
  metadata:
    name: node-%d
    labels: {node.kubernetes.io/instance-type: %s, karpenter.sh/capacity-type: %s, topology.kubernetes.io/region: eu-central-1, topology.kubernetes.io/zone: eu-central-1a}
  status:
    allocatable: {cpu: 7910m, memory: 28Gi}
`, i, types[i%len(types)], capacity)
		for j := range 12 {
			d := (i*12 + j) % 200
			fmt.Fprintf(&b, `- apiVersion: v1
  kind: Pod
  metadata:
    name: app-%d-h%d-%d
    namespace: team-%d
    labels: {app: app-%d, pod-template-hash: h%d}
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: app-%d-h%d, uid: u, controller: true}]
  spec:
    nodeName: node-%d
    containers: [{name: c, image: i, resources: {requests: {cpu: %dm, memory: %dMi}}}]
`, d, d, i*12+j, d%20, d, d, d, d, i, 100+(d%8)*50, 256+(d%5)*256)
		}
		for _, ds := range []string{"aws-node", "kube-proxy"} {
			fmt.Fprintf(&b, `- apiVersion: v1
  kind: Pod
  metadata:
    name: %s-%d
    namespace: kube-system
    ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: %s, uid: u, controller: true}]
  spec:
    nodeName: node-%d
    containers: [{name: c, image: i, resources: {requests: {cpu: 50m, memory: 64Mi}}}]
`, ds, i, ds, i)
		}
	}
	return []byte(b.String())
}

// BenchmarkEstimate prices a 500-node snapshot: parsing it, pricing the nodes as
// they run, and planning its 6,000 replicas under a policy.
func BenchmarkEstimate(b *testing.B) {
	data := snapshot500()
	w, err := ParseSnapshot(data)
	if err != nil {
		b.Fatal(err)
	}
	prices := DefaultCatalogue()
	policy := testPolicy(func(s *v1alpha1.ClusterPolicySpec) {
		s.Cluster.Region = "eu-central-1"
		s.Instances = v1alpha1.InstancesSpec{Categories: []string{"c", "m", "r"}, MinGeneration: ptr.To(int32(6)),
			Architectures: []string{"amd64", "arm64"}, CPU: &v1alpha1.IntRange{Min: ptr.To(int32(2)), Max: ptr.To(int32(32))}}
		s.Distribution = dist(20, 1, v1alpha1.SpotReady)
		s.Commitments = &v1alpha1.CommitmentsSpec{Enabled: true, Source: v1alpha1.CommitmentsFromGit,
			ReservedInstances: []v1alpha1.ReservedInstance{{InstanceType: "m6i.2xlarge", Count: 40}},
			SavingsPlans:      []v1alpha1.SavingsPlan{{Type: "Compute", CommitmentPerHour: "4.20"}}}
	})
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseSnapshot(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("nodes", func(b *testing.B) {
		for b.Loop() {
			if _, err := Estimate(w, prices, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("policy", func(b *testing.B) {
		for b.Loop() {
			if _, err := EstimateForPolicy(policy, nil, w, prices); err != nil {
				b.Fatal(err)
			}
		}
	})
}
