package policies

import (
	"slices"
	"strings"
)

// suggest returns the known field closest to an unknown one, when it is close enough
// to be a typo (or differs only in case), and "" otherwise.
func suggest(unknown string, fields map[string]fieldInfo) string {
	best, bestDist := "", len(unknown)/3+1
	for _, name := range sortedKeys(fields) {
		if strings.EqualFold(name, unknown) {
			return name
		}
		if d := distance(strings.ToLower(unknown), strings.ToLower(name)); d < bestDist {
			best, bestDist = name, d
		}
	}
	return best
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// distance is the Levenshtein edit distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
