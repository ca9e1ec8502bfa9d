// Command karpenter is Karpenter v1.15.0 with its kwok cloud provider, wrapped so that
// tests can make capacity unavailable the way EC2 does: a launch into a blocked pool
// fails with an insufficient-capacity error, and the pool is then reported unavailable
// until the test makes it available again. The local cluster (package localcluster) builds and
// runs it; BALLAST_CAPACITY_FILE names the JSON file that lists the blocked pools.
package main

import (
	"github.com/samber/lo"
	"sigs.k8s.io/controller-runtime/pkg/log"
	kwok "sigs.k8s.io/karpenter/kwok/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/cloudprovider/overlay"
	"sigs.k8s.io/karpenter/pkg/controllers"
	"sigs.k8s.io/karpenter/pkg/controllers/node/health"
	"sigs.k8s.io/karpenter/pkg/controllers/state"
	"sigs.k8s.io/karpenter/pkg/operator"
)

func main() {
	ctx, op := operator.NewOperator()
	instanceTypes, err := kwok.ConstructInstanceTypes(ctx)
	if err != nil {
		log.FromContext(ctx).Error(err, "failed constructing instance types")
	}
	base := newCapacityProvider(kwok.NewCloudProvider(ctx, op.GetClient(), instanceTypes), instanceTypes, capacityFileFromEnv())
	cloudProvider := overlay.Decorate(base, op.GetClient(), op.InstanceTypeStore)
	repairPolicies := lo.Must(health.NewRepairPolicyMatcher(ctx, cloudProvider))
	cluster := state.NewCluster(op.Clock, op.GetClient(), cloudProvider, state.WithRepairPolicyMatcher(repairPolicies))
	op.WithControllers(ctx, controllers.NewControllers(
		ctx, op.Manager, op.Clock, op.GetClient(), op.EventRecorder,
		cloudProvider, base, cluster, op.InstanceTypeStore, op.PredictionStore,
	)...).Start(ctx)
}
