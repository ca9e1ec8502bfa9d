package render

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// NodePool weights. Karpenter tries the pool with the highest weight first among the
// pools a pod fits. Ballast pins every pod it places to one capacity type, so weights
// only order pools for pods that fit several.
const (
	// OnDemandWeight is the weight of ballast-<cluster>-on-demand, the lowest: the pool
	// of last resort.
	OnDemandWeight int32 = 10
	// SpotWeight is the weight of ballast-<cluster>-spot: a pod that tolerates the Spot
	// taint and selects no capacity type goes to Spot before On-Demand.
	SpotWeight int32 = 50
	// CommittedWeight is the weight of the commitments controller's
	// ballast-<cluster>-committed pool, the highest, so that On-Demand capacity fills
	// unused Reserved Instances and Savings Plans before anything else is bought.
	CommittedWeight int32 = 100
)

const nodePoolAPIVersion = "karpenter.sh/v1"

// budgetDuration is the pattern of a Karpenter budget duration: whole minutes or hours.
var budgetDuration = regexp.MustCompile(`^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$`)

// NodePoolName is the name of the NodePool rendered for a cluster and a capacity type
// ("spot", "on-demand", or "committed" for the commitments controller's pool).
func NodePoolName(cluster, capacityType string) string {
	return v1alpha1.SupplyNodePoolName(cluster, capacityType)
}

// poolSettings is what every NodePool of a cluster shares.
type poolSettings struct {
	policy      *v1alpha1.ClusterPolicy
	labels      map[string]string
	annotations map[string]string
	windows     []karpv1.Budget
	target      Target
}

// nodePool renders the NodePool of one capacity type. Every call builds fresh values,
// so that no two rendered objects share a map or a slice.
func nodePool(s poolSettings, capacityType string) (*karpv1.NodePool, error) {
	p := s.policy
	reqs, err := requirements(p.Spec.Instances, capacityType)
	if err != nil {
		return nil, fmt.Errorf("spec.instances: %w", err)
	}
	dis, err := disruption(p.Spec.BinPacking, s.windows)
	if err != nil {
		return nil, fmt.Errorf("spec.binPacking: %w", err)
	}
	expire, err := expireAfter(p.Spec.BinPacking.ExpireAfter)
	if err != nil {
		return nil, fmt.Errorf("spec.binPacking.expireAfter: %w", err)
	}
	np := &karpv1.NodePool{
		TypeMeta: metav1.TypeMeta{APIVersion: nodePoolAPIVersion, Kind: "NodePool"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodePoolName(p.Spec.Cluster.Name, capacityType),
			Labels:      cloneMap(s.labels),
			Annotations: cloneMap(s.annotations),
		},
		Spec: karpv1.NodePoolSpec{
			Template: karpv1.NodeClaimTemplate{
				ObjectMeta: karpv1.ObjectMeta{Labels: map[string]string{v1alpha1.CapacityLabel: capacityType}},
				Spec: karpv1.NodeClaimTemplateSpec{
					Requirements: reqs,
					NodeClassRef: &karpv1.NodeClassReference{
						Group: nodeClassGroup,
						Kind:  nodeClassKind,
						Name:  NodeClassName(p.Spec.Cluster.Name),
					},
					ExpireAfter: expire,
				},
			},
			Disruption: dis,
			// No limits: the cluster's limits are a total across its NodePools, which
			// the limits controller keeps by owning spec.limits (see controllers/limits).
		},
	}
	if s.target == TargetKwok {
		np.Spec.Template.Spec.NodeClassRef.Group, np.Spec.Template.Spec.NodeClassRef.Kind = kwokNodeClassGroup, kwokNodeClassKind
		np.Spec.Template.Spec.Requirements = kwokRequirements(reqs, p.Spec.Cluster.Region)
	}
	switch capacityType {
	case v1alpha1.CapacitySpot:
		np.Spec.Weight = ptr.To(SpotWeight)
		// Nothing lands on Spot unless Ballast placed it there with the toleration.
		np.Spec.Template.Spec.Taints = []corev1.Taint{{
			Key:    v1alpha1.CapacityTaintKey,
			Value:  v1alpha1.CapacitySpot,
			Effect: corev1.TaintEffectNoSchedule,
		}}
	case v1alpha1.CapacityOnDemand:
		np.Spec.Weight = ptr.To(OnDemandWeight)
	default:
		return nil, fmt.Errorf("unknown capacity type %q", capacityType)
	}
	return np, nil
}

// requirements turns the instance supply into NodePool requirements, sorted by key and
// operator. Ballast's ranges are inclusive; Karpenter's Gt and Lt are strict, so
// min becomes Gt min-1 and max becomes Lt max+1.
func requirements(in v1alpha1.InstancesSpec, capacityType string) ([]karpv1.NodeSelectorRequirementWithMinValues, error) {
	var reqs []karpv1.NodeSelectorRequirementWithMinValues
	add := func(key string, op corev1.NodeSelectorOperator, values ...string) {
		reqs = append(reqs, karpv1.NodeSelectorRequirementWithMinValues{Key: key, Operator: op, Values: values})
	}
	addSet := func(key string, op corev1.NodeSelectorOperator, values []string) error {
		if len(values) == 0 {
			return nil
		}
		vs := sortedSet(values)
		for _, v := range vs {
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				return fmt.Errorf("%q cannot be matched against %s: %s", v, key, strings.Join(errs, "; "))
			}
		}
		add(key, op, vs...)
		return nil
	}
	add(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, capacityType)
	if err := addSet(awsv1.LabelInstanceCategory, corev1.NodeSelectorOpIn, in.Categories); err != nil {
		return nil, err
	}
	if err := addSet(awsv1.LabelInstanceFamily, corev1.NodeSelectorOpIn, in.Families); err != nil {
		return nil, err
	}
	if g := in.MinGeneration; g != nil {
		if *g < 1 {
			return nil, fmt.Errorf("minGeneration %d is below 1", *g)
		}
		add(awsv1.LabelInstanceGeneration, corev1.NodeSelectorOpGt, strconv.Itoa(int(*g)-1))
	}
	if err := addSet(corev1.LabelArchStable, corev1.NodeSelectorOpIn, in.Architectures); err != nil {
		return nil, err
	}
	if c := in.CPU; c != nil {
		lo, hi := int64(0), int64(-1)
		if c.Min != nil {
			lo = int64(*c.Min)
		}
		if c.Max != nil {
			hi = int64(*c.Max)
		}
		if err := addRange(add, awsv1.LabelInstanceCPU, lo, hi); err != nil {
			return nil, fmt.Errorf("cpu: %w", err)
		}
	}
	if m := in.Memory; m != nil {
		lo, hi := int64(0), int64(-1)
		if m.Min != nil {
			lo = mebibytes(*m.Min, true)
		}
		if m.Max != nil {
			hi = mebibytes(*m.Max, false)
		}
		if err := addRange(add, awsv1.LabelInstanceMemory, lo, hi); err != nil {
			return nil, fmt.Errorf("memory (in MiB): %w", err)
		}
	}
	if err := addSet(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, in.Zones); err != nil {
		return nil, err
	}
	// An include list wins: what it lists minus what is excluded. Karpenter would
	// intersect two requirements on one key as well; one requirement reads better.
	switch {
	case len(in.Include) > 0:
		include := slices.DeleteFunc(sortedSet(in.Include), func(t string) bool { return slices.Contains(in.Exclude, t) })
		if len(include) == 0 {
			return nil, fmt.Errorf("every instance type of include is also in exclude")
		}
		if err := addSet(corev1.LabelInstanceTypeStable, corev1.NodeSelectorOpIn, include); err != nil {
			return nil, err
		}
	case len(in.Exclude) > 0:
		if err := addSet(corev1.LabelInstanceTypeStable, corev1.NodeSelectorOpNotIn, in.Exclude); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(reqs, func(a, b karpv1.NodeSelectorRequirementWithMinValues) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Operator, b.Operator))
	})
	return reqs, nil
}

// addRange adds the requirements of the inclusive range [lo, hi]; lo 0 is no lower
// bound and hi -1 no upper bound.
func addRange(add func(string, corev1.NodeSelectorOperator, ...string), key string, lo, hi int64) error {
	if lo < 0 {
		return fmt.Errorf("minimum %d is negative", lo)
	}
	if hi >= 0 && lo > hi {
		return fmt.Errorf("minimum %d is above maximum %d", lo, hi)
	}
	if lo > 0 {
		add(key, corev1.NodeSelectorOpGt, strconv.FormatInt(lo-1, 10))
	}
	if hi >= 0 {
		add(key, corev1.NodeSelectorOpLt, strconv.FormatInt(hi+1, 10))
	}
	return nil
}

// mebibytes converts a memory size to whole MiB, the unit of karpenter.k8s.aws/instance-memory:
// rounded up for a lower bound, down for an upper bound, so the range never widens.
func mebibytes(q resource.Quantity, roundUp bool) int64 {
	const mib = int64(1) << 20
	b := q.Value()
	if roundUp {
		return (b + mib - 1) / mib
	}
	return b / mib
}

// sortedSet returns the values sorted, without duplicates, as a new slice.
func sortedSet(values []string) []string {
	out := slices.Clone(values)
	slices.Sort(out)
	return slices.Compact(out)
}

// disruption renders consolidation settings and budgets: the user's budgets first, then
// those compiled from maintenance windows.
func disruption(b v1alpha1.BinPackingSpec, windows []karpv1.Budget) (karpv1.Disruption, error) {
	policy := b.ConsolidationPolicy
	if policy == "" {
		policy = v1alpha1.DefaultConsolidationPolicy
	}
	after := b.ConsolidateAfter
	if after == "" {
		after = v1alpha1.DefaultConsolidateAfter
	}
	d, err := after.Parse()
	if err != nil {
		return karpv1.Disruption{}, fmt.Errorf("consolidateAfter: %w", err)
	}
	out := karpv1.Disruption{
		ConsolidationPolicy: karpv1.ConsolidationPolicy(policy),
		ConsolidateAfter:    karpv1.NillableDuration{Duration: &d},
	}
	for i, ub := range b.DisruptionBudgets {
		kb, err := budget(ub)
		if err != nil {
			return karpv1.Disruption{}, fmt.Errorf("disruptionBudgets[%d]: %w", i, err)
		}
		out.Budgets = append(out.Budgets, kb)
	}
	for _, w := range windows {
		out.Budgets = append(out.Budgets, *w.DeepCopy())
	}
	if err := budgetCount(out.Budgets); err != nil {
		return karpv1.Disruption{}, err
	}
	return out, nil
}

// budgetCount refuses more disruption budgets than a Karpenter NodePool takes.
func budgetCount(budgets []karpv1.Budget) error {
	if n := len(budgets); n > 50 {
		return fmt.Errorf("%d disruption budgets (with those compiled from maintenance windows) are more than Karpenter's 50: merge windows or budgets", n)
	}
	return nil
}

// budget converts one of the user's budgets. Karpenter reads its schedule in UTC and
// accepts only whole minutes as duration; days become hours.
func budget(b v1alpha1.DisruptionBudget) (karpv1.Budget, error) {
	out := karpv1.Budget{Nodes: b.Nodes}
	if out.Nodes == "" {
		out.Nodes = v1alpha1.DefaultDisruptionNodes
	}
	if len(b.Reasons) > 0 {
		for _, r := range b.Reasons {
			out.Reasons = append(out.Reasons, karpv1.DisruptionReason(r))
		}
		slices.Sort(out.Reasons)
		out.Reasons = slices.Compact(out.Reasons)
	}
	switch {
	case b.Schedule == "" && b.Duration == "":
		return out, nil
	case b.Schedule == "" || b.Duration == "":
		return karpv1.Budget{}, fmt.Errorf("set schedule and duration together")
	}
	if _, err := cron.ParseStandard("TZ=UTC " + b.Schedule); err != nil {
		return karpv1.Budget{}, fmt.Errorf("schedule %q is not a cron expression: %w", b.Schedule, err)
	}
	d, err := b.Duration.Parse()
	if err != nil {
		return karpv1.Budget{}, fmt.Errorf("duration: %w", err)
	}
	md := metav1.Duration{Duration: d}
	if !budgetDuration.MatchString(md.Duration.String()) {
		return karpv1.Budget{}, fmt.Errorf("duration %q must be a positive whole number of minutes", b.Duration)
	}
	out.Schedule = ptr.To(b.Schedule)
	out.Duration = &md
	return out, nil
}

// expireAfter converts a node lifetime: "Never" stays, days become hours.
func expireAfter(s string) (karpv1.NillableDuration, error) {
	switch s {
	case karpv1.Never:
		return karpv1.NillableDuration{}, nil
	case "":
		s = v1alpha1.DefaultExpireAfter
	}
	d, err := v1alpha1.Duration(s).Parse()
	if err != nil {
		return karpv1.NillableDuration{}, err
	}
	if d <= 0 {
		return karpv1.NillableDuration{}, fmt.Errorf("%q is not a positive duration", s)
	}
	return karpv1.NillableDuration{Duration: &d}, nil
}
