package cost

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

// attribute shares each node's cost and savings out to its pods by the average of
// their share of the node's allocatable CPU and memory; what no pod requested goes to
// Idle. A node whose allocatable is unknown is shared by requests alone.
func attribute(nodes []Node, costs []nodeCost, splits map[string][2]int) ([]Attribution, []Attribution) {
	type key struct{ ns, wl string }
	byWorkload := map[key]*Attribution{}
	add := func(k key, cost, savings float64) {
		a := byWorkload[k]
		if a == nil {
			a = &Attribution{Namespace: k.ns, Workload: k.wl}
			byWorkload[k] = a
		}
		a.MonthlyCost += cost
		a.MonthlySavings += savings
	}
	for i, n := range nodes {
		weights := podWeights(n)
		sum := 0.0
		for _, w := range weights {
			sum += w
		}
		saving := costs[i].onDemand - costs[i].actual
		for j, p := range n.Pods {
			add(key{p.Namespace, p.Workload}, costs[i].actual*weights[j], saving*weights[j])
		}
		if rest := 1 - sum; rest > 1e-12 {
			add(key{Idle, Idle}, costs[i].actual*rest, saving*rest)
		}
	}
	for k, a := range byWorkload {
		s := splits[k.ns+"/"+k.wl]
		a.OnDemandReplicas, a.SpotReplicas = s[0], s[1]
	}
	for k, s := range splits {
		ns, wl, _ := strings.Cut(k, "/")
		if byWorkload[key{ns, wl}] == nil && s[0]+s[1] > 0 {
			byWorkload[key{ns, wl}] = &Attribution{Namespace: ns, Workload: wl, OnDemandReplicas: s[0], SpotReplicas: s[1]}
		}
	}
	byNamespace := map[string]*Attribution{}
	var workloads []Attribution
	for _, k := range slices.SortedFunc(maps.Keys(byWorkload), func(a, b key) int { return cmp.Or(strings.Compare(a.ns, b.ns), strings.Compare(a.wl, b.wl)) }) {
		a := byWorkload[k]
		ns := byNamespace[k.ns]
		if ns == nil {
			ns = &Attribution{Namespace: k.ns}
			byNamespace[k.ns] = ns
		}
		ns.MonthlyCost += a.MonthlyCost
		ns.MonthlySavings += a.MonthlySavings
		a.MonthlyCost, a.MonthlySavings = cents(a.MonthlyCost), cents(a.MonthlySavings)
		workloads = append(workloads, *a)
	}
	var namespaces []Attribution
	for _, a := range byNamespace {
		a.MonthlyCost, a.MonthlySavings = cents(a.MonthlyCost), cents(a.MonthlySavings)
		namespaces = append(namespaces, *a)
	}
	order := func(a, b Attribution) int {
		return cmp.Or(cmp.Compare(b.MonthlyCost, a.MonthlyCost), strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Workload, b.Workload))
	}
	slices.SortFunc(namespaces, order)
	slices.SortFunc(workloads, order)
	return namespaces, workloads
}

// podWeights returns each pod's share of the node: the average of its share of the
// node's allocatable CPU and memory, scaled down if the pods together claim more
// than the node.
func podWeights(n Node) []float64 {
	w := make([]float64, len(n.Pods))
	alloc := n.Allocatable
	if alloc.MilliCPU <= 0 || alloc.Memory <= 0 {
		for _, p := range n.Pods {
			alloc = alloc.Add(p.Requests)
		}
		if alloc.MilliCPU <= 0 && alloc.Memory <= 0 {
			for i := range w {
				w[i] = 1 / float64(len(w))
			}
			return w
		}
	}
	sum := 0.0
	for i, p := range n.Pods {
		w[i] = (share(p.Requests.MilliCPU, alloc.MilliCPU) + share(p.Requests.Memory, alloc.Memory)) / 2
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
