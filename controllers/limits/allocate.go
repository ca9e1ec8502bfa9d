package limits

import (
	"cmp"
	"maps"
	"math/big"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ResourceNodes is Karpenter's limit on the number of nodes of a NodePool.
const ResourceNodes corev1.ResourceName = "nodes"

// Pool is what Allocate knows of one NodePool.
type Pool struct {
	Name string
	// Usage is the capacity of the pool's NodeClaims (cpu, memory, nodes).
	Usage corev1.ResourceList
	// DemandMilliCPU is the CPU requested by unschedulable pods headed for the pool.
	DemandMilliCPU int64
}

// Allocate divides total among the pools: each pool gets its usage plus a share of
// the headroom (total minus the usage of all pools, never negative), shares weighted
// by demand or even when no pool has demand. In stall round r >= 1, one pool with
// demand gets all of the headroom: the one with the most demand in round 1, the next
// in round 2, and so on (pools whose pending pods cannot use it, and there are such
// pods, must not starve the others): when proportional shares are each too small for a
// node, that breaks the stall. Only the resources total names are limited. Integer
// division rounds down, so the limits never add up to more than the total. The result
// is in the order of pools.
func Allocate(total corev1.ResourceList, pools []Pool, round int) []corev1.ResourceList {
	out := make([]corev1.ResourceList, len(pools))
	for i := range out {
		out[i] = corev1.ResourceList{}
	}
	if len(pools) == 0 {
		return out
	}
	var demand int64
	var demanding []int
	for i, p := range pools {
		demand += max(p.DemandMilliCPU, 0)
		if p.DemandMilliCPU > 0 {
			demanding = append(demanding, i)
		}
	}
	// Most demand first; equal demand in the order of pools.
	slices.SortStableFunc(demanding, func(a, b int) int { return cmp.Compare(pools[b].DemandMilliCPU, pools[a].DemandMilliCPU) })
	chosen := -1
	if round > 0 && len(demanding) > 0 {
		chosen = demanding[(round-1)%len(demanding)]
	}
	weight := func(i int) (int64, int64) {
		switch {
		case demand == 0:
			return 1, int64(len(pools))
		case chosen == i:
			return 1, 1
		case chosen >= 0:
			return 0, 1
		}
		return max(pools[i].DemandMilliCPU, 0), demand
	}
	for _, name := range slices.Sorted(maps.Keys(total)) {
		t := total[name]
		scaled := name == corev1.ResourceCPU // in millicores, the others in units
		value := func(q resource.Quantity) int64 {
			if scaled {
				return q.MilliValue()
			}
			return q.Value()
		}
		used := int64(0)
		for _, p := range pools {
			if u, ok := p.Usage[name]; ok {
				used += value(u)
			}
		}
		headroom := max(value(t)-used, 0)
		for i, p := range pools {
			w, sum := weight(i)
			share := mulDiv(headroom, w, sum)
			own := int64(0)
			if u, ok := p.Usage[name]; ok {
				own = value(u)
			}
			if scaled {
				out[i][name] = *resource.NewMilliQuantity(own+share, t.Format)
			} else {
				out[i][name] = *resource.NewQuantity(own+share, t.Format)
			}
		}
	}
	return out
}

// mulDiv is a*b/c rounded down, for non-negative a, b and c > 0.
func mulDiv(a, b, c int64) int64 {
	if c <= 0 {
		return 0
	}
	r := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	return r.Quo(r, big.NewInt(c)).Int64()
}
