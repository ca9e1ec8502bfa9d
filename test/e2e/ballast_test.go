package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// e2eCluster is the ClusterPolicy cluster name the controller serves.
const e2eCluster = "e2e"

// The ClusterPolicy's fallback timing.
const (
	fallbackAfter   v1alpha1.Duration = "10s"
	reverseInterval v1alpha1.Duration = "20s"
	// unavailableTTL is how long Karpenter remembers a Spot offering that ran out.
	unavailableTTL = "15s"
)

// Zones: Ballast's NodePools launch in zones a to c; the stable pool, which the scope
// observers run on, in zone d only, so that no test's pods share its nodes.
var (
	ballastZones = []string{"test-zone-a", "test-zone-b", "test-zone-c"}
	stableZone   = "test-zone-d"
)

// stableTaint keeps every pod but the observers' off the stable pool.
var stableTaint = corev1.Taint{Key: "e2e.ballast.dev/stable", Value: "true", Effect: corev1.TaintEffectNoSchedule}

// ballastPool is a NodePool as Ballast renders it for cluster e2e (owner labels, the
// capacity label on its nodes, the Spot taint and weights), on the kwok node class.
func ballastPool(capacityType string) *karpv1.NodePool {
	np := localcluster.NodePool("ballast-"+e2eCluster+"-"+capacityType, "10s", capacityType)
	np.Labels = map[string]string{v1alpha1.SourceLabel: "e2e", v1alpha1.ClusterLabel: e2eCluster}
	np.Spec.Template.Labels = map[string]string{v1alpha1.CapacityLabel: capacityType}
	np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements, karpv1.NodeSelectorRequirementWithMinValues{
		Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: ballastZones,
	})
	if capacityType == karpv1.CapacityTypeSpot {
		return localcluster.WithSpotTaint(np, 50)
	}
	np.Spec.Weight = ptr.To[int32](10)
	return np
}

// sqsServer serves Ballast's interruption queue at queueURL.
var (
	sqsServer *localcluster.SQS
	queueURL  string
)

// setupBallast starts the real controller under its shipped RBAC, creates the
// cluster's NodePools and ClusterPolicy, and starts the scope observers.
func setupBallast(ctx context.Context) error {
	// The controller prices kwok's nodes with kwok's own prices (the catalogue has none
	// of its instance types).
	prices, err := localcluster.KwokPrices("eu-west-1")
	if err != nil {
		return err
	}
	pricesFile := filepath.Join(kube.Dir, "kwok-prices.yaml")
	if err := os.WriteFile(pricesFile, prices, 0o600); err != nil {
		return err
	}
	// Ballast's own interruption queue, on a real SQS-protocol server.
	if sqsServer, err = localcluster.StartSQS(ctx, filepath.Join(kube.Dir, "sqs")); err != nil {
		return err
	}
	if queueURL, err = sqsServer.CreateQueue(ctx, "ballast-e2e-interruptions", 30*time.Second); err != nil {
		return err
	}
	kube.BallastEnv = append(kube.BallastEnv, sqsServer.Env()...)
	if ballast, err = kube.StartBallast(ctx, e2eCluster, "--limits-stall-after", "3s", "--unavailable-offerings-ttl", unavailableTTL,
		"--prices", pricesFile, "--cost-interval", "15s", "--interruption-queue", queueURL); err != nil {
		return err
	}
	stable := localcluster.WithTaint(localcluster.NodePool("e2e-stable", "Never", karpv1.CapacityTypeOnDemand), stableTaint)
	stable.Spec.Disruption.ConsolidationPolicy = karpv1.ConsolidationPolicyWhenEmpty
	stable.Spec.Template.Spec.Requirements = append(stable.Spec.Template.Spec.Requirements, karpv1.NodeSelectorRequirementWithMinValues{
		Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{stableZone},
	})
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: e2eCluster},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:      v1alpha1.ClusterIdentity{Name: e2eCluster, Region: "eu-west-1"},
			NodeClass:    v1alpha1.NodeClassSpec{Role: "test"},
			Distribution: v1alpha1.DistributionSpec{BaseOnDemand: ptr.To[int32](1), OnDemandPercent: ptr.To[int32](0), Selector: v1alpha1.All},
			// Short enough for the suite; the validator warns about a delay this short.
			Spot: v1alpha1.SpotSpec{Fallback: v1alpha1.FallbackSpec{After: fallbackAfter, ReverseInterval: reverseInterval}},
			BinPacking: v1alpha1.BinPackingSpec{PodEviction: &v1alpha1.PodEvictionSpec{
				Enabled: true, MaxEvictionsPerPass: ptr.To[int32](3),
			}},
		},
	}
	for _, obj := range []client.Object{ballastPool(karpv1.CapacityTypeSpot), ballastPool(karpv1.CapacityTypeOnDemand), stable, policy} {
		if err := kube.Client.Create(ctx, obj); err != nil {
			return fmt.Errorf("failed to create %s: %w", obj.GetName(), err)
		}
	}
	observers, err = startObservers(ctx)
	return err
}
