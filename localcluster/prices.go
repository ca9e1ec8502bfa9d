package localcluster

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	kwokcloud "sigs.k8s.io/karpenter/kwok/cloudprovider"
	kwokoptions "sigs.k8s.io/karpenter/kwok/options"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
)

// KwokPrice is the hourly price of one kwok instance type: the lowest On-Demand and
// the lowest Spot offering (0 when kwok offers it on no Spot), with its shape.
type KwokPrice struct {
	OnDemand, Spot float64
	VCPU, MaxPods  int64
	MemoryGiB      float64
	Arch           string
}

// KwokPriceTable returns the prices of the instance types Karpenter's kwok provider
// launches, by name: its own, or those of the instance-types files given
// (Cluster.InstanceTypesFile; an empty name means kwok's own).
func KwokPriceTable(instanceTypesFile ...string) (map[string]KwokPrice, error) {
	file := ""
	if len(instanceTypesFile) > 0 {
		file = instanceTypesFile[0]
	}
	types, err := kwokcloud.ConstructInstanceTypes(kwokoptions.ToContext(context.Background(), &kwokoptions.Options{InstanceTypesFilePath: file}))
	if err != nil {
		return nil, fmt.Errorf("failed to read kwok's instance types: %w", err)
	}
	out := map[string]KwokPrice{}
	for _, it := range types {
		var p KwokPrice
		for _, o := range it.Offerings {
			switch o.CapacityType() {
			case karpv1.CapacityTypeOnDemand:
				if p.OnDemand == 0 || o.Price < p.OnDemand {
					p.OnDemand = o.Price
				}
			case karpv1.CapacityTypeSpot:
				if p.Spot == 0 || o.Price < p.Spot {
					p.Spot = o.Price
				}
			}
		}
		cpu, mem, pods := it.Capacity[corev1.ResourceCPU], it.Capacity[corev1.ResourceMemory], it.Capacity[corev1.ResourcePods]
		p.VCPU, p.MemoryGiB, p.MaxPods, p.Arch = cpu.Value(), float64(mem.Value())/(1<<30), max(pods.Value(), 1), "amd64"
		if it.Requirements.Has(corev1.LabelArchStable) {
			if v := it.Requirements.Get(corev1.LabelArchStable).Values(); len(v) > 0 {
				p.Arch = v[0]
			}
		}
		if p.OnDemand == 0 || p.VCPU == 0 || p.MemoryGiB == 0 || (p.Arch != "amd64" && p.Arch != "arm64") {
			continue
		}
		out[it.Name] = p
	}
	return out, nil
}

// KwokPrices returns a price file (the format of cost/prices.yaml, for `ballast
// controller --prices` and `ballast estimate --prices`) with KwokPriceTable's shapes
// and the same prices in each of regions. The nodes kwok launches carry no region
// label, so the region is the ClusterPolicy's.
func KwokPrices(regions ...string) ([]byte, error) {
	table, err := KwokPriceTable()
	if err != nil {
		return nil, err
	}
	names := slices.Sorted(maps.Keys(table))
	var b strings.Builder
	b.WriteString("source: Karpenter's kwok provider (its instance types and offering prices)\nasOf: kwok\ninstanceTypes:\n")
	for _, n := range names {
		p := table[n]
		fmt.Fprintf(&b, "  %s: {vcpu: %d, memory: %g, arch: %s, maxPods: %d}\n", n, p.VCPU, p.MemoryGiB, p.Arch, p.MaxPods)
	}
	b.WriteString("prices:\n")
	for _, region := range regions {
		fmt.Fprintf(&b, "  %s:\n", region)
		for _, n := range names {
			fmt.Fprintf(&b, "    %s: [%g, %g]\n", n, table[n].OnDemand, table[n].Spot)
		}
	}
	return []byte(b.String()), nil
}
