package devenv

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Scenarios `ballast dev --scenario` runs.
const (
	ScenarioSpotOutage   = "spot-outage"
	ScenarioScale        = "scale"
	ScenarioPolicyChange = "policy-change"
)

// Scenarios lists them.
var Scenarios = []string{ScenarioSpotOutage, ScenarioScale, ScenarioPolicyChange}

// Timeline records what a scenario did and saw, with the time since it started.
type Timeline struct {
	start time.Time
	out   func(string)
}

func (t *Timeline) log(format string, args ...any) {
	if t.out != nil {
		t.out(fmt.Sprintf("[%6s] ", time.Since(t.start).Round(time.Second)) + fmt.Sprintf(format, args...))
	}
}

// Run runs a scenario, reporting each step to out.
func (e *Env) Run(ctx context.Context, scenario string, out func(string)) error {
	t := &Timeline{start: time.Now(), out: out}
	switch scenario {
	case ScenarioSpotOutage:
		return e.spotOutage(ctx, t)
	case ScenarioScale:
		return e.scale(ctx, t)
	case ScenarioPolicyChange:
		return e.policyChange(ctx, t)
	}
	return fmt.Errorf("unknown scenario %q: one of %s", scenario, strings.Join(Scenarios, ", "))
}

// WaitSettled waits until every workload runs its desired split, nothing is pending
// and nothing is on fallback but the replicas reverse fallback keeps On-Demand on nodes
// that cover a commitment (each such replica is one more On-Demand than desired).
func (e *Env) WaitSettled(ctx context.Context, timeout time.Duration) error {
	return e.waitView(ctx, "every workload to run its split", timeout, func(v *View) bool {
		if v.Fallback.Replicas > v.Fallback.Kept {
			return false
		}
		extra := int32(0)
		for _, w := range v.Work {
			if w.Pending > 0 || w.Observed.Total() != w.Desired.Total() || w.Observed.OnDemand < w.Desired.OnDemand {
				return false
			}
			extra += w.Observed.OnDemand - w.Desired.OnDemand
		}
		return len(v.Work) > 0 && extra <= v.Fallback.Kept
	})
}

func (e *Env) waitView(ctx context.Context, what string, timeout time.Duration, cond func(*View) bool) error {
	var last *View
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		v, err := e.Snapshot(ctx)
		if err != nil {
			return false, nil
		}
		last = v
		return cond(v), nil
	})
	if err != nil {
		var b strings.Builder
		if last != nil {
			last.Write(&b)
		}
		return fmt.Errorf("waiting for %s: %w\n%s", what, err, b.String())
	}
	return nil
}

// spotOutage is what a Spot outage looks like on EC2: new Spot launches fail with
// InsufficientInstanceCapacity and the Spot nodes running are reclaimed. It waits until
// every replica runs again (the Spot-meant ones On-Demand on fallback), makes Spot
// available again and waits for the return.
func (e *Env) spotOutage(ctx context.Context, t *Timeline) error {
	t.log("waiting for the workloads to run their split")
	if err := e.WaitSettled(ctx, 5*time.Minute); err != nil {
		return err
	}
	t.log("Spot capacity runs out in every zone (Karpenter's launches fail: InsufficientInstanceCapacity)")
	if err := e.Kube.SetUnavailable(localcluster.Pool{CapacityType: karpv1.CapacityTypeSpot}); err != nil {
		return err
	}
	defer func() { _ = e.Kube.SetUnavailable() }()
	reclaimed, err := e.reclaimSpot(ctx)
	if err != nil {
		return err
	}
	t.log("EC2 reclaims the %d Spot nodes: Karpenter drains them, their replicas wait for Spot", reclaimed)
	if err := e.waitView(ctx, "the fallback", 5*time.Minute, func(v *View) bool { return v.Fallback.State == string(v1alpha1.FallbackFallenBack) }); err != nil {
		return err
	}
	t.log("fell back: replicas meant for Spot run On-Demand (reason fallback)")
	if err := e.waitView(ctx, "every replica running during the outage", 5*time.Minute, func(v *View) bool {
		for _, w := range v.Work {
			if w.Pending > 0 || w.Observed.Total() != w.Replicas {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	v, _ := e.Snapshot(ctx)
	t.log("every replica runs: %d on fallback; $%.0f/month, saving $%.0f", v.Fallback.Replicas, v.Cost.ActualMonthly, v.Cost.SavingsMonthly)
	t.log("Spot capacity is back")
	if err := e.Kube.SetUnavailable(); err != nil {
		return err
	}
	// Returning, or straight to Available when nothing was left on fallback to move.
	if err := e.waitView(ctx, "the return to Spot", 10*time.Minute, func(v *View) bool {
		return v.Fallback.State == string(v1alpha1.FallbackReturning) || (v.Fallback.State == string(v1alpha1.FallbackAvailable) && v.Fallback.Replicas == 0)
	}); err != nil {
		return err
	}
	t.log("returning to Spot, a few replicas per pass")
	if err := e.WaitSettled(ctx, 10*time.Minute); err != nil {
		return err
	}
	v, _ = e.Snapshot(ctx)
	if v.Fallback.Kept > 0 {
		t.log("back on Spot but %d replicas that keep nodes covering the policy's commitments busy (prepaid On-Demand); $%.0f/month, saving $%.0f (%.0f%%)",
			v.Fallback.Kept, v.Cost.ActualMonthly, v.Cost.SavingsMonthly, v.Cost.SavingsPercent)
		return nil
	}
	t.log("back on Spot: every split exact; $%.0f/month, saving $%.0f (%.0f%%)", v.Cost.ActualMonthly, v.Cost.SavingsMonthly, v.Cost.SavingsPercent)
	return nil
}

// reclaimSpot deletes the NodeClaims of every Spot node, as EC2 reclaiming them would
// make Karpenter do, and returns how many.
func (e *Env) reclaimSpot(ctx context.Context) (int, error) {
	var claims karpv1.NodeClaimList
	if err := e.Kube.Client.List(ctx, &claims, client.MatchingLabels{karpv1.CapacityTypeLabelKey: karpv1.CapacityTypeSpot}); err != nil {
		return 0, err
	}
	n := 0
	for i := range claims.Items {
		if err := e.Kube.Client.Delete(ctx, &claims.Items[i]); client.IgnoreNotFound(err) != nil {
			return n, fmt.Errorf("failed to reclaim %s: %w", claims.Items[i].Name, err)
		}
		n++
	}
	return n, nil
}

// scale doubles every workload, then scales it back.
func (e *Env) scale(ctx context.Context, t *Timeline) error {
	if err := e.WaitSettled(ctx, 5*time.Minute); err != nil {
		return err
	}
	for _, w := range e.Workloads {
		if err := e.setReplicas(ctx, w.Namespace, w.Name, 2*w.Replicas); err != nil {
			return err
		}
	}
	t.log("scaled every workload to twice its replicas")
	if err := e.WaitSettled(ctx, 5*time.Minute); err != nil {
		return err
	}
	v, _ := e.Snapshot(ctx)
	t.log("every split exact at twice the replicas; %d nodes, $%.0f/month", nodeCount(v), v.Cost.ActualMonthly)
	for _, w := range e.Workloads {
		if err := e.setReplicas(ctx, w.Namespace, w.Name, w.Replicas); err != nil {
			return err
		}
	}
	t.log("scaled back")
	if err := e.WaitSettled(ctx, 5*time.Minute); err != nil {
		return err
	}
	v, _ = e.Snapshot(ctx)
	t.log("every split exact again; %d nodes (Karpenter consolidates the rest), $%.0f/month", nodeCount(v), v.Cost.ActualMonthly)
	return nil
}

var onDemandPercent = regexp.MustCompile(`(?m)^(  distribution:\n(?:    .*\n)*?    onDemandPercent: )([0-9]+)`)

// policyChange raises the cluster default's onDemandPercent by 30 points in the
// repository, pushes, and waits until the controller applied the commit (and, on
// Gitea, set its commit status on it), the splits converged, and the status file on
// the status branch names the commit.
func (e *Env) policyChange(ctx context.Context, t *Timeline) error {
	if err := e.WaitSettled(ctx, 5*time.Minute); err != nil {
		return err
	}
	data, err := e.Repo.File(e.PolicyFile)
	if err != nil {
		return err
	}
	m := onDemandPercent.FindStringSubmatch(data)
	if m == nil {
		return fmt.Errorf("%s has no spec.distribution.onDemandPercent to change", e.PolicyFile)
	}
	before, _ := strconv.Atoi(m[2])
	after := min(before+30, 100)
	if after == before {
		after = max(before-30, 0)
	}
	changed := onDemandPercent.ReplaceAllString(data, "${1}"+strconv.Itoa(after))
	commit, err := e.Repo.Commit(fmt.Sprintf("%s: cluster default onDemandPercent %d -> %d", e.Cluster, before, after), map[string]string{e.PolicyFile: changed})
	if err != nil {
		return err
	}
	t.log("pushed %s: the cluster default's onDemandPercent %d%% -> %d%%", commit[:12], before, after)
	if err := e.RequestSync(ctx); err != nil {
		return err
	}
	if err := e.waitView(ctx, "the commit to be applied", 3*time.Minute, func(v *View) bool { return strings.HasSuffix(v.Revision, commit) }); err != nil {
		return err
	}
	t.log("ballast controller applied %s", commit[:12])
	if e.Gitea != nil {
		description, err := e.waitCommitStatus(ctx, commit, 2*time.Minute)
		if err != nil {
			return err
		}
		t.log("commit status %s: success on %s (%s)", e.statusContext(), commit[:12], description)
	}
	if err := e.WaitSettled(ctx, 5*time.Minute); err != nil {
		return err
	}
	t.log("every split converged on the new percentage")
	err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(context.Context) (bool, error) {
		return strings.Contains(e.Repo.Read("ballast-status", "status/"+e.Cluster+".yaml"), commit), nil
	})
	if err != nil {
		return fmt.Errorf("the status file on ballast-status does not name %s: %w", commit, err)
	}
	t.log("status/%s.yaml on branch ballast-status names the commit, with each workload's split", e.Cluster)
	savings, err := e.statusFileSavings(ctx)
	if err != nil {
		return err
	}
	t.log("the status file holds the cluster's cost: $%s/month potential, $%s actual, $%s saved (%d%% of replicas on Spot)",
		savings.MonthlyPotential, savings.MonthlyActual, savings.MonthlySavings, savings.SpotPercent)
	return nil
}

// fileSavings is the savings part of the status file.
type fileSavings struct {
	MonthlyPotential, MonthlyActual, MonthlySavings, SpotSavings, CommitmentSavings string
	SpotPercent                                                                     int32
}

// statusFileSavings reads the savings from the status file and checks them: they add
// up, and they are those of the ClusterPolicy's status.cost, or within what the status
// file holds back as immaterial (5% and $10 a month).
func (e *Env) statusFileSavings(ctx context.Context) (*fileSavings, error) {
	var file struct {
		Runtime struct {
			Savings *fileSavings `json:"savings"`
		} `json:"runtime"`
	}
	var last string
	// A material change of the savings after the commit's own status was written waits
	// for the minimum interval since that write.
	err := wait.PollUntilContextTimeout(ctx, time.Second, statusFileMinInterval+2*time.Minute, true, func(ctx context.Context) (bool, error) {
		data := e.Repo.Read("ballast-status", "status/"+e.Cluster+".yaml")
		if err := yaml.Unmarshal([]byte(data), &file); err != nil || file.Runtime.Savings == nil {
			last = "no runtime.savings in the status file"
			return false, nil
		}
		var policies v1alpha1.ClusterPolicyList
		if err := e.Kube.Client.List(ctx, &policies); err != nil {
			return false, err
		}
		for _, p := range policies.Items {
			if p.Spec.Cluster.Name != e.Cluster || p.Status.Cost == nil {
				continue
			}
			s, c := file.Runtime.Savings, p.Status.Cost
			if msg := savingsAgree(s, c); msg != "" {
				last = msg
				return false, nil
			}
			return true, nil
		}
		last = "no status.cost on the ClusterPolicy"
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("the status file's savings: %s: %w", last, err)
	}
	return file.Runtime.Savings, nil
}

// savingsAgree says how the status file's savings disagree with status.cost, or "".
func savingsAgree(s *fileSavings, c *v1alpha1.CostStatus) string {
	cents := func(v string) int64 {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return -1 << 40
		}
		return int64(f*100 + 0.5)
	}
	if cents(s.MonthlyPotential)-cents(s.MonthlyActual) != cents(s.MonthlySavings) || cents(s.SpotSavings)+cents(s.CommitmentSavings) != cents(s.MonthlySavings) {
		return fmt.Sprintf("the file's figures do not add up: %+v", *s)
	}
	for _, pair := range [][2]string{{s.MonthlyPotential, c.MonthlyPotential}, {s.MonthlyActual, c.MonthlyActual}, {s.MonthlySavings, c.MonthlySavings}} {
		a, b := cents(pair[0]), cents(pair[1])
		diff := max(a-b, b-a)
		if diff > 1000 && diff*20 > max(a, b) {
			return fmt.Sprintf("the file says %s, status.cost %s", pair[0], pair[1])
		}
	}
	return ""
}

// RequestSync asks the PolicySource to sync now (reconcile.fluxcd.io/requestedAt).
func (e *Env) RequestSync(ctx context.Context) error {
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":%q}}}`, time.Now().Format(time.RFC3339Nano)))
	ps := &v1alpha1.PolicySource{}
	ps.Namespace, ps.Name = localcluster.BallastNamespace, SourceName
	return e.Kube.Client.Patch(ctx, ps, patch)
}

func (e *Env) setReplicas(ctx context.Context, ns, name string, replicas int32) error {
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas))
	d := &appsv1.Deployment{}
	d.Namespace, d.Name = ns, name
	return e.Kube.Client.Patch(ctx, d, patch)
}

func nodeCount(v *View) int {
	n := 0
	for _, g := range v.Nodes {
		n += g.Count
	}
	return n
}
