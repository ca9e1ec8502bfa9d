// Package interruption steers new Spot capacity away from pools being reclaimed.
//
// EC2 warns two minutes before it reclaims a Spot instance, and sends rebalance
// recommendations when an instance's pool (its instance type in its zone) is at
// elevated risk. Karpenter drains and replaces such nodes; left alone, it buys the
// replacement from the same cheap pool, which is the one being reclaimed. This
// controller reads the notices (from Ballast's own SQS queue, or from the events
// Karpenter records when there is no queue), keeps an interruption history per pool
// in the ClusterPolicy's status.interruptions (decaying, so it survives restarts and
// fades), and leaves the reclaimed pools' instance types out of the Spot NodePool's
// requirements for spec.spot.interruptions.excludeFor, so that the replacement lands
// on another pool. It never leaves fewer instance types than the floor
// (minInstanceTypes, or Karpenter's Spot-to-Spot minimum): running out of Spot is
// fallback's job. It never drains or evicts: Karpenter already does, once.
//
// The PolicySource's render reads the same status (render.Steer), so both writers of
// the Spot NodePool write the same requirements and never undo each other; while
// types are excluded, a disruption budget holds drift, so that nodes of an excluded
// type in other pools are not replaced because of the exclusion.
package interruption
