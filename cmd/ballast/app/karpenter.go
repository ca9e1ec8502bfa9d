package app

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/crdcheck"
	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// karpenterCheck returns the check of policies.Options.CheckRendered that validate and
// render share: the policy's EC2NodeClass and NodePools, rendered for AWS at now, are
// checked against Karpenter's own CRDs (crdcheck.Karpenter), and every rule they break
// becomes a karpenter-rejects finding at the policy field the rendered field comes from.
func karpenterCheck(now time.Time) func(*policies.ClusterPolicyDoc) policies.Findings {
	return func(p *policies.ClusterPolicyDoc) policies.Findings {
		checker, err := crdcheck.Karpenter()
		if err != nil {
			// The CRDs are compiled into the binary: this is a bug, not the user's.
			return policies.Findings{karpenterFinding(p, "", fmt.Sprintf("Karpenter's CRDs cannot be compiled, so the rendered objects are not checked: %v", err))}
		}
		objs, err := render.Render(render.Input{Policy: p.Policy, Source: "local", Now: now, Target: render.TargetAWS})
		if err != nil {
			// What validates renders (render's property test); render reports it itself.
			return nil
		}
		return karpenterFindings(checker, p, objs)
	}
}

// karpenterFindings checks the rendered objects Karpenter has a CRD for. A rule broken
// alike by several objects (the Spot and On-Demand NodePools share their requirements
// and disruption settings) is one finding naming them all.
func karpenterFindings(checker *crdcheck.Checker, p *policies.ClusterPolicyDoc, objs []client.Object) policies.Findings {
	defaulted := p.Policy.DeepCopy()
	defaulted.Default()
	type key struct{ kind, field, rendered, message string }
	names := map[key][]string{}
	var order []key
	for _, obj := range objs {
		gvk := obj.GetObjectKind().GroupVersionKind()
		if !checker.Knows(gvk.GroupVersion().String(), gvk.Kind) {
			continue
		}
		violations, err := checker.CheckObject(obj)
		if err != nil {
			return policies.Findings{karpenterFinding(p, "", fmt.Sprintf("the rendered %s %s cannot be checked: %v", gvk.Kind, obj.GetName(), err))}
		}
		for _, v := range violations {
			field := policyField(obj, v.Field, defaulted)
			if np, ok := obj.(*karpv1.NodePool); ok && v.CEL {
				field = narrow(checker, np, v, defaulted, field)
			}
			k := key{kind: gvk.Kind, field: field, rendered: v.Field, message: v.Message}
			if _, ok := names[k]; !ok {
				order = append(order, k)
			}
			names[k] = append(names[k], obj.GetName())
		}
	}
	var out policies.Findings
	for _, k := range order {
		what := fmt.Sprintf("the rendered %s %s", k.kind, names[k][0])
		if n := names[k]; len(n) > 1 {
			what = fmt.Sprintf("the rendered %ss %s", k.kind, strings.Join(n, " and "))
		}
		out = append(out, karpenterFinding(p, k.field, fmt.Sprintf("Karpenter would reject %s: %s: %s", what, k.rendered, k.message)))
	}
	return out
}

// narrow finds the policy field of a CEL rule written on a whole list of a NodePool
// (requirements, budgets), whose violation names only the list: it checks the pool
// with each element alone, and when exactly one element breaks the rule, returns the
// policy field of that element. Otherwise it returns field.
func narrow(checker *crdcheck.Checker, np *karpv1.NodePool, v crdcheck.Violation, p *v1alpha1.ClusterPolicy, field string) string {
	var n int
	var with func(i int) *karpv1.NodePool
	switch v.Field {
	case "spec.template.spec.requirements":
		n = len(np.Spec.Template.Spec.Requirements)
		with = func(i int) *karpv1.NodePool {
			c := np.DeepCopy()
			c.Spec.Template.Spec.Requirements = c.Spec.Template.Spec.Requirements[i : i+1]
			return c
		}
	case "spec.disruption.budgets":
		n = len(np.Spec.Disruption.Budgets)
		with = func(i int) *karpv1.NodePool {
			c := np.DeepCopy()
			c.Spec.Disruption.Budgets = c.Spec.Disruption.Budgets[i : i+1]
			return c
		}
	default:
		return field
	}
	culprit := -1
	for i := range n {
		violations, err := checker.CheckObject(with(i))
		if err != nil {
			return field
		}
		if slices.Contains(violations, v) {
			if culprit >= 0 {
				return field
			}
			culprit = i
		}
	}
	if culprit < 0 {
		return field
	}
	return policyField(np, fmt.Sprintf("%s[%d]", v.Field, culprit), p)
}

func karpenterFinding(p *policies.ClusterPolicyDoc, field, message string) policies.Finding {
	pos := p.Position()
	if field != "" {
		pos = p.Locate(field)
	}
	return policies.Finding{Position: pos, Field: field, Rule: policies.RuleKarpenterRejects, Severity: policies.SeverityError, Message: message}
}

// indexed matches a rendered field path that starts with a list element, e.g.
// spec.subnetSelectorTerms[2].tags: the list, the index and the rest.
var indexed = regexp.MustCompile(`^([A-Za-z.]+)\[(\d+)\](.*)$`)

// policyField is the field of the ClusterPolicy a field of a rendered Karpenter object
// comes from, as precisely as it is known; "" when it comes from no field of the policy
// (Ballast's own labels, taints and references).
func policyField(obj any, rendered string, p *v1alpha1.ClusterPolicy) string {
	list, index, rest := rendered, -1, ""
	if m := indexed.FindStringSubmatch(rendered); m != nil {
		list, rest = m[1], m[3]
		index, _ = strconv.Atoi(m[2])
	}
	under := func(prefix string) bool { return list == prefix || strings.HasPrefix(list, prefix+".") }
	if f, ok := nodePoolsField(obj, rendered, index, p); ok {
		return f
	}
	switch o := obj.(type) {
	case *awsv1.EC2NodeClass:
		switch {
		case under("metadata.name"):
			return "spec.cluster.name"
		case under("spec.amiSelectorTerms"):
			return "spec.nodeClass.ami"
		case under("spec.subnetSelectorTerms"):
			return element("spec.nodeClass.subnetSelector", index, len(p.Spec.NodeClass.SubnetSelector), rest)
		case under("spec.securityGroupSelectorTerms"):
			return element("spec.nodeClass.securityGroupSelector", index, len(p.Spec.NodeClass.SecurityGroupSelector), rest)
		case under("spec.blockDeviceMappings"):
			return element("spec.nodeClass.blockDevices", index, len(p.Spec.NodeClass.BlockDevices), "")
		case under("spec.tags"):
			return "spec.nodeClass.tags"
		case under("spec.metadataOptions"):
			return "spec.nodeClass.metadataOptions"
		case under("spec.role"):
			return "spec.nodeClass.role"
		case under("spec.instanceProfile"):
			return "spec.nodeClass.instanceProfile"
		}
		return "spec.nodeClass"
	case *karpv1.NodePool:
		switch {
		case under("metadata.name"):
			return "spec.cluster.name"
		case under("spec.template.spec.requirements"):
			if reqs := o.Spec.Template.Spec.Requirements; index >= 0 && index < len(reqs) {
				if f := requirementField(reqs[index].Key, reqs[index].Operator, p.Spec.Instances); f != "" {
					return f
				}
			}
			return "spec.instances"
		case under("spec.template.spec.expireAfter"):
			return "spec.binPacking.expireAfter"
		case under("spec.disruption.budgets"):
			// The user's budgets first, then those compiled from maintenance windows.
			if index >= len(p.Spec.BinPacking.DisruptionBudgets) {
				return "spec.maintenanceWindows"
			}
			return element("spec.binPacking.disruptionBudgets", index, len(p.Spec.BinPacking.DisruptionBudgets), "")
		case under("spec.disruption.consolidateAfter"):
			return "spec.binPacking.consolidateAfter"
		case under("spec.disruption.consolidationPolicy"):
			return "spec.binPacking.consolidationPolicy"
		case under("spec.disruption"):
			return "spec.binPacking"
		}
	}
	return ""
}

// nodePoolsField is the field of a NodePool or EC2NodeClass rendered from
// spec.nodePools or spec.nodeClasses (the ballast.dev/node-pool label names the
// entry): its spec is the entry's spec, as written, and the budgets after the entry's
// own come from its maintenance windows. ok is false for the default supply's objects.
func nodePoolsField(obj any, rendered string, index int, p *v1alpha1.ClusterPolicy) (string, bool) {
	o, isObj := obj.(client.Object)
	if !isObj {
		return "", false
	}
	name, ok := o.GetLabels()[v1alpha1.NodePoolLabel]
	if !ok {
		return "", false
	}
	entry := func(list string, i int) string {
		if rendered == "metadata.name" || strings.HasPrefix(rendered, "metadata.") {
			return fmt.Sprintf("%s[%d].name", list, i)
		}
		if strings.HasPrefix(rendered, "spec.") || rendered == "spec" {
			return fmt.Sprintf("%s[%d].%s", list, i, rendered)
		}
		return fmt.Sprintf("%s[%d]", list, i)
	}
	switch obj.(type) {
	case *awsv1.EC2NodeClass:
		for i := range p.Spec.NodeClasses {
			if p.Spec.NodeClasses[i].Name == name {
				return entry("spec.nodeClasses", i), true
			}
		}
	case *karpv1.NodePool:
		for i := range p.Spec.NodePools {
			np := &p.Spec.NodePools[i]
			if np.Name != name {
				continue
			}
			if strings.HasPrefix(rendered, "spec.disruption.budgets[") && index >= len(np.Spec.Disruption.Budgets) {
				return fmt.Sprintf("spec.nodePools[%d].maintenanceWindows", i), true
			}
			return entry("spec.nodePools", i), true
		}
	}
	return "", true
}

// element is list[index]+rest when index is one of the policy's n elements, else list.
func element(list string, index, n int, rest string) string {
	if index < 0 || index >= n {
		return list
	}
	return fmt.Sprintf("%s[%d]%s", list, index, rest)
}

// requirementField is the field of spec.instances a rendered requirement comes from.
func requirementField(key string, op corev1.NodeSelectorOperator, in v1alpha1.InstancesSpec) string {
	switch key {
	case awsv1.LabelInstanceCategory:
		return "spec.instances.categories"
	case awsv1.LabelInstanceFamily:
		return "spec.instances.families"
	case awsv1.LabelInstanceGeneration:
		return "spec.instances.minGeneration"
	case corev1.LabelArchStable:
		return "spec.instances.architectures"
	case awsv1.LabelInstanceCPU:
		return "spec.instances.cpu"
	case awsv1.LabelInstanceMemory:
		return "spec.instances.memory"
	case corev1.LabelTopologyZone:
		return "spec.instances.zones"
	case corev1.LabelInstanceTypeStable:
		// An include list is rendered without the excluded types; an exclude list
		// alone is rendered as NotIn.
		if op == corev1.NodeSelectorOpNotIn || len(in.Include) == 0 {
			return "spec.instances.exclude"
		}
		return "spec.instances.include"
	}
	return ""
}
