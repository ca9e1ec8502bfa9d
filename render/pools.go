package render

import (
	"fmt"
	"slices"
	"strings"
	"time"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kwokv1alpha1 "sigs.k8s.io/karpenter/kwok/apis/v1alpha1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// extraObjects renders spec.nodeClasses and spec.nodePools, in their order, as
// written, with the owner labels and ballast.dev/node-pool. A pool's maintenance
// windows become budgets after its own. For kwok, node classes become KWOKNodeClasses,
// references to them follow, and AWS requirement keys are translated.
func extraObjects(p *v1alpha1.ClusterPolicy, owner map[string]string, target Target, now time.Time) ([]client.Object, error) {
	cluster := p.Spec.Cluster.Name
	classes := map[string]bool{NodeClassName(cluster): true}
	var objs []client.Object
	for i := range p.Spec.NodeClasses {
		c := &p.Spec.NodeClasses[i]
		if why := v1alpha1.ReservedName(cluster, c.Name); why != "" {
			return nil, fmt.Errorf("spec.nodeClasses[%d].name: %s", i, why)
		}
		if classes[c.Name] { // the default node class's name is refused above
			return nil, fmt.Errorf("spec.nodeClasses[%d].name: %s is given twice", i, c.Name)
		}
		classes[c.Name] = true
		meta := metav1.ObjectMeta{Name: c.Name, Labels: withLabel(owner, v1alpha1.NodePoolLabel, c.Name)}
		if target == TargetKwok {
			objs = append(objs, &kwokv1alpha1.KWOKNodeClass{
				TypeMeta:   metav1.TypeMeta{APIVersion: kwokNodeClassAPIVersion, Kind: kwokNodeClassKind},
				ObjectMeta: meta,
			})
			continue
		}
		objs = append(objs, &awsv1.EC2NodeClass{
			TypeMeta:   metav1.TypeMeta{APIVersion: nodeClassAPIVersion, Kind: nodeClassKind},
			ObjectMeta: meta,
			Spec:       *c.Spec.DeepCopy(),
		})
	}
	pools := map[string]bool{}
	for i := range p.Spec.NodePools {
		np, err := extraPool(p, i, owner, target, now, classes)
		if err != nil {
			return nil, fmt.Errorf("spec.nodePools[%d]: %w", i, err)
		}
		if pools[np.Name] {
			return nil, fmt.Errorf("spec.nodePools[%d].name: %s is given twice", i, np.Name)
		}
		pools[np.Name] = true
		objs = append(objs, np)
	}
	return objs, nil
}

// extraPool renders spec.nodePools[i].
func extraPool(p *v1alpha1.ClusterPolicy, i int, owner map[string]string, target Target, now time.Time, classes map[string]bool) (*karpv1.NodePool, error) {
	cluster := p.Spec.Cluster.Name
	src := &p.Spec.NodePools[i]
	if why := v1alpha1.ReservedName(cluster, src.Name); why != "" {
		return nil, fmt.Errorf("name: %s", why)
	}
	labels := withLabel(owner, v1alpha1.NodePoolLabel, src.Name)
	if src.Split {
		labels[v1alpha1.SplitLabel] = "true"
	}
	np := &karpv1.NodePool{
		TypeMeta:   metav1.TypeMeta{APIVersion: nodePoolAPIVersion, Kind: "NodePool"},
		ObjectMeta: metav1.ObjectMeta{Name: src.Name, Labels: labels},
		Spec:       *src.Spec.DeepCopy(),
	}
	plan, err := compileWindows(src.MaintenanceWindows, now)
	if err != nil {
		return nil, fmt.Errorf("maintenanceWindows: %w", err)
	}
	if !plan.ValidUntil.IsZero() {
		np.Annotations = map[string]string{v1alpha1.WindowsValidUntilAnnotation: plan.ValidUntil.Format(time.RFC3339)}
	}
	for _, b := range plan.Budgets {
		np.Spec.Disruption.Budgets = append(np.Spec.Disruption.Budgets, *b.DeepCopy())
	}
	if err := budgetCount(np.Spec.Disruption.Budgets); err != nil {
		return nil, err
	}
	if target == TargetKwok {
		ref := np.Spec.Template.Spec.NodeClassRef
		if ref != nil && ref.Group == nodeClassGroup && ref.Kind == nodeClassKind && classes[ref.Name] {
			ref.Group, ref.Kind = kwokNodeClassGroup, kwokNodeClassKind
		}
		np.Spec.Template.Spec.Requirements = kwokPoolRequirements(np.Spec.Template.Spec.Requirements, p.Spec.Cluster.Region)
	}
	return np, nil
}

// kwokPoolRequirements translates the AWS keys of a pool's requirements to kwok's
// catalogue (see kwokRequirements) and zones of the region to kwok's zones; every other
// requirement is kept as written (a team label, kwok's own keys and zones), so that a
// pool written for kwok renders unchanged.
func kwokPoolRequirements(reqs []karpv1.NodeSelectorRequirementWithMinValues, region string) []karpv1.NodeSelectorRequirementWithMinValues {
	var out []karpv1.NodeSelectorRequirementWithMinValues
	for _, r := range reqs {
		aws := strings.HasPrefix(r.Key, nodeClassGroup+"/") ||
			(r.Key == corev1.LabelTopologyZone && slices.ContainsFunc(r.Values, func(v string) bool { return strings.HasPrefix(v, region) }))
		if aws {
			out = append(out, kwokRequirements([]karpv1.NodeSelectorRequirementWithMinValues{r}, region)...)
			continue
		}
		out = append(out, *r.DeepCopy())
	}
	return out
}

func withLabel(m map[string]string, key, value string) map[string]string {
	out := cloneMap(m)
	if out == nil {
		out = map[string]string{}
	}
	out[key] = value
	return out
}
