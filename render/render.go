package render

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Input is everything one cluster's objects are rendered from.
type Input struct {
	// Policy is the cluster's policy. Render fills its defaults on a copy; the caller's
	// object is never changed.
	Policy *v1alpha1.ClusterPolicy
	// Rules are the WorkloadDistributionRules that apply to the cluster: each lists the
	// cluster in spec.clusters, or lists no cluster. Their order does not matter.
	Rules []*v1alpha1.WorkloadDistributionRule
	// Source is the value of the ballast.dev/source owner label: the PolicySource's
	// name, or "local" for the command line.
	Source string
	// SourceNamespace is the value of the ballast.dev/source-namespace owner label: the
	// PolicySource's namespace. Empty for the command line, whose objects carry no
	// such label.
	SourceNamespace string
	// Now is the reference time for maintenance windows: their UTC budgets use the
	// offsets their time zones have at Now. It is required; Render never reads the
	// clock itself. A policy that validates without errors renders at any Now from
	// maintenance.From to maintenance.To.
	Now time.Time
	// Target is the cloud to render for: TargetAWS (the default) or TargetKwok.
	Target Target
	// Steering is the runtime state the Spot NodePool is steered by: the live
	// ClusterPolicy's status.interruptions (see Steer). Nil renders the policy alone.
	Steering *v1alpha1.InterruptionsStatus
}

// trackingKeyPrefixes and trackingKeys are the labels and annotations GitOps tools
// use to track what they applied. Rendered objects are applied by Ballast (or by the tool
// running `ballast render`), so a tracking key copied from policy metadata would make
// Argo CD or Flux claim, prune or report objects that are not theirs.
var (
	trackingKeyPrefixes = []string{
		"argocd.argoproj.io/",
		"kustomize.toolkit.fluxcd.io/",
		"helm.toolkit.fluxcd.io/",
	}
	trackingKeys = []string{
		"app.kubernetes.io/instance",
		"kubectl.kubernetes.io/last-applied-configuration",
	}
)

// Render renders the objects of the cluster Input.Policy describes, in this order: the
// EC2NodeClass ballast-<cluster>, the NodePools ballast-<cluster>-on-demand and (when
// Spot is enabled) ballast-<cluster>-spot, the EC2NodeClasses of spec.nodeClasses and
// the NodePools of spec.nodePools in their order, the defaulted ClusterPolicy, and the
// defaulted WorkloadDistributionRules sorted by namespace and name. Every object has
// TypeMeta set and carries the owner labels (see OwnerLabels). The result depends on
// nothing but in; Render does not change in.
func Render(in Input) ([]client.Object, error) {
	if in.Policy == nil {
		return nil, fmt.Errorf("failed to render: no ClusterPolicy")
	}
	if in.Now.IsZero() {
		return nil, fmt.Errorf("failed to render ClusterPolicy %q: no reference time (Input.Now)", in.Policy.Name)
	}
	policy := in.Policy.DeepCopy()
	policy.Default()
	cluster := policy.Spec.Cluster.Name
	if err := checkNames(policy, in.Source, in.SourceNamespace); err != nil {
		return nil, fmt.Errorf("failed to render ClusterPolicy %q: %w", policy.Name, err)
	}
	owner := OwnerLabels(in.Source, in.SourceNamespace, cluster)
	fail := func(what string, err error) ([]client.Object, error) {
		return nil, fmt.Errorf("failed to render %s for cluster %q (ClusterPolicy %q): %w", what, cluster, policy.Name, err)
	}

	plan, err := compileWindows(policy.Spec.MaintenanceWindows, in.Now)
	if err != nil {
		return fail("maintenance windows", fmt.Errorf("spec.maintenanceWindows: %w", err))
	}
	var poolAnnotations map[string]string
	if !plan.ValidUntil.IsZero() {
		poolAnnotations = map[string]string{v1alpha1.WindowsValidUntilAnnotation: plan.ValidUntil.Format(time.RFC3339)}
	}

	var objs []client.Object
	switch in.Target {
	case "", TargetAWS:
		nc, err := nodeClass(policy, cloneMap(owner))
		if err != nil {
			return fail("EC2NodeClass", err)
		}
		objs = append(objs, nc)
	case TargetKwok:
		objs = append(objs, kwokNodeClass(policy, cloneMap(owner)))
	default:
		return fail("the node class", fmt.Errorf("unknown target %q: write aws or kwok", in.Target))
	}
	settings := poolSettings{policy: policy, labels: owner, annotations: poolAnnotations, windows: plan.Budgets, target: in.Target}
	capacityTypes := []string{v1alpha1.CapacityOnDemand}
	if policy.Spec.Spot.Enabled == nil || *policy.Spec.Spot.Enabled {
		capacityTypes = append(capacityTypes, v1alpha1.CapacitySpot)
	}
	for _, ct := range capacityTypes {
		np, err := nodePool(settings, ct)
		if err != nil {
			return fail(fmt.Sprintf("NodePool %s", NodePoolName(cluster, ct)), err)
		}
		if ct == v1alpha1.CapacitySpot {
			Steer(np, in.Steering)
		}
		objs = append(objs, np)
	}

	extra, err := extraObjects(policy, owner, in.Target, in.Now)
	if err != nil {
		return fail("node pools", err)
	}
	objs = append(objs, extra...)

	objs = append(objs, policyObject(policy, owner))
	rules, err := ruleObjects(in.Rules, policy, owner)
	if err != nil {
		return fail("WorkloadDistributionRules", err)
	}
	for _, r := range rules {
		objs = append(objs, r)
	}
	return objs, nil
}

// OwnerLabels are the labels every rendered object carries: they say which policy
// source (its name and, for a PolicySource, its namespace) and cluster it belongs to,
// so that Ballast prunes only what it created. Without a namespace there is no
// ballast.dev/source-namespace label.
func OwnerLabels(source, namespace, cluster string) map[string]string {
	l := map[string]string{
		v1alpha1.SourceLabel:  source,
		v1alpha1.ClusterLabel: cluster,
	}
	if namespace != "" {
		l[v1alpha1.SourceNamespaceLabel] = namespace
	}
	return l
}

// checkNames rejects names that would make invalid object names or label values.
func checkNames(p *v1alpha1.ClusterPolicy, source, namespace string) error {
	if p.Name == "" {
		return fmt.Errorf("metadata.name is empty")
	}
	cluster := p.Spec.Cluster.Name
	if cluster == "" {
		return fmt.Errorf("spec.cluster.name is empty")
	}
	// The longest name rendered from the cluster name is a NodePool's.
	if errs := validation.IsDNS1123Label(NodePoolName(cluster, v1alpha1.CapacityOnDemand)); len(errs) > 0 {
		return fmt.Errorf("spec.cluster.name %q makes invalid object names: %s", cluster, strings.Join(errs, "; "))
	}
	if source == "" {
		return fmt.Errorf("no source to put in the %s label", v1alpha1.SourceLabel)
	}
	if errs := validation.IsValidLabelValue(source); len(errs) > 0 {
		return fmt.Errorf("source %q is not a label value: %s", source, strings.Join(errs, "; "))
	}
	if errs := validation.IsValidLabelValue(namespace); len(errs) > 0 {
		return fmt.Errorf("source namespace %q is not a label value: %s", namespace, strings.Join(errs, "; "))
	}
	return nil
}

// policyObject is the defaulted ClusterPolicy as the runtime controllers read it:
// metadata reduced to name, labels and annotations, and no status.
func policyObject(p *v1alpha1.ClusterPolicy, owner map[string]string) *v1alpha1.ClusterPolicy {
	return &v1alpha1.ClusterPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.ClusterPolicyKind},
		ObjectMeta: objectMeta(p.ObjectMeta, owner),
		Spec:       *p.Spec.DeepCopy(),
	}
}

// ruleObjects defaults copies of the rules from the policy and sorts them by namespace
// and name.
func ruleObjects(rules []*v1alpha1.WorkloadDistributionRule, p *v1alpha1.ClusterPolicy, owner map[string]string) ([]*v1alpha1.WorkloadDistributionRule, error) {
	cluster := p.Spec.Cluster.Name
	out := make([]*v1alpha1.WorkloadDistributionRule, 0, len(rules))
	seen := map[string]bool{}
	for i, r := range rules {
		if r == nil {
			return nil, fmt.Errorf("rule %d is nil", i)
		}
		id := r.Namespace + "/" + r.Name
		switch {
		case r.Name == "":
			return nil, fmt.Errorf("a rule in namespace %q has no metadata.name", r.Namespace)
		case r.Namespace == "":
			return nil, fmt.Errorf("rule %q has no metadata.namespace", r.Name)
		case seen[id]:
			return nil, fmt.Errorf("rule %s is given twice", id)
		case len(r.Spec.Clusters) > 0 && !slices.Contains(r.Spec.Clusters, cluster):
			return nil, fmt.Errorf("rule %s applies to clusters %s, not to %q", id, strings.Join(r.Spec.Clusters, ", "), cluster)
		}
		seen[id] = true
		spec := r.Spec.DeepCopy()
		rule := &v1alpha1.WorkloadDistributionRule{
			TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.WorkloadDistributionRuleKind},
			ObjectMeta: objectMeta(r.ObjectMeta, owner),
			Spec:       *spec,
		}
		rule.Namespace = r.Namespace
		rule.Default(p)
		out = append(out, rule)
	}
	slices.SortFunc(out, func(a, b *v1alpha1.WorkloadDistributionRule) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out, nil
}

// objectMeta keeps a policy document's name, labels and annotations, drops GitOps
// tracking keys and sets the owner labels, which win over labels of the same name.
func objectMeta(m metav1.ObjectMeta, owner map[string]string) metav1.ObjectMeta {
	labels := withoutTracking(m.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	// Only the owner labels say who owns the object: a policy's own source namespace
	// label would make a PolicySource of that namespace take it for its own.
	delete(labels, v1alpha1.SourceNamespaceLabel)
	maps.Copy(labels, owner)
	return metav1.ObjectMeta{
		Name:        m.Name,
		Labels:      labels,
		Annotations: withoutTracking(m.Annotations),
	}
}

// withoutTracking returns a copy of m without GitOps tracking keys; nil when empty.
func withoutTracking(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !isTrackingKey(k) {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func isTrackingKey(k string) bool {
	if slices.Contains(trackingKeys, k) {
		return true
	}
	for _, p := range trackingKeyPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}
