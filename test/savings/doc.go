// Package savings tests the runtime savings mechanisms end to end on a cluster of its
// own, driven through Git as users run them: the real controller under its shipped
// RBAC syncs a policy repository, Karpenter's kwok provider launches real EC2 instance
// type names (m5.large, c5.large) at the catalogue's prices, and the tests check that
// Reserved Instances are filled first (from the list in Git, then discovered through
// the AWS API's wire formats) and that utilisation bin-packing empties light nodes
// within its limits.
package savings
