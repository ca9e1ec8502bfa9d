package savings

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/devenv"
	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// push commits the cluster's policy to the repository, asks the PolicySource to sync
// and waits until the ClusterPolicy in the cluster satisfies applied.
func push(t *testing.T, message, policy string, applied func(*v1alpha1.ClusterPolicy) bool) {
	t.Helper()
	ctx := context.Background()
	commit, err := env.Repo.Commit(message, map[string]string{env.PolicyFile: policy})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.RequestSync(ctx); err != nil {
		t.Fatal(err)
	}
	err = env.Kube.Eventually(ctx, "commit "+commit[:12]+" applied", 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		var ps v1alpha1.PolicySource
		if err := env.Kube.Client.Get(ctx, client.ObjectKey{Namespace: localcluster.BallastNamespace, Name: devenv.SourceName}, &ps); err != nil {
			return false, "", err
		}
		p, err := clusterPolicy(ctx)
		if err != nil {
			return false, "", err
		}
		return strings.HasSuffix(ps.Status.LastAppliedRevision, commit) && applied(p), "applied " + ps.Status.LastAppliedRevision, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func clusterPolicy(ctx context.Context) (*v1alpha1.ClusterPolicy, error) {
	var p v1alpha1.ClusterPolicy
	err := env.Kube.Client.Get(ctx, client.ObjectKey{Name: cluster}, &p)
	return &p, err
}

// optIn creates an opted-in namespace (unless it exists).
func optIn(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled}}}
	if err := env.Kube.Client.Create(context.Background(), ns); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	if err := env.Kube.WaitServiceAccount(context.Background(), name); err != nil {
		t.Fatal(err)
	}
}

// deployment is a Deployment of pods requesting cpu and memory.
func deployment(ns, name string, replicas int32, cpu, memory string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](0), Containers: []corev1.Container{{
					Name: "app", Image: "registry.example/" + name + ":1",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory),
					}},
				}}},
			},
		},
	}
}

func scale(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"replicas":`+strconv.Itoa(int(replicas))+`}}`))
	if err := env.Kube.Client.Patch(context.Background(), d, patch); err != nil {
		t.Fatal(err)
	}
}

// poolNodes returns the nodes Karpenter launched for a NodePool, by name.
func poolNodes(ctx context.Context, pool string) (map[string]corev1.Node, error) {
	var list corev1.NodeList
	if err := env.Kube.Client.List(ctx, &list, client.MatchingLabels{karpv1.NodePoolLabelKey: pool}); err != nil {
		return nil, err
	}
	out := map[string]corev1.Node{}
	for _, n := range list.Items {
		out[n.Name] = n
	}
	return out, nil
}

// podsByNode returns the names of the running pods of app in ns by node.
func podsByNode(ctx context.Context, ns, app string) (map[string][]string, error) {
	var list corev1.PodList
	if err := env.Kube.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, p := range list.Items {
		if p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p.Name)
		}
	}
	return out, nil
}
