package savings

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/controllers/distribution"
	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// A Karpenter user's own pool, kept by hand before Ballast: On-Demand c5.large on its
// own KWOKNodeClass, tainted, for one workload.
const (
	keptPool  = "kept"
	keptClass = "kept"
	// The pools written in the policy: a GPU-like pool that offers On-Demand only (the
	// split does not apply), and a team pool with a taint that the split applies to.
	gpuPool  = "gpu"
	teamPool = "team-data"
)

// poolsYAML is the spec.nodePools entries of the GPU-like and the team pool, on the
// default node class.
const poolsYAML = `  - name: gpu
    spec:
      template:
        metadata: {labels: {workload: gpu}}
        spec:
          nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: ballast-savings}
          requirements:
          - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
          - {key: kubernetes.io/arch, operator: In, values: [amd64]}
          taints: [{key: example.com/gpu, value: "true", effect: NoSchedule}]
      disruption: {consolidationPolicy: WhenEmpty, consolidateAfter: 30s}
  - name: team-data
    split: true
    spec:
      template:
        metadata: {labels: {team: data}}
        spec:
          nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: ballast-savings}
          requirements:
          - {key: karpenter.sh/capacity-type, operator: In, values: [spot, on-demand]}
          taints: [{key: team, value: data, effect: NoSchedule}]
      disruption: {consolidationPolicy: WhenEmpty, consolidateAfter: 30s}
`

// TestNodePoolsBesideTheSplit, end to end through Git and the real controller under its
// shipped RBAC: a pool kept by hand with a running node is imported with
// `ballast import --adopt` from the live cluster and pushed with two pools written in
// the policy (a GPU-like On-Demand-only pool and a tainted team pool with split: true).
// Every pod runs on the pool it targets (none stays Pending because of a capacity type
// Ballast gave it).
// The adopted pool keeps its node: no NodeClaim is replaced or drifted, its template
// hash is unchanged. Pods of the GPU-like pool are left alone and run On-Demand there,
// the team pool's pods are split (Spot, by the namespace's rule) and run there; nothing
// goes Pending.
func TestNodePoolsBesideTheSplit(t *testing.T) {
	ctx := context.Background()
	c := env.Kube.Client
	const ns = "light" // opted in; its rule puts every replica on Spot

	// The user's pool, node class and workload, before Ballast knows of them.
	nc := &unstructured.Unstructured{}
	nc.SetAPIVersion("karpenter.kwok.sh/v1alpha1")
	nc.SetKind("KWOKNodeClass")
	nc.SetName(keptClass)
	if err := c.Create(ctx, nc); err != nil {
		t.Fatal(err)
	}
	if err := markReady(ctx, keptClass); err != nil {
		t.Fatal(err)
	}
	kept := &karpv1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: keptPool},
		Spec: karpv1.NodePoolSpec{
			Template: karpv1.NodeClaimTemplate{
				ObjectMeta: karpv1.ObjectMeta{Labels: map[string]string{"pool": keptPool}},
				Spec: karpv1.NodeClaimTemplateSpec{
					NodeClassRef: &karpv1.NodeClassReference{Group: "karpenter.kwok.sh", Kind: "KWOKNodeClass", Name: keptClass},
					Requirements: []karpv1.NodeSelectorRequirementWithMinValues{
						{Key: karpv1.CapacityTypeLabelKey, Operator: corev1.NodeSelectorOpIn, Values: []string{karpv1.CapacityTypeOnDemand}},
						{Key: corev1.LabelInstanceTypeStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"c5.large"}},
					},
					Taints: []corev1.Taint{{Key: "pool", Value: keptPool, Effect: corev1.TaintEffectNoSchedule}},
				},
			},
			Disruption: karpv1.Disruption{ConsolidationPolicy: karpv1.ConsolidationPolicyWhenEmpty, ConsolidateAfter: karpv1.MustParseNillableDuration("30s")},
		},
	}
	if err := c.Create(ctx, kept); err != nil {
		t.Fatal(err)
	}
	keptApp := onPool(deployment(ns, "kept-app", 1, "500m", "256Mi"), "pool", keptPool)
	gpuApp := onPool(deployment(ns, "gpu-app", 2, "500m", "256Mi"), "workload", gpuPool)
	gpuApp.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "example.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	teamApp := onPool(deployment(ns, "team-app", 3, "500m", "256Mi"), "team", "data")
	t.Cleanup(func() {
		for _, name := range []string{"kept-app", "gpu-app", "team-app"} {
			_ = c.Delete(context.Background(), deployment(ns, name, 0, "0", "0"))
		}
	})
	if err := c.Create(ctx, keptApp); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Kube.WaitPodsRunning(ctx, ns, labels.SelectorFromSet(labels.Set{"app": "kept-app"}), 1, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	before, err := nodeClaimsOf(ctx, keptPool)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) == 0 {
		t.Fatal("no NodeClaim for the kept pool")
	}
	if err := c.Get(ctx, client.ObjectKey{Name: keptPool}, kept); err != nil {
		t.Fatal(err)
	}
	hash, generation := kept.Annotations[karpv1.NodePoolHashAnnotationKey], kept.Generation
	keptPod, err := runningPod(ctx, ns, "kept-app")
	if err != nil {
		t.Fatal(err)
	}

	// ballast import --adopt, from the live cluster, as a user runs it.
	bin, err := localcluster.BuildBallast()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "import", "--kubeconfig", env.Kube.Kubeconfig, "--cluster", cluster, "--region", region, "--adopt",
		"--role", "KarpenterNodeRole-savings") // the cluster has no EC2NodeClass to take it from (kwok)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ballast import: %v\n%s", err, stderr.String())
	}
	t.Logf("ballast import said:\n%s", stderr.String())
	var imported v1alpha1.ClusterPolicy
	if err := yaml.UnmarshalStrict(stdout.Bytes(), &imported); err != nil {
		t.Fatalf("the imported policy does not decode: %v\n%s", err, stdout.String())
	}
	var adopted []v1alpha1.NodePool
	for _, np := range imported.Spec.NodePools {
		if np.Name == keptPool {
			adopted = append(adopted, np)
		}
	}
	if len(adopted) != 1 {
		t.Fatalf("the import has no NodePool %s:\n%s", keptPool, stdout.String())
	}
	entries, err := yaml.Marshal(adopted)
	if err != nil {
		t.Fatal(err)
	}
	policy := policyYAML(gitCommitments, closedWindow(time.Now())) + "  nodePools:\n" + indent(string(entries), "  ") + poolsYAML
	push(t, "node pools: adopt kept, add gpu and team-data", policy, func(p *v1alpha1.ClusterPolicy) bool { return len(p.Spec.NodePools) == 3 })
	t.Cleanup(func() {
		push(t, "node pools: none", policyYAML(gitCommitments, closedWindow(time.Now())), func(p *v1alpha1.ClusterPolicy) bool { return len(p.Spec.NodePools) == 0 })
	})

	// The adopted pool is Ballast's now, with its template untouched.
	if err := c.Get(ctx, client.ObjectKey{Name: keptPool}, kept); err != nil {
		t.Fatal(err)
	}
	if kept.Labels[v1alpha1.NodePoolLabel] != keptPool || kept.Labels[v1alpha1.ClusterLabel] != cluster {
		t.Fatalf("the kept NodePool has labels %v: Ballast did not apply it", kept.Labels)
	}
	if kept.Generation != generation || kept.Annotations[karpv1.NodePoolHashAnnotationKey] != hash {
		t.Fatalf("adopting changed the kept NodePool's spec: generation %d → %d, hash %s → %s", generation, kept.Generation, hash, kept.Annotations[karpv1.NodePoolHashAnnotationKey])
	}

	// The new pools' workloads.
	for _, d := range []client.Object{gpuApp, teamApp} {
		if err := c.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for app, n := range map[string]int{"gpu-app": 2, "team-app": 3} {
		if _, err := env.Kube.WaitPodsRunning(ctx, ns, labels.SelectorFromSet(labels.Set{"app": app}), n, 3*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []struct{ app, pool, capacity, reason string }{
		{"gpu-app", gpuPool, karpv1.CapacityTypeOnDemand, ""},    // left alone: Karpenter's choice, the pool's only type
		{"team-app", teamPool, karpv1.CapacityTypeSpot, "split"}, // split by the namespace's rule
		{"kept-app", keptPool, karpv1.CapacityTypeOnDemand, ""},
	} {
		pods, err := runningPods(ctx, ns, want.app)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			var node corev1.Node
			if err := c.Get(ctx, client.ObjectKey{Name: p.Spec.NodeName}, &node); err != nil {
				t.Fatal(err)
			}
			if got := node.Labels[karpv1.NodePoolLabelKey]; got != want.pool {
				t.Errorf("%s runs on a node of NodePool %q, want %q", p.Name, got, want.pool)
			}
			if got := node.Labels[karpv1.CapacityTypeLabelKey]; got != want.capacity {
				t.Errorf("%s runs on %s, want %s", p.Name, got, want.capacity)
			}
			if got := p.Annotations[distribution.ReasonAnnotation]; got != want.reason {
				t.Errorf("%s has placement reason %q, want %q", p.Name, got, want.reason)
			}
		}
	}

	// Karpenter had time to look at the adopted pool (its disruption loop runs every
	// 10s): the same NodeClaims, none drifted, the same pod.
	time.Sleep(25 * time.Second)
	after, err := nodeClaimsOf(ctx, keptPool)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the kept pool's NodeClaims changed: %v → %v", before, after)
	}
	var claims karpv1.NodeClaimList
	if err := c.List(ctx, &claims, client.MatchingLabels{karpv1.NodePoolLabelKey: keptPool}); err != nil {
		t.Fatal(err)
	}
	for _, nc := range claims.Items {
		if cond := nc.StatusConditions().Get(karpv1.ConditionTypeDrifted); cond != nil && cond.IsTrue() {
			t.Errorf("NodeClaim %s is drifted after the adoption: %s", nc.Name, cond.Message)
		}
	}
	if p, err := runningPod(ctx, ns, "kept-app"); err != nil || p.UID != keptPod.UID {
		t.Errorf("the kept workload's pod was replaced (%v)", err)
	}
}

// onPool makes a Deployment's pods select a pool's template label and tolerate its
// taint (key and value alike).
func onPool(d *appsv1.Deployment, key, value string) *appsv1.Deployment {
	d.Spec.Template.Spec.NodeSelector = map[string]string{key: value}
	d.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: key, Operator: corev1.TolerationOpEqual, Value: value, Effect: corev1.TaintEffectNoSchedule}}
	return d
}

// nodeClaimsOf returns the NodeClaims of a pool, name → UID.
func nodeClaimsOf(ctx context.Context, pool string) (map[string]types.UID, error) {
	var list karpv1.NodeClaimList
	if err := env.Kube.Client.List(ctx, &list, client.MatchingLabels{karpv1.NodePoolLabelKey: pool}); err != nil {
		return nil, err
	}
	out := map[string]types.UID{}
	for _, nc := range list.Items {
		out[nc.Name] = nc.UID
	}
	return out, nil
}

func runningPods(ctx context.Context, ns, app string) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := env.Kube.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

func runningPod(ctx context.Context, ns, app string) (*corev1.Pod, error) {
	pods, err := runningPods(ctx, ns, app)
	if err != nil {
		return nil, err
	}
	if len(pods) != 1 {
		return nil, fmt.Errorf("%d running pods of %s, want 1", len(pods), app)
	}
	return &pods[0], nil
}

// markReady marks a KWOKNodeClass Ready, as a node class controller would (kwok has
// none).
func markReady(ctx context.Context, name string) error {
	nc := &unstructured.Unstructured{}
	nc.SetAPIVersion("karpenter.kwok.sh/v1alpha1")
	nc.SetKind("KWOKNodeClass")
	if err := env.Kube.Client.Get(ctx, client.ObjectKey{Name: name}, nc); err != nil {
		return err
	}
	now := metav1.Now().UTC().Format(time.RFC3339)
	if err := unstructured.SetNestedSlice(nc.Object, []any{map[string]any{
		"type": "Ready", "status": "True", "reason": "Ready", "message": "",
		"lastTransitionTime": now, "observedGeneration": nc.GetGeneration(),
	}}, "status", "conditions"); err != nil {
		return err
	}
	return env.Kube.Client.Status().Update(ctx, nc)
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}
