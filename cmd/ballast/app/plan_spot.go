package app

import (
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/plan"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/spotrank"
)

// spotRows is how many types of the CostOptimized ranking the plan shows at least.
const spotRows = 10

// placementScores are the Spot placement scores of --placement-scores: by instance
// type, or by instance family for every type of it that has none of its own.
type placementScores struct {
	file   string
	scores map[string]int32
}

// loadPlacementScores reads a YAML or JSON map of instance type or family to score
// (1 to 10); nil without a file.
func loadPlacementScores(file string) (*placementScores, error) {
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--placement-scores: %w", err)
	}
	var scores map[string]int32
	if err := yaml.Unmarshal(data, &scores); err != nil {
		return nil, fmt.Errorf("--placement-scores %s: want a map of instance type or family to a score from 1 to 10: %w", file, err)
	}
	for name, s := range scores {
		if name == "" || s < 1 || s > 10 {
			return nil, fmt.Errorf("--placement-scores %s: %q: %d: a score is from 1 to 10", file, name, s)
		}
	}
	return &placementScores{file: file, scores: scores}, nil
}

// forTypes returns the score of each of types that has one.
func (p *placementScores) forTypes(types []string) map[string]int32 {
	if p == nil {
		return nil
	}
	out := map[string]int32{}
	for _, t := range types {
		family, _, _ := strings.Cut(t, ".")
		if s, ok := p.scores[t]; ok {
			out[t] = s
		} else if s, ok := p.scores[family]; ok {
			out[t] = s
		}
	}
	return out
}

// spotPools ranks the Spot supply of a cluster's (defaulted) policy for both
// strategies, as the interruption controller would with no interruption history and
// nothing excluded; nil when the policy uses no Spot.
func spotPools(policy *v1alpha1.ClusterPolicy, book cost.PriceBook, scores *placementScores, at time.Time) *plan.SpotPools {
	if e := policy.Spec.Spot.Enabled; e != nil && !*e {
		return nil
	}
	supply := cost.SupplyTypes(policy, book)
	in := spotrank.Input{Policy: policy, Book: book, Scores: scores.forTypes(supply), Now: at}
	var results [2]spotrank.Result
	for i, strategy := range []v1alpha1.Strategy{v1alpha1.CostOptimized, v1alpha1.LeastInterrupted} {
		p := policy.DeepCopy()
		p.Spec.Spot.Strategy = strategy
		in.Policy = p
		results[i] = spotrank.Rank(in)
	}
	cheapest, least := results[0], results[1]
	sp := &plan.SpotPools{Strategy: string(policy.Spec.Spot.Strategy), Supply: len(supply), PerFamily: least.PerFamily}
	if sp.Strategy == "" {
		sp.Strategy = string(v1alpha1.DefaultStrategy)
	}
	pool := func(r spotrank.Ranked) plan.SpotPool {
		return plan.SpotPool{InstanceType: r.InstanceType, Placement: r.Placement, PricePerVCPU: r.PricePerVCPU}
	}
	for _, r := range least.Ranked {
		if r.Chosen {
			sp.Chosen = append(sp.Chosen, pool(r))
		}
	}
	for _, r := range cheapest.Ranked[:min(len(cheapest.Ranked), max(len(sp.Chosen), spotRows))] {
		sp.Cheapest = append(sp.Cheapest, pool(r))
	}
	history := "The cluster's interruption history and current exclusions are unknown offline; the controller ranks with them."
	if scores == nil {
		sp.Note = fmt.Sprintf("Placement scores unknown (offline): every type counts as a neutral %d, so LeastInterrupted's choice here "+
			"follows price and diversity alone; pass --placement-scores FILE (instance type or family: score from 1 to 10) to rank by them. %s",
			spotrank.NeutralPlacement, history)
	} else {
		sp.Note = fmt.Sprintf("Placement scores from %s (%d of the %d types scored; the others count as a neutral %d). %s",
			scores.file, len(in.Scores), len(supply), spotrank.NeutralPlacement, history)
	}
	return sp
}
