package policies

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestOverlapIndexFindsEveryOverlap: over many random selectors on a few labels and
// values (In, NotIn, Exists, DoesNotExist, several requirements on one label), the
// index's candidates for each selector include every earlier selector it overlaps,
// in order; and keySet.meets agrees with intersect.
func TestOverlapIndexFindsEveryOverlap(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 2))
	keys, values := []string{"app", "tier", "team"}, []string{"a", "b", "c", "d"}
	randomSet := func() keySet {
		ks := keySet{values: map[string]bool{}}
		op := rng.IntN(4)
		for _, v := range values {
			if rng.IntN(3) == 0 {
				ks.values[v] = true
			}
		}
		switch op {
		case 0: // In
			ks.finite = true
			if len(ks.values) == 0 {
				ks.values[values[rng.IntN(len(values))]] = true
			}
		case 1: // NotIn
			ks.absentOK = true
		case 2: // Exists
			ks.values = map[string]bool{}
		case 3: // DoesNotExist
			ks.absentOK, ks.finite, ks.values = true, true, map[string]bool{}
		}
		return ks
	}
	for round := range 50 {
		var selectors []ruleSelector
		for range 60 {
			s := ruleSelector{keys: map[string]keySet{}}
			for range rng.IntN(4) {
				k := keys[rng.IntN(len(keys))]
				ks := randomSet()
				if prev, ok := s.keys[k]; ok {
					if prev.meets(ks) == prev.intersect(ks).empty() {
						t.Fatalf("meets(%+v, %+v) = %v, but intersect gives %+v", prev, ks, prev.meets(ks), prev.intersect(ks))
					}
					ks = prev.intersect(ks)
				}
				s.keys[k] = ks
			}
			for _, ks := range s.keys {
				s.never = s.never || ks.empty()
			}
			selectors = append(selectors, s)
		}
		idx := newOverlapIndex(selectors)
		for j := range selectors {
			if selectors[j].never {
				continue
			}
			got := idx.candidates(&selectors[j])
			if !slices.IsSorted(got) {
				t.Fatalf("round %d: candidates of %d not in order: %v", round, j, got)
			}
			for i := range j {
				if !disjoint(&selectors[i], &selectors[j]) && !slices.Contains(got, i) {
					t.Fatalf("round %d: selector %d (%+v) overlaps %d (%+v), but is not a candidate: %v", round, i, selectors[i].keys, j, selectors[j].keys, got)
				}
			}
			idx.add(j)
		}
	}
}
