package policies

import (
	"slices"
	"strings"
)

// overlapIndex holds the selectors of one namespace and specificity that overlap
// detection has seen, by what they require of each label, so that the earlier rules a
// rule may overlap are found without comparing it with all of them.
//
// Two selectors overlap only if, on every label both constrain, some value (or the
// label's absence) satisfies both. So when a selector S requires label k to have one
// of a finite set of values, only these earlier selectors can overlap it: those that
// allow one of S's values of k (byValue), those that allow infinitely many values of
// k (open: NotIn, Exists), and those that say nothing of k (bySignature, by the set of
// labels they constrain). S is looked up by the label that gives the fewest
// candidates; a selector without such a label is compared with every earlier one.
type overlapIndex struct {
	selectors []ruleSelector
	// all are the selectors added, in order.
	all     []int
	byValue map[string]map[string][]int
	open    map[string][]int
	// bySignature are the selectors by the labels they constrain (signature);
	// signatures lists each signature's labels.
	bySignature map[string][]int
	signatures  map[string][]string
}

func newOverlapIndex(selectors []ruleSelector) *overlapIndex {
	return &overlapIndex{selectors: selectors, byValue: map[string]map[string][]int{}, open: map[string][]int{},
		bySignature: map[string][]int{}, signatures: map[string][]string{}}
}

// add adds selector i, which matches some workload.
func (x *overlapIndex) add(i int) {
	s := &x.selectors[i]
	x.all = append(x.all, i)
	keys := sortedKeys(s.keys)
	sig := strings.Join(keys, "\x00")
	if _, ok := x.signatures[sig]; !ok {
		x.signatures[sig] = keys
	}
	x.bySignature[sig] = append(x.bySignature[sig], i)
	for _, k := range keys {
		ks := s.keys[k]
		if !ks.finite {
			x.open[k] = append(x.open[k], i)
			continue
		}
		values := x.byValue[k]
		if values == nil {
			values = map[string][]int{}
			x.byValue[k] = values
		}
		for v := range ks.values {
			values[v] = append(values[v], i)
		}
	}
}

// candidates returns, in the order they were added, the selectors added so far that
// may overlap s: every one that does, and maybe others.
func (x *overlapIndex) candidates(s *ruleSelector) []int {
	best, bestCost := "", len(x.all)
	for _, k := range sortedKeys(s.keys) {
		ks := s.keys[k]
		if !ks.finite || ks.absentOK {
			continue // s allows any value of k, or its absence: k rules nothing out
		}
		if c := x.cost(k, ks); c < bestCost {
			best, bestCost = k, c
		}
	}
	if best == "" {
		return x.all
	}
	out := make([]int, 0, bestCost)
	for v := range s.keys[best].values {
		out = append(out, x.byValue[best][v]...)
	}
	out = append(out, x.open[best]...)
	for sig, keys := range x.signatures {
		if !slices.Contains(keys, best) {
			out = append(out, x.bySignature[sig]...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// cost is the number of candidates looking s up by label k gives (counting twice
// those found by two of its values).
func (x *overlapIndex) cost(k string, ks keySet) int {
	n := len(x.open[k])
	for v := range ks.values {
		n += len(x.byValue[k][v])
	}
	for sig, keys := range x.signatures {
		if !slices.Contains(keys, k) {
			n += len(x.bySignature[sig])
		}
	}
	return n
}
