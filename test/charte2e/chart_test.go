package charte2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/helmchart"
)

// cluster is the ClusterPolicy cluster name the chart is installed for.
const cluster = "chart"

// installChart renders the chart (CRDs included, as `helm install` creates them) under a
// release name and namespace other than config/default's, so that every name the
// controller uses comes from the chart; starts the controller as the chart's
// ServiceAccount with the Deployment's flags; and creates the cluster's NodePools (as
// Ballast renders them, on the kwok node class) and ClusterPolicy.
func installChart(ctx context.Context) error {
	objs, err := helmchart.Template(helmchart.Release{
		Name: "cost", Namespace: "ballast-chart", IncludeCRDs: true,
		Values: map[string]any{"clusterName": cluster},
	})
	if err != nil {
		return err
	}
	in, err := localcluster.ChartInstallation(objs)
	if err != nil {
		return err
	}
	if ballast, err = kube.StartInstallation(ctx, in, cluster); err != nil {
		return err
	}
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: cluster},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:   v1alpha1.ClusterIdentity{Name: cluster, Region: "eu-west-1"},
			NodeClass: v1alpha1.NodeClassSpec{Role: "test"},
			// One replica of every workload On-Demand, the rest on Spot.
			Distribution: v1alpha1.DistributionSpec{BaseOnDemand: ptr.To[int32](1), OnDemandPercent: ptr.To[int32](0), Selector: v1alpha1.All},
		},
	}
	for _, obj := range []client.Object{ballastPool(karpv1.CapacityTypeSpot), ballastPool(karpv1.CapacityTypeOnDemand), policy} {
		if err := kube.Client.Create(ctx, obj); err != nil {
			return fmt.Errorf("failed to create %s: %w", obj.GetName(), err)
		}
	}
	return nil
}

// ballastPool is a NodePool as Ballast renders it for the cluster: owner labels, the
// capacity label on its nodes, and on Spot the taint only placed pods tolerate.
func ballastPool(capacityType string) *karpv1.NodePool {
	np := localcluster.NodePool("ballast-"+cluster+"-"+capacityType, "10s", capacityType)
	np.Labels = map[string]string{v1alpha1.SourceLabel: "chart-e2e", v1alpha1.ClusterLabel: cluster}
	np.Spec.Template.Labels = map[string]string{v1alpha1.CapacityLabel: capacityType}
	if capacityType == karpv1.CapacityTypeSpot {
		return localcluster.WithSpotTaint(np, 50)
	}
	np.Spec.Weight = ptr.To[int32](10)
	return np
}

// TestChartPlacesPods: in an opted-in namespace, a Deployment of two replicas runs one
// replica On-Demand (the policy's base) and one on Spot, which only a pod the webhook
// placed can (it tolerates the Spot taint); and the controller, under the chart's RBAC,
// was never forbidden anything.
func TestChartPlacesPods(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "chart-placement", Labels: map[string]string{v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled},
	}}
	if err := kube.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := kube.WaitServiceAccount(ctx, ns.Name); err != nil {
		t.Fatal(err)
	}
	app := map[string]string{"app": "web"}
	web := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: app},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: app},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					Containers: []corev1.Container{{
						Name: "app", Image: "registry.example/app:1",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
					}},
				},
			},
		},
	}
	if err := kube.Client.Create(ctx, web); err != nil {
		t.Fatal(err)
	}
	err := kube.Eventually(ctx, "web to run one replica On-Demand and one on Spot", 4*time.Minute, func(ctx context.Context) (bool, string, error) {
		pods, err := kube.RunningPods(ctx, ns.Name, labels.SelectorFromSet(app))
		if err != nil {
			return false, "", err
		}
		// Placed pods, by the capacity type of their node; a pod the webhook left alone
		// (it fails open) or placed elsewhere counts as "unplaced" until the drift
		// reconciler replaces it.
		on := map[string]int{}
		for i := range pods {
			node, err := kube.NodeOf(ctx, &pods[i])
			if err != nil {
				return false, "", err
			}
			capacity := node.Labels[karpv1.CapacityTypeLabelKey]
			if pods[i].Labels[v1alpha1.CapacityLabel] != capacity {
				capacity = "unplaced"
			}
			on[capacity]++
		}
		return len(pods) == 2 && on[karpv1.CapacityTypeSpot] == 1 && on[karpv1.CapacityTypeOnDemand] == 1, fmt.Sprintf("running: %v", on), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if log := ballast.Log(1 << 20); strings.Contains(strings.ToLower(log), "forbidden") {
		t.Errorf("the controller was forbidden something under the chart's RBAC:\n%s", log)
	}
}
