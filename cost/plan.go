package cost

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// group is the replicas of one workload bound for one capacity type.
type group struct {
	namespace, workload string
	req                 Resources
	count               int
	// spread places at most one of the group's replicas on a node (LeastInterrupted
	// Spot replicas).
	spread bool
}

// candidate is an instance type the planner may use for one capacity type.
type candidate struct {
	name  string
	alloc Resources // for replicas, after the DaemonSet pods
	full  Resources // for all pods
	pods  int       // for replicas, after the DaemonSet pods
	price float64
}

// plannedNode is a node being filled.
type plannedNode struct {
	used      Resources
	pods      int
	lastGroup int
	replicas  []Pod
}

// planner places replicas on nodes the way Ballast and Karpenter would: On-Demand
// replicas first on nodes that fill the policy's Reserved Instances (the committed
// NodePool), the rest on one instance type per capacity type, the one whose
// first-fit-decreasing packing costs least.
type planner struct {
	region     string
	prices     PriceBook
	shapes     ShapeBook
	supply     *v1alpha1.InstancesSpec
	only       []string
	daemon     Resources
	daemonPods []Pod
}

// candidates returns the instance types the supply allows and the book prices for the
// capacity type, sorted by name.
func (p *planner) candidates(capacity string) []candidate {
	var out []candidate
	for _, t := range p.shapes.InstanceTypes() {
		if len(p.only) > 0 && !slices.Contains(p.only, t) {
			continue
		}
		if c, ok := p.candidate(t, capacity); ok {
			out = append(out, c)
		}
	}
	return out
}

func (p *planner) candidate(t, capacity string) (candidate, bool) {
	s, ok := p.shapes.Shape(t)
	if !ok || !allowedBy(p.supply, t, s) {
		return candidate{}, false
	}
	price, ok := p.prices.Price(p.region, t, capacity)
	if !ok {
		return candidate{}, false
	}
	full, pods := Allocatable(s)
	// DaemonSet pods take CPU and memory from every node; a DaemonSet asking for GPUs
	// runs only on GPU nodes, which the planner does not model, so their GPUs are not
	// taken.
	daemon := Resources{MilliCPU: p.daemon.MilliCPU, Memory: p.daemon.Memory}
	c := candidate{name: t, full: full, alloc: full.Sub(daemon), pods: pods - len(p.daemonPods), price: price}
	return c, c.alloc.MilliCPU > 0 && c.alloc.Memory > 0 && c.pods > 0
}

// fits reports whether one replica of every group fits an empty node of c.
func (c candidate) fits(groups []group) bool {
	for _, g := range groups {
		if !g.req.Fits(c.alloc) {
			return false
		}
	}
	return true
}

// lowerBound is the fewest nodes of c that can hold the groups.
func (c candidate) lowerBound(groups []group) int {
	var total Resources
	pods, spread := 0, 0
	for _, g := range groups {
		total = total.Add(g.req.Times(g.count))
		pods += g.count
		if g.spread {
			spread = max(spread, g.count)
		}
	}
	n := max(int(ceilDiv(total.MilliCPU, c.alloc.MilliCPU)), int(ceilDiv(total.Memory, c.alloc.Memory)), (pods+c.pods-1)/c.pods, spread)
	if total.GPU > 0 {
		n = max(n, int(ceilDiv(total.GPU, c.alloc.GPU)))
	}
	return max(n, 1)
}

// pack places the groups first-fit-decreasing on at most limit nodes of c (no limit
// when limit < 0) and returns the nodes and what did not fit.
func (c candidate) pack(groups []group, limit int) ([]*plannedNode, []group) {
	sorted := slices.Clone(groups)
	// Largest first, by the largest of the CPU, memory and GPU share of the node.
	key := func(g group) float64 {
		return max(float64(g.req.MilliCPU)/float64(c.alloc.MilliCPU), float64(g.req.Memory)/float64(c.alloc.Memory), share(g.req.GPU, c.alloc.GPU))
	}
	slices.SortStableFunc(sorted, func(a, b group) int {
		return cmp.Or(cmp.Compare(key(b), key(a)), strings.Compare(a.namespace, b.namespace), strings.Compare(a.workload, b.workload))
	})
	var nodes []*plannedNode
	var left []group
	for gi, g := range sorted {
		start, remaining := 0, g.count
		for remaining > 0 {
			j := start
			for ; j < len(nodes); j++ {
				if room(nodes[j], c, g, gi) > 0 {
					break
				}
			}
			if j == len(nodes) {
				if limit >= 0 && len(nodes) >= limit {
					break
				}
				nodes = append(nodes, &plannedNode{lastGroup: -1})
			}
			n := nodes[j]
			k := min(remaining, room(n, c, g, gi))
			n.used = n.used.Add(g.req.Times(k))
			n.pods += k
			n.lastGroup = gi
			for range k {
				n.replicas = append(n.replicas, Pod{Namespace: g.namespace, Workload: g.workload, Requests: g.req})
			}
			remaining -= k
			start = j + 1 // node j is full for this group, or holds its one spread replica
		}
		if remaining > 0 {
			g.count = remaining
			left = append(left, g)
		}
	}
	return nodes, left
}

// room is how many replicas of group gi still fit node n.
func room(n *plannedNode, c candidate, g group, gi int) int {
	if g.spread && n.lastGroup == gi {
		return 0
	}
	free := c.alloc.Sub(n.used)
	k := c.pods - n.pods
	if g.req.MilliCPU > 0 {
		k = min(k, int(free.MilliCPU/g.req.MilliCPU))
	}
	if g.req.Memory > 0 {
		k = min(k, int(free.Memory/g.req.Memory))
	}
	if g.req.GPU > 0 {
		k = min(k, int(free.GPU/g.req.GPU))
	}
	if g.spread {
		k = min(k, 1)
	}
	return max(k, 0)
}

// packBest packs the groups on the candidate whose packing costs least (then with the
// fewest nodes, then by name). It packs candidates in order of the cost of their
// lower bound and stops when no further one can beat the best.
func packBest(cands []candidate, groups []group, what string) (candidate, []*plannedNode, error) {
	type bound struct {
		c    candidate
		cost float64
	}
	var bounds []bound
	for _, c := range cands {
		if c.fits(groups) {
			bounds = append(bounds, bound{c, float64(c.lowerBound(groups)) * c.price})
		}
	}
	if len(bounds) == 0 {
		return candidate{}, nil, fmt.Errorf("no %s instance type the policy allows has prices and fits the largest replica (%s): widen instances or add prices", what, largest(groups))
	}
	slices.SortStableFunc(bounds, func(a, b bound) int {
		return cmp.Or(cmp.Compare(a.cost, b.cost), strings.Compare(a.c.name, b.c.name))
	})
	var best candidate
	var bestNodes []*plannedNode
	bestCost := math.Inf(1)
	for _, b := range bounds {
		if b.cost > bestCost*(1+1e-12) {
			break
		}
		nodes, _ := b.c.pack(groups, -1)
		cost := float64(len(nodes)) * b.c.price
		if cost < bestCost*(1-1e-12) || (cost <= bestCost*(1+1e-12) && len(nodes) < len(bestNodes)) {
			best, bestNodes, bestCost = b.c, nodes, cost
		}
	}
	return best, bestNodes, nil
}

func largest(groups []group) string {
	var r Resources
	for _, g := range groups {
		r = maxResources(r, g.req)
	}
	return r.String()
}

// nodes turns packed nodes into Nodes carrying the DaemonSet pods and the replicas.
func (p *planner) nodes(c candidate, capacity, prefix string, packed []*plannedNode, offset int) []Node {
	out := make([]Node, 0, len(packed))
	for i, n := range packed {
		pods := make([]Pod, 0, len(p.daemonPods)+len(n.replicas))
		pods = append(pods, p.daemonPods...)
		pods = append(pods, n.replicas...)
		out = append(out, Node{Name: fmt.Sprintf("%s-%s-%d", prefix, c.name, offset+i+1), InstanceType: c.name, CapacityType: capacity,
			Allocatable: c.full, Pods: pods})
	}
	return out
}

// unplaced is replicas the planner could not place: GPU replicas no allowed, priced
// instance type has room for.
type unplaced struct {
	namespace, workload, capacity string
	count                         int
	note                          string
}

// plan places the On-Demand and Spot groups and returns the nodes: committed
// On-Demand nodes first, then other On-Demand nodes, then Spot nodes. Replicas without
// GPUs go on the one instance type without GPUs whose packing costs least (any type
// when none without GPUs fits them); GPU replicas, workload by workload, on the
// instance type with enough GPUs whose packing costs least. GPU replicas no allowed
// type has room for are returned as unplaced.
func (p *planner) plan(onDemand, spot []group, ris []ReservedInstance, utilization float64) ([]Node, []unplaced, error) {
	var out []Node
	var missed []unplaced
	left := onDemand
	for _, ri := range ris {
		n := int(math.Floor(float64(ri.Count)*utilization + 1e-9))
		if n <= 0 || len(left) == 0 || (len(p.only) > 0 && !slices.Contains(p.only, ri.InstanceType)) {
			continue
		}
		c, ok := p.candidate(ri.InstanceType, OnDemand)
		if !ok {
			continue
		}
		// A committed node takes the replicas of its kind: GPU replicas on GPU types.
		var fit, rest []group
		for _, g := range left {
			if g.req.Fits(c.alloc) && (g.req.GPU > 0) == (c.alloc.GPU > 0) {
				fit = append(fit, g)
			} else {
				rest = append(rest, g)
			}
		}
		packed, notPlaced := c.pack(fit, n)
		out = append(out, p.nodes(c, OnDemand, "committed", packed, countType(out, ri.InstanceType))...)
		left = append(rest, notPlaced...)
	}
	for _, capacity := range []struct {
		name, what string
		groups     []group
	}{{OnDemand, "On-Demand", left}, {Spot, "Spot", spot}} {
		var plain, gpu []group
		for _, g := range capacity.groups {
			if g.req.GPU > 0 {
				gpu = append(gpu, g)
			} else {
				plain = append(plain, g)
			}
		}
		cands := p.candidates(capacity.name)
		if len(plain) > 0 {
			var noGPU []candidate
			for _, c := range cands {
				if c.alloc.GPU <= 0 {
					noGPU = append(noGPU, c)
				}
			}
			c, packed, err := packBest(noGPU, plain, capacity.what)
			if err != nil {
				c, packed, err = packBest(cands, plain, capacity.what)
			}
			if err != nil {
				return nil, nil, err
			}
			out = append(out, p.nodes(c, capacity.name, capacity.name, packed, countType(out, c.name))...)
		}
		slices.SortStableFunc(gpu, func(a, b group) int {
			return cmp.Or(strings.Compare(a.namespace, b.namespace), strings.Compare(a.workload, b.workload))
		})
		for _, g := range gpu {
			c, packed, err := packBest(cands, []group{g}, capacity.what)
			if err != nil {
				missed = append(missed, unplaced{namespace: g.namespace, workload: g.workload, capacity: capacity.name, count: g.count,
					note: p.noRoom(cands, g, capacity.what)})
				continue
			}
			out = append(out, p.nodes(c, capacity.name, capacity.name, packed, countType(out, c.name))...)
		}
	}
	return out, missed, nil
}

// noRoom says why no candidate takes a replica of the GPU group g.
func (p *planner) noRoom(cands []candidate, g group, what string) string {
	withGPUs := 0
	for _, c := range cands {
		if c.alloc.GPU > 0 {
			withGPUs++
		}
	}
	if withGPUs == 0 {
		return fmt.Sprintf("%s/%s requests %d GPU (%s) per replica, but the policy's instances allow no GPU instance type with %s prices in %s: %s",
			g.namespace, g.workload, g.req.GPU, GPUResource, what, p.region, leftOut(g.count, what+" "))
	}
	return fmt.Sprintf("%s/%s: no GPU instance type the policy's instances allow has %s prices in %s and room for one replica (%s): %s",
		g.namespace, g.workload, what, p.region, g.req, leftOut(g.count, what+" "))
}

// leftOut says that a workload's n replicas (of a kind, e.g. "Spot ") are left out.
func leftOut(n int, kind string) string {
	if n == 1 {
		return fmt.Sprintf("its 1 %sreplica is left out of the estimate", kind)
	}
	return fmt.Sprintf("its %d %sreplicas are left out of the estimate", n, kind)
}

func countType(nodes []Node, t string) int {
	n := 0
	for _, x := range nodes {
		if x.InstanceType == t {
			n++
		}
	}
	return n
}
