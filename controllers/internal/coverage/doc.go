// Package coverage tells the runtime controllers which nodes keep the cluster's
// commitments used, so that none of them takes such a node away: it reads the
// commitments of a ClusterPolicy as the commitments controller does (listed in Git,
// or discovered through the AWS API) and applies cost.Covering to the running nodes.
// When the commitments cannot be read it errs on the side of the commitment: every
// On-Demand node that a commitment last known could cover counts as covering.
package coverage
