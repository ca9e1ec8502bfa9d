package app

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/plan"
	"github.com/ballast-dev/ballast/policies"
)

// estimator prices each cluster's workload under the base's and the head's policy.
type estimator struct {
	// file is --scenario or --snapshot; it describes the one cluster planned.
	file   string
	prices *cost.Catalogue
}

func newEstimator(o planOptions) (*estimator, error) {
	book := cost.DefaultCatalogue()
	if o.prices != "" {
		extra, err := cost.LoadCatalogue(o.prices)
		if err != nil {
			return nil, err
		}
		book.Merge(extra)
	}
	return &estimator{file: o.scenario + o.snapshot, prices: book}, nil
}

// estimate fills c's cost from the workload of the cluster: --scenario/--snapshot, else
// the file the ClusterPolicy's annotation names at the head (at the base for a cluster
// the head removed). base and head are nil when not valid.
func (e *estimator) estimate(c *plan.Cluster, base, head *side) {
	w, source, err := e.workload(c.Name, head, base)
	switch {
	case err != nil:
		c.CostNote = err.Error()
		return
	case w == nil:
		c.CostNote = fmt.Sprintf("No workload to price: set the %s annotation on the ClusterPolicy, or pass --scenario or --snapshot.", plan.ScenarioAnnotation)
		return
	}
	c.CostSource = source
	var notes []string
	for _, sd := range []*side{base, head} {
		if sd == nil || !hasCluster(sd, c.Name) {
			continue
		}
		policy, rules, err := sd.repo.ForCluster(c.Name)
		if err != nil {
			notes = append(notes, err.Error())
			continue
		}
		r, err := cost.EstimateForPolicy(policy, rules, w, e.prices)
		if err != nil {
			notes = append(notes, fmt.Sprintf("no estimate at %s: %v", sd.label, err))
			continue
		}
		est := &plan.Cost{Monthly: r.MonthlyCost, Potential: r.MonthlyPotential, Savings: r.MonthlySavings, SpotShare: r.SpotShare, Nodes: r.Nodes}
		if sd == head {
			c.After = est
			notes = append(notes, r.Notes...)
		} else {
			c.Before = est
		}
	}
	for i, n := range notes {
		notes[i] = sentence(n)
	}
	c.CostNote = strings.Join(notes, " ")
}

// sentence starts s with a capital letter and ends it with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// workload finds and reads the workload of a cluster, and says where it came from.
func (e *estimator) workload(cluster string, sides ...*side) (*cost.Workload, string, error) {
	if e.file != "" {
		w, err := cost.LoadWorkload(e.file)
		if err != nil {
			return nil, "", fmt.Errorf("failed to read the workload: %w", err)
		}
		return w, e.file, nil
	}
	for _, sd := range sides {
		doc := clusterDoc(sd, cluster)
		if doc == nil {
			continue
		}
		ref := doc.Policy.Annotations[plan.ScenarioAnnotation]
		if ref == "" {
			continue
		}
		file := path.Join(path.Dir(sd.file(doc.File)), ref)
		if path.IsAbs(ref) || !fs.ValidPath(file) {
			return nil, "", fmt.Errorf("%s: the %s annotation %q must name a file inside the repository, relative to the ClusterPolicy's file", doc.File, plan.ScenarioAnnotation, ref)
		}
		// By the policy tree's rules: a regular file in the repository, or a link to one.
		data, err := policies.ReadFile(sd.fsys, ".", file)
		if err != nil {
			return nil, "", fmt.Errorf("%s: the %s annotation names %s, which cannot be read at %s: %w", doc.File, plan.ScenarioAnnotation, file, sd.label, err)
		}
		w, err := cost.ParseWorkload(data)
		if err != nil {
			return nil, "", fmt.Errorf("%s (named by %s): %w", file, doc.File, err)
		}
		if w.Name == "" {
			w.Name = file
		}
		return w, file, nil
	}
	return nil, "", nil
}
