package source

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/redact"
)

// When the status file is written. A status commit per runtime change would commit
// every minute (a savings figure moves with every price and every node), so only a
// material change is written, and no sooner than the minimum interval after the last
// status commit; smaller changes ride along with the next commit.
const (
	// DefaultStatusFileMinInterval is statusFile.minInterval when unset.
	DefaultStatusFileMinInterval = 5 * time.Minute
	// materialDollars and materialFraction: a money figure is material when it moved
	// by more than both, $10 a month and 5% of the value last written, so that neither
	// cents on a small cluster nor noise on a large one make commits.
	materialDollars  = 10.0
	materialFraction = 0.05
	// materialSpotPoints: the Spot share is material when it moved by this many
	// percentage points.
	materialSpotPoints = 5
	// maxFailureMessage bounds the failure message in the file.
	maxFailureMessage = 1024
)

// StatusFile is the content of status/<cluster>.yaml.
type StatusFile struct {
	Cluster string `json:"cluster"`
	// Source is the PolicySource, namespace/name.
	Source string `json:"source"`
	// AppliedRevision is the revision last applied; "" until one is.
	AppliedRevision string `json:"appliedRevision"`
	// AppliedAt is when Ballast first reported AppliedRevision applied.
	AppliedAt string `json:"appliedAt,omitempty"`
	// Objects is how many objects the source applied.
	Objects int `json:"objects"`
	// Findings are the validation findings of AppliedRevision.
	Findings []v1alpha1.PolicyFinding `json:"findings,omitempty"`
	// Failure is why the last sync failed, while the source fails; the last good
	// revision stays applied.
	Failure *SyncFailure `json:"failure,omitempty"`
	// UpdatedAt is when this content was committed: how fresh the runtime figures are.
	UpdatedAt string `json:"updatedAt,omitempty"`
	// Runtime holds what the runtime controllers observed.
	Runtime *RuntimeStatus `json:"runtime,omitempty"`
}

// SyncFailure is a failed sync in the status file.
type SyncFailure struct {
	// Revision is the revision that failed; empty when it could not be fetched.
	Revision string `json:"revision,omitempty"`
	// Reason and Message are those of the PolicySource's Ready condition.
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
	// Findings are the validation findings of Revision.
	Findings []v1alpha1.PolicyFinding `json:"findings,omitempty"`
}

// RuntimeStatus is the runtime part of the status file. It leaves out what changes
// on every pass (messages, timestamps of the last observation), except bin-packing's
// last pass and message, which ride along with commits and never make one.
type RuntimeStatus struct {
	// Fallback is where Spot capacity stands.
	Fallback *RuntimeFallback `json:"fallback,omitempty"`
	// Workloads is the desired and realised split of each workload, sorted.
	Workloads []RuntimeWorkload `json:"workloads,omitempty"`
	// Savings is what the nodes cost against the same nodes all On-Demand.
	Savings *RuntimeSavings `json:"savings,omitempty"`
	// Commitments is what is known of the Reserved Instances and Savings Plans.
	Commitments *RuntimeCommitments `json:"commitments,omitempty"`
	// BinPacking is what utilisation bin-packing did last (podEviction enabled).
	BinPacking *RuntimeBinPacking `json:"binPacking,omitempty"`
}

// RuntimeFallback is the fallback state in the status file.
type RuntimeFallback struct {
	State             v1alpha1.FallbackState      `json:"state"`
	Since             string                      `json:"since,omitempty"`
	NextReturnAttempt string                      `json:"nextReturnAttempt,omitempty"`
	FailedReturns     int32                       `json:"failedReturns,omitempty"`
	Replicas          int32                       `json:"replicas,omitempty"`
	Workloads         []v1alpha1.FallbackWorkload `json:"workloads,omitempty"`
}

// RuntimeWorkload is one workload's split in the status file.
type RuntimeWorkload struct {
	Kind      string                   `json:"kind"`
	Namespace string                   `json:"namespace"`
	Name      string                   `json:"name"`
	Replicas  int32                    `json:"replicas"`
	Desired   v1alpha1.PlacementCounts `json:"desired"`
	Observed  v1alpha1.PlacementCounts `json:"observed"`
}

// RuntimeSavings is the ClusterPolicy's status.cost in the status file, in USD per
// month with the strings the status holds.
type RuntimeSavings struct {
	// Prices is the price source: aws or catalogue.
	Prices            string `json:"prices"`
	MonthlyPotential  string `json:"monthlyPotential"`
	MonthlyActual     string `json:"monthlyActual"`
	MonthlySavings    string `json:"monthlySavings"`
	SpotSavings       string `json:"spotSavings"`
	CommitmentSavings string `json:"commitmentSavings"`
	// SpotPercent is the share of the workload replicas running on Spot.
	SpotPercent  int32 `json:"spotPercent"`
	Nodes        int32 `json:"nodes"`
	SpotNodes    int32 `json:"spotNodes"`
	Replicas     int32 `json:"replicas"`
	SpotReplicas int32 `json:"spotReplicas"`
}

// RuntimeCommitments is what the status file says of commitments.
type RuntimeCommitments struct {
	// MonthlyUnused is commitment paid for and left unused (status.cost).
	MonthlyUnused string `json:"monthlyUnused,omitempty"`
	// MonthlyUsed is the commitment the cluster's nodes use. No controller reports it
	// yet: the commitments controller will fill it; until then it stays absent rather
	// than guessed.
	MonthlyUsed string `json:"monthlyUsed,omitempty"`
	// ReservedInstances and SavingsPlans are each commitment's utilisation, from the
	// ClusterPolicy's status.commitments (commitments enabled).
	ReservedInstances []RuntimeReserved    `json:"reservedInstances,omitempty"`
	SavingsPlans      []RuntimeSavingsPlan `json:"savingsPlans,omitempty"`
}

// RuntimeReserved is the Reserved Instances of one type and zone: how many are
// committed, used by the running On-Demand nodes and left unused (in instances of the
// type, within maxUtilizationPercent).
type RuntimeReserved struct {
	InstanceType string `json:"instanceType"`
	Zone         string `json:"zone,omitempty"`
	Committed    int32  `json:"committed"`
	Used         int32  `json:"used"`
	Unused       int32  `json:"unused"`
}

// RuntimeSavingsPlan is one Savings Plan, in USD per hour: the commitment the cluster
// may use, what the running On-Demand nodes spend of it, and the rest.
type RuntimeSavingsPlan struct {
	Type             v1alpha1.SavingsPlanType `json:"type"`
	Family           string                   `json:"family,omitempty"`
	CommittedPerHour string                   `json:"committedPerHour"`
	UsedPerHour      string                   `json:"usedPerHour"`
	UnusedPerHour    string                   `json:"unusedPerHour,omitempty"`
}

// RuntimeBinPacking is the ClusterPolicy's status.binPacking in the status file.
type RuntimeBinPacking struct {
	// LastPass is when bin-packing last looked at the nodes.
	LastPass string `json:"lastPass,omitempty"`
	// Draining are the nodes being emptied.
	Draining []string `json:"draining,omitempty"`
	// Evicted is how many pods the last pass evicted, LastEviction when the last was.
	Evicted      int32  `json:"evicted,omitempty"`
	LastEviction string `json:"lastEviction,omitempty"`
	// PausedUntil: a replacement went Pending, so bin-packing waits.
	PausedUntil string `json:"pausedUntil,omitempty"`
	// Message says what the last pass did, what blocked it (a PodDisruptionBudget, no
	// room) and which nodes it kept for a commitment.
	Message string `json:"message,omitempty"`
}

// statusFileOf is the part of the status file the PolicySource's status says; nil
// when it says nothing yet (never synced).
func statusFileOf(src *v1alpha1.PolicySource) *StatusFile {
	st := src.Status
	w := wrap(src)
	failed := conditions.IsFalse(w, meta.ReadyCondition)
	if st.LastAppliedRevision == "" && !failed {
		return nil
	}
	f := &StatusFile{Cluster: src.Spec.Cluster, Source: src.Namespace + "/" + src.Name, AppliedRevision: st.LastAppliedRevision}
	if st.Inventory != nil {
		f.Objects = len(st.Inventory.Entries)
	}
	// status.findings are those of the last revision validated.
	ownFindings := st.LastAttemptedRevision == st.LastAppliedRevision
	if ownFindings {
		f.Findings = st.Findings
	}
	if failed {
		ready := conditions.Get(w, meta.ReadyCondition)
		f.Failure = &SyncFailure{Reason: ready.Reason, Message: truncate(redact.String(ready.Message), maxFailureMessage)}
		if !conditions.IsFalse(w, SourceReadyCondition) {
			f.Failure.Revision = st.LastAttemptedRevision
		}
		if !ownFindings {
			f.Failure.Findings = st.Findings
		}
	}
	return f
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// runtimeStatus gathers the runtime figures of the cluster from the ClusterPolicy and
// the rules of the cluster; nil when there is nothing to say or they cannot be read.
func runtimeStatus(ctx context.Context, c client.Reader, cluster string) *RuntimeStatus {
	var policies v1alpha1.ClusterPolicyList
	if err := c.List(ctx, &policies); err != nil {
		return nil
	}
	out := &RuntimeStatus{}
	var placements []v1alpha1.WorkloadPlacement
	for _, p := range policies.Items {
		if p.Spec.Cluster.Name != cluster {
			continue
		}
		placements = append(placements, p.Status.Workloads...)
		if f := p.Status.Fallback; f != nil {
			out.Fallback = runtimeFallback(f)
		}
		out.Commitments = nil
		if cs := p.Status.Cost; cs != nil {
			out.Savings = &RuntimeSavings{
				Prices: cs.Prices, MonthlyPotential: cs.MonthlyPotential, MonthlyActual: cs.MonthlyActual,
				MonthlySavings: cs.MonthlySavings, SpotSavings: cs.SpotSavings, CommitmentSavings: cs.CommitmentSavings,
				SpotPercent: cs.SpotPercent, Nodes: cs.Nodes, SpotNodes: cs.SpotNodes, Replicas: cs.Replicas, SpotReplicas: cs.SpotReplicas,
			}
			if cs.MonthlyUnusedCommitment != "" {
				out.Commitments = &RuntimeCommitments{MonthlyUnused: cs.MonthlyUnusedCommitment}
			}
		}
		if c := p.Spec.Commitments; c != nil && c.Enabled && p.Status.Commitments != nil {
			if out.Commitments == nil {
				out.Commitments = &RuntimeCommitments{}
			}
			out.Commitments.ReservedInstances, out.Commitments.SavingsPlans = runtimeCommitments(p.Status.Commitments)
		}
		out.BinPacking = nil
		if pe := p.Spec.BinPacking.PodEviction; pe != nil && pe.Enabled && p.Status.BinPacking != nil {
			out.BinPacking = runtimeBinPacking(p.Status.BinPacking)
		}
	}
	var rules v1alpha1.WorkloadDistributionRuleList
	if err := c.List(ctx, &rules); err == nil {
		for _, r := range rules.Items {
			if len(r.Spec.Clusters) == 0 || slices.Contains(r.Spec.Clusters, cluster) {
				placements = append(placements, r.Status.Workloads...)
			}
		}
	}
	for _, w := range placements {
		out.Workloads = append(out.Workloads, RuntimeWorkload{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name,
			Replicas: w.Replicas, Desired: w.Desired, Observed: w.Observed})
	}
	slices.SortFunc(out.Workloads, func(a, b RuntimeWorkload) int { return strings.Compare(workloadKey(a), workloadKey(b)) })
	if reflect.DeepEqual(out, &RuntimeStatus{}) {
		return nil
	}
	return out
}

func runtimeFallback(f *v1alpha1.FallbackStatus) *RuntimeFallback {
	rf := &RuntimeFallback{State: f.State, FailedReturns: f.FailedReturns, Replicas: f.Replicas, Workloads: f.Workloads}
	switch {
	case f.FallenBackSince != nil && f.State != v1alpha1.FallbackAvailable:
		rf.Since = f.FallenBackSince.UTC().Format(time.RFC3339)
	case f.ShortSince != nil && f.State == v1alpha1.FallbackShort:
		rf.Since = f.ShortSince.UTC().Format(time.RFC3339)
	}
	if f.NextReturnAttempt != nil && f.State == v1alpha1.FallbackFallenBack {
		rf.NextReturnAttempt = f.NextReturnAttempt.UTC().Format(time.RFC3339)
	}
	return rf
}

// runtimeCommitments is each commitment's utilisation in the status file.
func runtimeCommitments(c *v1alpha1.CommitmentsStatus) ([]RuntimeReserved, []RuntimeSavingsPlan) {
	var ris []RuntimeReserved
	for _, ri := range c.ReservedInstances {
		ris = append(ris, RuntimeReserved{InstanceType: ri.InstanceType, Zone: ri.Zone, Committed: ri.Committed, Used: ri.Used, Unused: ri.Unused})
	}
	var sps []RuntimeSavingsPlan
	for _, sp := range c.SavingsPlans {
		r := RuntimeSavingsPlan{Type: sp.Type, Family: sp.Family, CommittedPerHour: sp.CommittedPerHour, UsedPerHour: sp.UsedPerHour}
		committed, errC := strconv.ParseFloat(sp.CommittedPerHour, 64)
		used, errU := strconv.ParseFloat(sp.UsedPerHour, 64)
		if errC == nil && errU == nil {
			r.UnusedPerHour = strconv.FormatFloat(max(committed-used, 0), 'f', 4, 64)
		}
		sps = append(sps, r)
	}
	return ris, sps
}

func runtimeBinPacking(b *v1alpha1.BinPackingStatus) *RuntimeBinPacking {
	rb := &RuntimeBinPacking{Draining: b.Draining, Evicted: b.Evicted, Message: b.Message}
	if !b.LastPass.IsZero() {
		rb.LastPass = b.LastPass.UTC().Format(time.RFC3339)
	}
	if b.LastEviction != nil {
		rb.LastEviction = b.LastEviction.UTC().Format(time.RFC3339)
	}
	if b.PausedUntil != nil {
		rb.PausedUntil = b.PausedUntil.UTC().Format(time.RFC3339)
	}
	return rb
}

func workloadKey(w RuntimeWorkload) string { return w.Namespace + "/" + w.Kind + "/" + w.Name }

// change is how the status file to write differs from the one last written.
type change int

const (
	// unchanged: nothing to write.
	unchanged change = iota
	// minor: the content differs, but not enough for a commit of its own; it rides
	// along with the next commit.
	minor
	// material: written once the minimum interval has passed since the last commit.
	material
	// immediate: written at once.
	immediate
)

// compare classifies how next differs from last (nil: no file yet) and says why, for
// the commit message. AppliedAt and UpdatedAt are not compared.
func compare(last, next *StatusFile) (change, string) {
	switch {
	case last == nil:
		return immediate, "status of " + next.AppliedRevisionOrNone()
	case last.Cluster != next.Cluster || last.Source != next.Source:
		return immediate, "status of " + next.AppliedRevisionOrNone()
	case last.AppliedRevision != next.AppliedRevision:
		return immediate, "applied " + next.AppliedRevisionOrNone()
	case last.Failure != nil && next.Failure == nil:
		return immediate, "sync recovered at " + next.AppliedRevisionOrNone()
	}
	if f := next.Failure; f != nil && (last.Failure == nil || last.Failure.Revision != f.Revision || last.Failure.Reason != f.Reason) {
		what := "sync failed: " + f.Reason
		if f.Revision != "" {
			what += " at " + f.Revision
		}
		return material, what
	}
	if why := runtimeChange(last.Runtime, next.Runtime); why != "" {
		return material, why
	}
	a, b := *last, *next
	a.AppliedAt, a.UpdatedAt, b.AppliedAt, b.UpdatedAt = "", "", "", ""
	if reflect.DeepEqual(a, b) {
		return unchanged, ""
	}
	return minor, ""
}

// AppliedRevisionOrNone names the applied revision, or says there is none.
func (f *StatusFile) AppliedRevisionOrNone() string {
	if f.AppliedRevision == "" {
		return "no applied revision"
	}
	return f.AppliedRevision
}

// runtimeChange says which material runtime change there is between the runtime
// figures last written and the next ones; "" when none.
func runtimeChange(last, next *RuntimeStatus) string {
	if last == nil {
		last = &RuntimeStatus{}
	}
	if next == nil {
		next = &RuntimeStatus{}
	}
	if !reflect.DeepEqual(last.Fallback, next.Fallback) {
		if next.Fallback == nil {
			return "runtime: fallback state gone"
		}
		return "runtime: fallback " + string(next.Fallback.State)
	}
	if why := splitChange(last.Workloads, next.Workloads); why != "" {
		return why
	}
	if why := savingsChange(last.Savings, next.Savings); why != "" {
		return why
	}
	lc, nc := last.Commitments, next.Commitments
	if lc == nil {
		lc = &RuntimeCommitments{}
	}
	if nc == nil {
		nc = &RuntimeCommitments{}
	}
	if moneyMoved(lc.MonthlyUnused, nc.MonthlyUnused) || moneyMoved(lc.MonthlyUsed, nc.MonthlyUsed) {
		return "runtime: commitments"
	}
	if why := commitmentsChange(lc, nc); why != "" {
		return why
	}
	return binPackingChange(last.BinPacking, next.BinPacking)
}

// commitmentsChange names a material change of the commitments' utilisation: a
// commitment appearing or going, a reservation's committed or unused count, a Savings
// Plan's commitment, or its use moving by more than both $10 a month and 5%.
func commitmentsChange(last, next *RuntimeCommitments) string {
	if len(last.ReservedInstances) != len(next.ReservedInstances) || len(last.SavingsPlans) != len(next.SavingsPlans) {
		return "runtime: commitments"
	}
	for i, r := range next.ReservedInstances {
		l := last.ReservedInstances[i]
		if l.InstanceType != r.InstanceType || l.Zone != r.Zone || l.Committed != r.Committed {
			return "runtime: commitments"
		}
		if l.Unused != r.Unused {
			return fmt.Sprintf("runtime: %d reserved %s unused", r.Unused, r.InstanceType)
		}
	}
	for i, sp := range next.SavingsPlans {
		l := last.SavingsPlans[i]
		if l.Type != sp.Type || l.Family != sp.Family || l.CommittedPerHour != sp.CommittedPerHour ||
			moneyMoved(monthly(l.UsedPerHour), monthly(sp.UsedPerHour)) {
			return "runtime: commitments"
		}
	}
	return ""
}

// monthly turns USD per hour into USD per month of 730 hours ("" stays "", a figure
// that is not a number stays as it is).
func monthly(perHour string) string {
	v, err := strconv.ParseFloat(perHour, 64)
	if err != nil {
		return perHour
	}
	return strconv.FormatFloat(v*730, 'f', 2, 64)
}

// binPackingChange names a material change of bin-packing: podEviction turned on or
// off, another node being drained, a pause starting or ending. Its last pass, counts
// and message ride along.
func binPackingChange(last, next *RuntimeBinPacking) string {
	switch {
	case last == nil && next == nil:
		return ""
	case last == nil || next == nil:
		return "runtime: bin-packing"
	case !slices.Equal(last.Draining, next.Draining):
		if len(next.Draining) == 0 {
			return "runtime: bin-packing no longer draining " + strings.Join(last.Draining, ", ")
		}
		return "runtime: bin-packing draining " + strings.Join(next.Draining, ", ")
	case last.PausedUntil != next.PausedUntil:
		if next.PausedUntil == "" {
			return "runtime: bin-packing resumed"
		}
		return "runtime: bin-packing paused until " + next.PausedUntil
	}
	return ""
}

// splitChange names the first workload whose split changed, appeared or went.
func splitChange(last, next []RuntimeWorkload) string {
	byKey := make(map[string]RuntimeWorkload, len(last))
	for _, w := range last {
		byKey[workloadKey(w)] = w
	}
	for _, w := range next {
		old, ok := byKey[workloadKey(w)]
		if !ok || old != w {
			return fmt.Sprintf("runtime: split of %s/%s", w.Namespace, w.Name)
		}
		delete(byKey, workloadKey(w))
	}
	for _, w := range last {
		if _, gone := byKey[workloadKey(w)]; gone {
			return fmt.Sprintf("runtime: %s/%s gone", w.Namespace, w.Name)
		}
	}
	return ""
}

// savingsChange says whether the savings moved materially: the price source, a money
// figure (moneyMoved) or the Spot share by materialSpotPoints.
func savingsChange(last, next *RuntimeSavings) string {
	switch {
	case last == nil && next == nil:
		return ""
	case last == nil || next == nil:
		return "runtime: savings"
	case last.Prices != next.Prices:
		return "runtime: prices from " + next.Prices
	case abs(next.SpotPercent-last.SpotPercent) >= materialSpotPoints:
		return fmt.Sprintf("runtime: Spot share %d%%", next.SpotPercent)
	}
	for _, m := range [][2]string{
		{last.MonthlyPotential, next.MonthlyPotential}, {last.MonthlyActual, next.MonthlyActual},
		{last.MonthlySavings, next.MonthlySavings}, {last.SpotSavings, next.SpotSavings},
		{last.CommitmentSavings, next.CommitmentSavings},
	} {
		if moneyMoved(m[0], m[1]) {
			return "runtime: savings $" + next.MonthlySavings + "/month"
		}
	}
	return ""
}

func abs(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// moneyMoved reports whether a money figure moved by more than materialDollars and
// more than materialFraction of its last value; "" counts as zero, and a figure that
// is not a number is material whenever it differs.
func moneyMoved(last, next string) bool {
	if last == next {
		return false
	}
	a, errA := dollars(last)
	b, errB := dollars(next)
	if errA != nil || errB != nil {
		return true
	}
	d := math.Abs(b - a)
	return d > materialDollars && d > materialFraction*math.Abs(a)
}

func dollars(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseFloat(s, 64)
}

// due says whether a change is written now and, when it is held back, how long until
// it may be: immediate changes at once, material ones once minInterval has passed
// since the last status commit (lastWrite; zero when unknown), others never by
// themselves.
func due(c change, lastWrite, now time.Time, minInterval time.Duration) (bool, time.Duration) {
	switch c {
	case immediate:
		return true, 0
	case material:
		if lastWrite.IsZero() {
			return true, 0
		}
		wait := lastWrite.Add(minInterval).Sub(now)
		if wait <= 0 {
			return true, 0
		}
		// A last write stamped in the future (another clock) waits no longer than one
		// interval.
		return false, min(wait, minInterval)
	default:
		return false, 0
	}
}

// minInterval is statusFile.minInterval, or its default.
func minInterval(sf *v1alpha1.StatusFileSpec) time.Duration {
	if sf.MinInterval != nil && sf.MinInterval.Duration >= 0 {
		return sf.MinInterval.Duration
	}
	return DefaultStatusFileMinInterval
}
