package render

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// fullCase loads the golden case that sets every field.
func fullCase(t *testing.T) Input {
	t.Helper()
	return loadInput(t, filepath.Join("testdata", "full"))
}

func rulesCase(t *testing.T) Input {
	t.Helper()
	return loadInput(t, filepath.Join("testdata", "rules"))
}

func mustRender(t *testing.T, in Input) []byte {
	t.Helper()
	objs, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(objs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRenderIsDeterministic(t *testing.T) {
	for _, in := range []Input{fullCase(t), rulesCase(t)} {
		first := mustRender(t, in)
		if again := mustRender(t, in); !bytes.Equal(first, again) {
			t.Fatalf("two renderings differ:\n%s", lineDiff(string(first), string(again)))
		}
		rng := rand.New(rand.NewPCG(7, 7))
		for range 10 {
			shuffled := in
			shuffled.Rules = append([]*v1alpha1.WorkloadDistributionRule(nil), in.Rules...)
			rng.Shuffle(len(shuffled.Rules), func(i, j int) {
				shuffled.Rules[i], shuffled.Rules[j] = shuffled.Rules[j], shuffled.Rules[i]
			})
			if got := mustRender(t, shuffled); !bytes.Equal(first, got) {
				t.Fatalf("the order of the rules changes the output:\n%s", lineDiff(string(first), string(got)))
			}
		}
	}
}

// TestRenderDependsOnNowOnlyThroughOffsets: Now moves the budgets only when a time
// zone's offset changes.
func TestRenderDependsOnNowOnlyThroughOffsets(t *testing.T) {
	in := fullCase(t)
	first := mustRender(t, in)
	in.Now = in.Now.Add(40 * 24 * time.Hour) // still before New York's change on 2027-03-14
	if got := mustRender(t, in); !bytes.Equal(first, got) {
		t.Fatalf("output changed with Now:\n%s", lineDiff(string(first), string(got)))
	}
	in.Now = time.Date(2027, 3, 14, 7, 0, 0, 0, time.UTC)
	if got := mustRender(t, in); bytes.Equal(first, got) {
		t.Fatal("output did not change after New York's daylight-saving change")
	}
}

func TestRenderDoesNotMutateInput(t *testing.T) {
	for _, in := range []Input{fullCase(t), rulesCase(t), loadInput(t, filepath.Join("testdata", "minimal"))} {
		policy := in.Policy.DeepCopy()
		var rules []*v1alpha1.WorkloadDistributionRule
		for _, r := range in.Rules {
			rules = append(rules, r.DeepCopy())
		}
		objs, err := Render(in)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(policy, in.Policy) {
			t.Errorf("Render changed the ClusterPolicy %s", policy.Name)
		}
		for i := range rules {
			if !reflect.DeepEqual(rules[i], in.Rules[i]) {
				t.Errorf("Render changed rule %s/%s", rules[i].Namespace, rules[i].Name)
			}
		}
		// Changing what Render returned must not reach the input either.
		for _, obj := range objs {
			obj.GetLabels()["mutated"] = "yes"
			switch o := obj.(type) {
			case *v1alpha1.ClusterPolicy:
				o.Spec.NodeClass.Tags = map[string]string{"mutated": "yes"}
				if len(o.Spec.MaintenanceWindows) > 0 {
					o.Spec.MaintenanceWindows[0].Days[0] = "Sun"
				}
			case *v1alpha1.WorkloadDistributionRule:
				if o.Spec.WorkloadSelector != nil {
					o.Spec.WorkloadSelector.MatchLabels["mutated"] = "yes"
				}
			}
		}
		if !reflect.DeepEqual(policy, in.Policy) {
			t.Errorf("the rendered ClusterPolicy shares memory with the input")
		}
		for i := range rules {
			if !reflect.DeepEqual(rules[i], in.Rules[i]) {
				t.Errorf("rendered rule %s/%s shares memory with the input", rules[i].Namespace, rules[i].Name)
			}
		}
	}
}

// TestNodePoolsShareNothing: the two NodePools are separate values; changing one (as
// the interruption controller does with the Spot pool's requirements) leaves the other.
func TestNodePoolsShareNothing(t *testing.T) {
	objs, err := Render(fullCase(t))
	if err != nil {
		t.Fatal(err)
	}
	onDemand, spot := objs[1].(*karpv1.NodePool), objs[2].(*karpv1.NodePool)
	before, err := Marshal([]client.Object{onDemand})
	if err != nil {
		t.Fatal(err)
	}
	spot.Labels["x"] = "y"
	spot.Annotations[v1alpha1.WindowsValidUntilAnnotation] = "changed"
	spot.Spec.Template.Spec.Requirements[0].Values[0] = "changed"
	spot.Spec.Disruption.Budgets[0].Nodes = "99"
	*spot.Spec.Disruption.Budgets[len(spot.Spec.Disruption.Budgets)-1].Schedule = "changed"
	spot.Spec.Disruption.Budgets[len(spot.Spec.Disruption.Budgets)-1].Reasons[0] = "changed"
	after, err := Marshal([]client.Object{onDemand})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("changing the Spot NodePool changed the On-Demand one:\n%s", lineDiff(string(before), string(after)))
	}
}

func TestRenderErrors(t *testing.T) {
	cases := []struct {
		name   string
		change func(in *Input)
		want   string
	}{
		{"no policy", func(in *Input) { in.Policy = nil }, "no ClusterPolicy"},
		{"no reference time", func(in *Input) { in.Now = time.Time{} }, "no reference time"},
		{"no source", func(in *Input) { in.Source = "" }, "no source"},
		{"source not a label value", func(in *Input) { in.Source = "my source" }, "not a label value"},
		{"source namespace not a label value", func(in *Input) { in.SourceNamespace = "team/a" }, "not a label value"},
		{"no policy name", func(in *Input) { in.Policy.Name = "" }, "metadata.name is empty"},
		{"no cluster name", func(in *Input) { in.Policy.Spec.Cluster.Name = "" }, "spec.cluster.name is empty"},
		{"cluster name too long", func(in *Input) { in.Policy.Spec.Cluster.Name = strings.Repeat("a", 60) }, "invalid object names"},
		{"cluster name with capitals", func(in *Input) { in.Policy.Spec.Cluster.Name = "Prod" }, "invalid object names"},
		{"role and instance profile", func(in *Input) { in.Policy.Spec.NodeClass.Role = "r" }, "both role and instanceProfile"},
		{"neither role nor instance profile", func(in *Input) { in.Policy.Spec.NodeClass.InstanceProfile = "" }, "neither role nor instanceProfile"},
		{"bad time zone", func(in *Input) { in.Policy.Spec.MaintenanceWindows[0].TimeZone = "Nowhere/Land" }, "spec.maintenanceWindows"},
		{"bad consolidateAfter", func(in *Input) { in.Policy.Spec.BinPacking.ConsolidateAfter = "soon" }, "consolidateAfter"},
		{"bad budget", func(in *Input) { in.Policy.Spec.BinPacking.DisruptionBudgets[1].Duration = "" }, "disruptionBudgets[1]"},
		{"too many budgets", func(in *Input) {
			for range 48 {
				in.Policy.Spec.BinPacking.DisruptionBudgets = append(in.Policy.Spec.BinPacking.DisruptionBudgets, v1alpha1.DisruptionBudget{Nodes: "1"})
			}
		}, "more than Karpenter's 50"},
		{"bad volume size", func(in *Input) { in.Policy.Spec.NodeClass.BlockDevices[0].VolumeSize = *quantity("100Ti") }, "blockDevices[0].volumeSize"},
		{"rule for another cluster", func(in *Input) { in.Rules[0].Spec.Clusters = []string{"other"} }, "not to \"payments\""},
		{"rule twice", func(in *Input) { in.Rules = append(in.Rules, in.Rules[0]) }, "given twice"},
		{"rule without namespace", func(in *Input) { in.Rules[0].Namespace = "" }, "no metadata.namespace"},
		{"nil rule", func(in *Input) { in.Rules = append(in.Rules, nil) }, "is nil"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := fullCase(t)
			c.change(&in)
			_, err := Render(in)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestSpotDisabledRendersOneNodePool(t *testing.T) {
	in := fullCase(t)
	in.Policy.Spec.Spot.Enabled = ptr.To(false)
	objs, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	var pools []string
	for _, obj := range objs {
		if np, ok := obj.(*karpv1.NodePool); ok {
			pools = append(pools, np.Name)
		}
	}
	if want := []string{"ballast-payments-on-demand"}; !reflect.DeepEqual(pools, want) {
		t.Errorf("NodePools %v, want %v", pools, want)
	}
}

// TestOwnerLabelsNameTheNamespace: a PolicySource's objects carry its namespace beside
// its name, so that a PolicySource of the same name elsewhere never takes them for its
// own; the CLI's objects carry no namespace, whatever the policy's labels say.
func TestOwnerLabelsNameTheNamespace(t *testing.T) {
	for _, ns := range []string{"team-a", ""} {
		t.Run("namespace="+ns, func(t *testing.T) {
			in := fullCase(t)
			in.SourceNamespace = ns
			in.Policy.Labels[v1alpha1.SourceNamespaceLabel] = "team-x"
			in.Rules[0].Labels = map[string]string{v1alpha1.SourceNamespaceLabel: "team-x"}
			objs, err := Render(in)
			if err != nil {
				t.Fatal(err)
			}
			for _, obj := range objs {
				got, ok := obj.GetLabels()[v1alpha1.SourceNamespaceLabel]
				if ns == "" && ok || ns != "" && got != ns {
					t.Errorf("%T %s: labels %v, want %s=%q", obj, obj.GetName(), obj.GetLabels(), v1alpha1.SourceNamespaceLabel, ns)
				}
			}
		})
	}
}

func TestTrackingKeysAreDropped(t *testing.T) {
	in := fullCase(t)
	in.Policy.Labels[v1alpha1.SourceLabel] = "someone-else"
	in.Policy.Labels[v1alpha1.SourceNamespaceLabel] = "team-x"
	in.Policy.Labels["helm.toolkit.fluxcd.io/name"] = "x"
	in.Policy.Annotations["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
	in.Policy.Annotations["argocd.argoproj.io/sync-options"] = "Prune=false"
	objs, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	cp := objs[3].(*v1alpha1.ClusterPolicy)
	wantLabels := map[string]string{v1alpha1.SourceLabel: testSource, v1alpha1.ClusterLabel: "payments", "team": "platform"}
	if !reflect.DeepEqual(cp.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", cp.Labels, wantLabels)
	}
	for k := range cp.Annotations {
		if k != "example.com/owner" && k != "example.com/description" {
			t.Errorf("annotation %s kept", k)
		}
	}
	if cp.Annotations["example.com/owner"] != "platform@example.com" {
		t.Errorf("annotations %v lost example.com/owner", cp.Annotations)
	}
}

// TestNodePoolsForKwok: for kwok, the node classes of spec.nodeClasses become
// KWOKNodeClasses and the references to them follow; AWS keys and the region's zones
// are translated, and a pool written for kwok (kwok's keys and zones, a reference to
// a KWOKNodeClass kept outside Ballast) renders unchanged.
func TestNodePoolsForKwok(t *testing.T) {
	in := loadInput(t, filepath.Join("testdata", "node-pools"))
	in.Target = TargetKwok
	kwokPool := v1alpha1.NodePool{Name: "kept", Spec: karpv1.NodePoolSpec{Template: karpv1.NodeClaimTemplate{Spec: karpv1.NodeClaimTemplateSpec{
		NodeClassRef: &karpv1.NodeClassReference{Group: "karpenter.kwok.sh", Kind: "KWOKNodeClass", Name: "default"},
		Requirements: []karpv1.NodeSelectorRequirementWithMinValues{
			{Key: "karpenter.kwok.sh/instance-family", Operator: "In", Values: []string{"c"}},
			{Key: "topology.kubernetes.io/zone", Operator: "In", Values: []string{"test-zone-b"}},
			{Key: "team", Operator: "In", Values: []string{"a"}},
		},
	}}}}
	in.Policy = in.Policy.DeepCopy()
	in.Policy.Spec.NodePools = append(in.Policy.Spec.NodePools, kwokPool)
	in.Policy.Spec.NodePools[0].Spec.Template.Spec.Requirements = append(in.Policy.Spec.NodePools[0].Spec.Template.Spec.Requirements,
		karpv1.NodeSelectorRequirementWithMinValues{Key: "topology.kubernetes.io/zone", Operator: "In", Values: []string{"eu-west-1a"}})
	objs, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	pools := map[string]*karpv1.NodePool{}
	classes := 0
	for _, o := range objs {
		switch o := o.(type) {
		case *karpv1.NodePool:
			pools[o.Name] = o
		case client.Object:
			if o.GetObjectKind().GroupVersionKind().Kind == "KWOKNodeClass" {
				classes++
			}
		}
	}
	if classes != 2 {
		t.Errorf("%d KWOKNodeClasses, want the default one and gpu", classes)
	}
	gpu := pools["gpu"].Spec.Template.Spec
	if ref := gpu.NodeClassRef; ref.Group != "karpenter.kwok.sh" || ref.Kind != "KWOKNodeClass" || ref.Name != "gpu" {
		t.Errorf("gpu's nodeClassRef = %+v, want the KWOKNodeClass gpu", ref)
	}
	var keys []string
	for _, r := range gpu.Requirements {
		keys = append(keys, r.Key+"="+strings.Join(r.Values, ","))
	}
	// instance-family g5/g6 has no kwok family: left out; eu-west-1a is test-zone-a.
	if got, want := strings.Join(keys, " "), "karpenter.sh/capacity-type=on-demand topology.kubernetes.io/zone=test-zone-a"; got != want {
		t.Errorf("gpu's requirements for kwok = %s, want %s", got, want)
	}
	if !reflect.DeepEqual(pools["kept"].Spec.Template.Spec, kwokPool.Spec.Template.Spec) {
		t.Errorf("a pool written for kwok changed:\n%+v\nwant\n%+v", pools["kept"].Spec.Template.Spec, kwokPool.Spec.Template.Spec)
	}
}
