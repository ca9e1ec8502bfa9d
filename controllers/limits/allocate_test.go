package limits

import (
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func rl(cpu, memory string, nodes int64) corev1.ResourceList {
	out := corev1.ResourceList{}
	if cpu != "" {
		out[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if memory != "" {
		out[corev1.ResourceMemory] = resource.MustParse(memory)
	}
	if nodes >= 0 {
		out[ResourceNodes] = *resource.NewQuantity(nodes, resource.DecimalSI)
	}
	return out
}

func TestAllocate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		total corev1.ResourceList
		pools []Pool
		round int
		want  []corev1.ResourceList
	}{
		{"empty cluster, nothing pending: even split",
			rl("100", "", -1),
			[]Pool{{Name: "od"}, {Name: "spot"}}, 0,
			[]corev1.ResourceList{rl("50", "", -1), rl("50", "", -1)}},
		{"usage counts, the headroom is shared",
			rl("100", "", 10),
			[]Pool{{Name: "od", Usage: rl("40", "", 4)}, {Name: "spot", Usage: rl("20", "", 2)}}, 0,
			[]corev1.ResourceList{rl("60", "", 6), rl("40", "", 4)}},
		{"demand takes the headroom",
			rl("100", "", -1),
			[]Pool{{Name: "od", Usage: rl("40", "", -1), DemandMilliCPU: 3000}, {Name: "spot", Usage: rl("20", "", -1)}}, 0,
			[]corev1.ResourceList{rl("80", "", -1), rl("20", "", -1)}},
		{"demand on both: by weight",
			rl("10", "", -1),
			[]Pool{{Name: "od", DemandMilliCPU: 1000}, {Name: "spot", DemandMilliCPU: 3000}}, 0,
			[]corev1.ResourceList{rl("2500m", "", -1), rl("7500m", "", -1)}},
		{"greedy: the most demand takes it all",
			rl("10", "", -1),
			[]Pool{{Name: "od", Usage: rl("4", "", -1), DemandMilliCPU: 1000}, {Name: "spot", DemandMilliCPU: 3000}}, 1,
			[]corev1.ResourceList{rl("4", "", -1), rl("6", "", -1)}},
		{"stall round 2: the pool with the next most demand takes it all",
			rl("10", "", -1),
			[]Pool{{Name: "od", Usage: rl("4", "", -1), DemandMilliCPU: 1000}, {Name: "spot", DemandMilliCPU: 3000}}, 2,
			[]corev1.ResourceList{rl("10", "", -1), rl("0", "", -1)}},
		{"greedy without demand is even",
			rl("10", "", -1),
			[]Pool{{Name: "od"}, {Name: "spot"}}, 1,
			[]corev1.ResourceList{rl("5", "", -1), rl("5", "", -1)}},
		{"over the total: no headroom, limits at usage",
			rl("10", "", -1),
			[]Pool{{Name: "od", Usage: rl("8", "", -1)}, {Name: "spot", Usage: rl("6", "", -1)}}, 0,
			[]corev1.ResourceList{rl("8", "", -1), rl("6", "", -1)}},
		{"memory in bytes, odd remainder rounds down",
			rl("", "3", -1),
			[]Pool{{Name: "od"}, {Name: "spot"}}, 0,
			[]corev1.ResourceList{rl("", "1", -1), rl("", "1", -1)}},
		{"only the resources the total names",
			rl("", "", 3),
			[]Pool{{Name: "od", Usage: rl("4", "16Gi", 1)}}, 0,
			[]corev1.ResourceList{rl("", "", 3)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Allocate(tc.total, tc.pools, tc.round)
			for i := range tc.want {
				if len(got[i]) != len(tc.want[i]) {
					t.Fatalf("pool %s: got %v, want %v", tc.pools[i].Name, got[i], tc.want[i])
				}
				for k, w := range tc.want[i] {
					if g := got[i][k]; g.Cmp(w) != 0 {
						t.Errorf("pool %s %s: got %s, want %s", tc.pools[i].Name, k, g.String(), w.String())
					}
				}
			}
		})
	}
}

// TestAllocateNeverExceedsTheTotal: whatever the usage and demand, the limits add up to
// at most the total (or the usage, when the usage is over it), and no pool's limit is
// below its usage.
func TestAllocateNeverExceedsTheTotal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		total := corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(rng.Int64N(1_000_000), resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(rng.Int64N(1<<42), resource.BinarySI),
			ResourceNodes:         *resource.NewQuantity(rng.Int64N(100), resource.DecimalSI),
		}
		pools := make([]Pool, 1+rng.IntN(4))
		for i := range pools {
			pools[i].Usage = corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(rng.Int64N(400_000), resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(rng.Int64N(1<<41), resource.BinarySI),
				ResourceNodes:         *resource.NewQuantity(rng.Int64N(40), resource.DecimalSI),
			}
			if rng.IntN(2) == 0 {
				pools[i].DemandMilliCPU = rng.Int64N(1_000_000)
			}
		}
		got := Allocate(total, pools, rng.IntN(4))
		for name, tq := range total {
			var sum, used resource.Quantity
			for i := range pools {
				l, u := got[i][name], pools[i].Usage[name]
				if l.Cmp(u) < 0 {
					t.Fatalf("%s: a pool's limit %s is below its usage %s", name, l.String(), u.String())
				}
				sum.Add(l)
				used.Add(u)
			}
			bound := tq
			if used.Cmp(tq) > 0 {
				bound = used
			}
			if sum.Cmp(bound) > 0 {
				t.Fatalf("%s: limits add up to %s, more than %s", name, sum.String(), bound.String())
			}
		}
	}
}
