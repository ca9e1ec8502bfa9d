package coverage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Discover returns the Reserved Instances and Savings Plans of the account in a
// region (Utilization is the caller's to set).
type Discover func(ctx context.Context, region string) (cost.Commitments, error)

// ErrNotConfigured: the policy's commitments have source Discover, and no Discover is
// wired into the controller.
var ErrNotConfigured = errors.New("commitments have source Discover, but discovery through the AWS API is not configured in this controller")

// DiscoveryError is a failed discovery.
type DiscoveryError struct{ Err error }

func (e DiscoveryError) Error() string { return "cannot discover the commitments: " + e.Err.Error() }
func (e DiscoveryError) Unwrap() error { return e.Err }

// Read returns the commitments the policy lets the cluster use at now: those it lists
// in Git that have not expired, or with source Discover those discover finds, each
// within maxUtilizationPercent. Commitments disabled read as none. A failed discovery
// is a DiscoveryError, a missing discover ErrNotConfigured.
func Read(ctx context.Context, policy *v1alpha1.ClusterPolicy, discover Discover, now time.Time) (cost.Commitments, error) {
	c, _, err := cost.CommitmentsFor(policy, now)
	if err != nil {
		return c, fmt.Errorf("invalid commitments: %w", err)
	}
	if !Enabled(policy) || policy.Spec.Commitments.Source == v1alpha1.CommitmentsFromGit {
		return c, nil
	}
	if discover == nil {
		return c, ErrNotConfigured
	}
	found, err := discover(ctx, policy.Spec.Cluster.Region)
	if err != nil {
		return c, DiscoveryError{err}
	}
	found.Utilization = c.Utilization
	return found, nil
}

// Enabled reports whether the policy enables commitments.
func Enabled(policy *v1alpha1.ClusterPolicy) bool {
	return policy != nil && policy.Spec.Commitments != nil && policy.Spec.Commitments.Enabled
}

// Nodes is which nodes cover the commitments.
type Nodes struct {
	// Covering names the covering nodes.
	Covering map[string]bool
	// Unsure, when not empty, says why the coverage is not known exactly; Covering
	// then holds every On-Demand node that the commitments last reported in
	// status.commitments could cover (every On-Demand node when none are known).
	Unsure string
}

// Covering returns which of nodes cover the policy's commitments now (none when
// commitments are disabled). nodes come in the order the caller would rather keep
// them (cost.Covering): where more nodes could use a commitment than it covers, the
// earlier ones cover it. Nodes being deleted cover nothing (they are going anyway),
// nor do nodes without an instance type. prices is the catalogue when nil.
func Covering(ctx context.Context, policy *v1alpha1.ClusterPolicy, nodes []corev1.Node, discover Discover, prices cost.PriceBook, now time.Time) Nodes {
	if !Enabled(policy) {
		return Nodes{}
	}
	var running []corev1.Node
	for i := range nodes {
		n := &nodes[i]
		if n.DeletionTimestamp == nil && (n.Labels[corev1.LabelInstanceTypeStable] != "" || n.Labels[corev1.LabelInstanceType] != "") {
			running = append(running, *n)
		}
	}
	w, err := cost.FromCluster(cost.Cluster{Nodes: running})
	if err != nil {
		// Unreachable: every node has an instance type.
		return Nodes{Covering: map[string]bool{}, Unsure: err.Error()}
	}
	if prices == nil {
		prices = cost.DefaultCatalogue()
	}
	c, err := Read(ctx, policy, discover, now)
	if err == nil {
		covering, cerr := cost.Covering(c, w.Nodes, policy.Spec.Cluster.Region, prices)
		if cerr == nil {
			return Nodes{Covering: covering}
		}
		return unsure(c, w.Nodes, "cannot compute the coverage: "+cerr.Error())
	}
	last, known := lastKnown(policy.Status.Commitments)
	if !known {
		return unsure(cost.Commitments{}, w.Nodes, err.Error()+"; no commitment is known yet, so every On-Demand node counts as covering")
	}
	return unsure(last, w.Nodes, err.Error()+"; every On-Demand node a commitment last reported could cover counts as covering")
}

// unsure is the conservative answer: every coverable node (every On-Demand node when
// c holds no commitment).
func unsure(c cost.Commitments, nodes []cost.Node, why string) Nodes {
	out := Nodes{Covering: map[string]bool{}, Unsure: why}
	none := len(c.ReservedInstances) == 0 && len(c.SavingsPlans) == 0
	for _, n := range nodes {
		if n.CapacityType != cost.Spot && (none || cost.Coverable(c, n)) {
			out.Covering[n.Name] = true
		}
	}
	return out
}

// lastKnown turns the commitments the commitments controller last reported into
// commitments, for the conservative answer.
func lastKnown(s *v1alpha1.CommitmentsStatus) (cost.Commitments, bool) {
	if s == nil {
		return cost.Commitments{}, false
	}
	c := cost.Commitments{Utilization: 1}
	for _, ri := range s.ReservedInstances {
		c.ReservedInstances = append(c.ReservedInstances, cost.ReservedInstance{InstanceType: ri.InstanceType, Zone: ri.Zone, Count: int(ri.Committed)})
	}
	for _, sp := range s.SavingsPlans {
		perHour, err := strconv.ParseFloat(strings.TrimSpace(sp.CommittedPerHour), 64)
		if err != nil || math.IsNaN(perHour) {
			perHour = 1 // unreadable: assume it covers
		}
		c.SavingsPlans = append(c.SavingsPlans, cost.SavingsPlanSpend{Type: sp.Type, Family: sp.Family, PerHour: perHour})
	}
	return c, len(c.ReservedInstances)+len(c.SavingsPlans) > 0
}
