package cost

import (
	"cmp"
	"math"
	"slices"
)

// Money in reports is rounded to cents so that the figures that should add up do,
// exactly: totals are rounded once, and their parts are apportioned to the rounded
// total (apportion).

// toCents rounds dollars to whole cents.
func toCents(x float64) int64 { return int64(math.Round(x * 100)) }

// dollars turns cents back into dollars.
func dollars(c int64) float64 { return float64(c) / 100 }

// cents rounds dollars to cents.
func cents(x float64) float64 { return dollars(toCents(x)) }

// zeroMoney is how close to zero (in dollars) a part must be to count as none: apportion
// leaves such parts at zero.
const zeroMoney = 1e-9

// apportion rounds the parts xs (dollars) to cents that add up to total cents exactly:
// each part is rounded to the nearest cent, then the cents still missing (or in excess)
// go one at a time to the parts rounding moved furthest the other way (the largest
// remainder method). Parts that are zero stay zero unless every part is.
func apportion(xs []float64, total int64) []int64 {
	out := make([]int64, len(xs))
	var sum int64
	var eligible []int
	for i, x := range xs {
		out[i] = toCents(x)
		sum += out[i]
		if math.Abs(x) > zeroMoney {
			eligible = append(eligible, i)
		}
	}
	diff := total - sum
	if diff == 0 || len(xs) == 0 {
		return out
	}
	if len(eligible) == 0 {
		for i := range xs {
			eligible = append(eligible, i)
		}
	}
	step := int64(1)
	if diff < 0 {
		step = -1
	}
	// The remainder each part lost to rounding, in cents, signed so that the part
	// that most deserves the next step comes first.
	remainder := func(i int) float64 { return float64(step) * (xs[i]*100 - float64(out[i])) }
	slices.SortStableFunc(eligible, func(a, b int) int { return cmp.Compare(remainder(b), remainder(a)) })
	for k := 0; diff != 0; k++ {
		i := eligible[k%len(eligible)]
		out[i] += step
		diff -= step
	}
	return out
}
