package plan

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// money formats US dollars rounded to whole dollars with thousands separators:
// "$12,340".
func money(v float64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	digits := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return sign + "$" + b.String()
}

// percent formats a fraction (0.45) as a whole percentage ("45%").
func percent(f float64) string {
	return strconv.FormatFloat(math.Round(f*100), 'f', 0, 64) + "%"
}

// relative is the relative change from a to b, signed: "-18%", "+5%", "±0%"; empty when
// a is zero.
func relative(a, b float64) string {
	if a == 0 {
		return ""
	}
	r := math.Round((b - a) / a * 100)
	switch {
	case r > 0:
		return fmt.Sprintf("+%.0f%%", r)
	case r < 0:
		return fmt.Sprintf("%.0f%%", r)
	default:
		return "±0%"
	}
}

// fromTo is "a → b", or a alone when both read the same.
func fromTo(a, b, arrow string) string {
	if a == b {
		return a
	}
	return a + " " + arrow + " " + b
}

// plural is "1 object" or "2 objects".
func plural(n int, one, other string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, other)
}
