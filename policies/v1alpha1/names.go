package v1alpha1

import "fmt"

// The names of the objects of a cluster's default supply, which spec.nodePools and
// spec.nodeClasses cannot take.

// SupplyNodePoolName is the name of a NodePool of the default supply: capacity type
// "spot", "on-demand", or "committed" for the commitments controller's pool.
func SupplyNodePoolName(cluster, capacityType string) string {
	return "ballast-" + cluster + "-" + capacityType
}

// SupplyNodeClassName is the name of the default supply's node class.
func SupplyNodeClassName(cluster string) string { return "ballast-" + cluster }

// SupplyPool reports whether a NodePool is one of the cluster's default supply: the
// Spot and On-Demand NodePools rendered from the policy's supply fields, and the
// commitments controller's pool. Only these are fallen back, steered, limited in total
// and bin-packed; the pools of spec.nodePools are rendered as written.
func SupplyPool(cluster, name string) bool {
	for _, ct := range []string{CapacitySpot, CapacityOnDemand, "committed"} {
		if name == SupplyNodePoolName(cluster, ct) {
			return true
		}
	}
	return false
}

// ReservedName says why an object name cannot be given to a NodePool or EC2NodeClass
// of spec.nodePools or spec.nodeClasses ("" when it can): the default supply's
// objects have it.
func ReservedName(cluster, name string) string {
	if SupplyPool(cluster, name) {
		return fmt.Sprintf("%s is the name of a NodePool of the default supply", name)
	}
	if name == SupplyNodeClassName(cluster) {
		return fmt.Sprintf("%s is the name of the default node class", name)
	}
	return ""
}
