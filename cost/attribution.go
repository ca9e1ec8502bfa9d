package cost

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

// attribute shares each node's cost and savings out to its pods by weight (podWeights);
// what no pod requested goes to Idle. The workloads' shares are apportioned to the
// rounded totals (cost and savings, in cents), and a namespace's share is the sum of its
// workloads', so both lists add up to the totals exactly.
func attribute(nodes []Node, costs []nodeCost, splits map[string][2]int, totalCost, totalSavings int64) ([]Attribution, []Attribution) {
	type key struct{ ns, wl string }
	type share struct{ cost, savings float64 }
	byWorkload := map[key]*share{}
	add := func(k key, cost, savings float64) {
		s := byWorkload[k]
		if s == nil {
			s = &share{}
			byWorkload[k] = s
		}
		s.cost += cost
		s.savings += savings
	}
	for i, n := range nodes {
		weights := podWeights(n)
		sum := 0.0
		for _, w := range weights {
			sum += w
		}
		saving := costs[i].savings()
		for j, p := range n.Pods {
			add(key{p.Namespace, p.Workload}, costs[i].actual*weights[j], saving*weights[j])
		}
		if rest := 1 - sum; rest > 1e-12 {
			add(key{Idle, Idle}, costs[i].actual*rest, saving*rest)
		}
	}
	for k, s := range splits {
		ns, wl, _ := strings.Cut(k, "/")
		if byWorkload[key{ns, wl}] == nil && s[0]+s[1] > 0 {
			byWorkload[key{ns, wl}] = &share{}
		}
	}
	keys := slices.SortedFunc(maps.Keys(byWorkload), func(a, b key) int {
		return cmp.Or(strings.Compare(a.ns, b.ns), strings.Compare(a.wl, b.wl))
	})
	exactCost := make([]float64, len(keys))
	exactSavings := make([]float64, len(keys))
	for i, k := range keys {
		exactCost[i], exactSavings[i] = byWorkload[k].cost, byWorkload[k].savings
	}
	wlCost, wlSavings := apportion(exactCost, totalCost), apportion(exactSavings, totalSavings)
	byNamespace := map[string]*[2]int64{}
	workloads := make([]Attribution, 0, len(keys))
	for i, k := range keys {
		s := splits[k.ns+"/"+k.wl]
		workloads = append(workloads, Attribution{Namespace: k.ns, Workload: k.wl, MonthlyCost: dollars(wlCost[i]), MonthlySavings: dollars(wlSavings[i]),
			OnDemandReplicas: s[0], SpotReplicas: s[1]})
		ns := byNamespace[k.ns]
		if ns == nil {
			ns = &[2]int64{}
			byNamespace[k.ns] = ns
		}
		ns[0] += wlCost[i]
		ns[1] += wlSavings[i]
	}
	namespaces := make([]Attribution, 0, len(byNamespace))
	for name, ns := range byNamespace {
		namespaces = append(namespaces, Attribution{Namespace: name, MonthlyCost: dollars(ns[0]), MonthlySavings: dollars(ns[1])})
	}
	order := func(a, b Attribution) int {
		return cmp.Or(cmp.Compare(b.MonthlyCost, a.MonthlyCost), strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Workload, b.Workload))
	}
	slices.SortFunc(namespaces, order)
	slices.SortFunc(workloads, order)
	return namespaces, workloads
}

// podWeights returns each pod's share of the node: the average of its shares of the
// node's allocatable CPU and memory (and GPUs, on a node that has any), scaled down if
// the pods together claim more than the node. A node whose allocatable CPU or memory is
// unknown is shared by the pods' requests alone.
func podWeights(n Node) []float64 {
	w := make([]float64, len(n.Pods))
	alloc := n.Allocatable
	if alloc.MilliCPU <= 0 || alloc.Memory <= 0 {
		alloc = Resources{}
		for _, p := range n.Pods {
			alloc = alloc.Add(p.Requests)
		}
		if alloc.MilliCPU <= 0 && alloc.Memory <= 0 && alloc.GPU <= 0 {
			for i := range w {
				w[i] = 1 / float64(len(w))
			}
			return w
		}
	}
	dims := 2.0
	if alloc.GPU > 0 {
		dims = 3
	}
	sum := 0.0
	for i, p := range n.Pods {
		w[i] = (share(p.Requests.MilliCPU, alloc.MilliCPU) + share(p.Requests.Memory, alloc.Memory) + share(p.Requests.GPU, alloc.GPU)) / dims
		sum += w[i]
	}
	if sum > 1 {
		for i := range w {
			w[i] /= sum
		}
	}
	return w
}

func share(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}
