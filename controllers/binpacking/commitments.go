package binpacking

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"

	"github.com/ballast-dev/ballast/controllers/internal/coverage"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// maxMessage bounds status.binPacking.message (the API's maxLength).
const maxMessage = 1024

// keep takes out of candidates (in the order they would be emptied) the nodes that
// cover a commitment: emptying one would leave a commitment unused, since nothing
// else would use it. Where more nodes could use a commitment than it covers, the
// nodes that are not candidates cover it first, then the candidates emptied last,
// so the commitment keeps the busiest nodes and bin-packing may still empty the
// others. A kept node loses Ballast's taint. kept says which nodes were kept and
// why, for the status and an event; "" when none.
func (r *Reconciler) keep(ctx context.Context, policy *v1alpha1.ClusterPolicy, nodes, candidates []*Node, now time.Time) ([]*Node, string, error) {
	if !coverage.Enabled(policy) || !slices.ContainsFunc(candidates, func(n *Node) bool { return !isSpot(n.Node) }) {
		return candidates, "", nil
	}
	isCandidate := map[string]bool{}
	for _, c := range candidates {
		isCandidate[c.Node.Name] = true
	}
	var others []*Node
	for _, n := range nodes {
		if !isCandidate[n.Node.Name] {
			others = append(others, n)
		}
	}
	// The busiest first.
	slices.SortStableFunc(others, func(a, b *Node) int {
		ua, ub := UsageOf(a), UsageOf(b)
		return cmp.Or(cmp.Compare(max(ub.CPU, ub.Memory), max(ua.CPU, ua.Memory)), cmp.Compare(a.Node.Name, b.Node.Name))
	})
	prefer := make([]corev1.Node, 0, len(nodes))
	for _, n := range others {
		prefer = append(prefer, *n.Node)
	}
	for i := len(candidates) - 1; i >= 0; i-- {
		prefer = append(prefer, *candidates[i].Node)
	}
	covered := coverage.Covering(ctx, policy, prefer, r.Discover, r.Prices, now)
	var rest []*Node
	var kept []string
	for _, c := range candidates {
		if !covered.Covering[c.Node.Name] {
			rest = append(rest, c)
			continue
		}
		kept = append(kept, c.Node.Name)
		if err := r.untaint(ctx, c.Node); err != nil {
			return nil, "", err
		}
	}
	if len(kept) == 0 {
		return rest, "", nil
	}
	slices.Sort(kept)
	note := fmt.Sprintf("kept %s: covers a commitment", names(kept))
	if len(kept) > 1 {
		note = fmt.Sprintf("kept %s: they cover commitments", names(kept))
	}
	if covered.Unsure != "" {
		note += " (" + bound(covered.Unsure, 300) + ")"
	}
	return rest, note, nil
}

func isSpot(n *corev1.Node) bool {
	return n.Labels["karpenter.sh/capacity-type"] == "spot" || n.Labels[v1alpha1.CapacityLabel] == v1alpha1.CapacitySpot
}

// names lists at most 10 names.
func names(list []string) string {
	if len(list) > 10 {
		return strings.Join(list[:10], ", ") + fmt.Sprintf(" and %d more", len(list)-10)
	}
	return strings.Join(list, ", ")
}

// withNote appends the note on kept nodes to the message, within maxMessage.
func withNote(msg, note string) string {
	if note == "" {
		return bound(msg, maxMessage)
	}
	return bound(msg, maxMessage-len(note)-2) + "; " + note
}

// bound cuts s to at most n bytes, on a rune boundary.
func bound(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
