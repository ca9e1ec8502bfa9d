package render

import (
	"testing"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// spotPool renders the Spot NodePool of a policy that excludes a type itself and has a
// maintenance window, steered by st.
func spotPool(t *testing.T, st *v1alpha1.InterruptionsStatus) *karpv1.NodePool {
	t.Helper()
	p := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "prod"},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:   v1alpha1.ClusterIdentity{Name: "prod", Region: "eu-west-1"},
			NodeClass: v1alpha1.NodeClassSpec{Role: "KarpenterNodeRole-prod"},
			Instances: v1alpha1.InstancesSpec{Categories: []string{"c", "m"}, Exclude: []string{"m5.large"}},
		},
	}
	objs, err := Render(Input{Policy: p, Source: "local", Now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Steering: st})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if np, ok := o.(*karpv1.NodePool); ok && np.Name == NodePoolName("prod", v1alpha1.CapacitySpot) {
			return np
		}
	}
	t.Fatal("no Spot NodePool rendered")
	return nil
}

func TestSteer(t *testing.T) {
	plain := spotPool(t, nil)
	if _, ok := plain.Annotations[SteeringAnnotation]; ok {
		t.Fatalf("an unsteered pool carries %s", SteeringAnnotation)
	}
	one := &v1alpha1.InterruptionsStatus{ExcludedInstanceTypes: []string{"c6i.xlarge"}}
	two := &v1alpha1.InterruptionsStatus{
		ExcludedInstanceTypes:  []string{"m6i.large", "c6i.xlarge"},
		PreferredInstanceTypes: []string{"m6i.xlarge", "c6i.large", "c7i.large"},
	}

	steered := spotPool(t, one)
	if !sameReqs(steered, plain, "node.kubernetes.io/instance-type NotIn c6i.xlarge") {
		t.Errorf("requirements %q: want the policy's and then the exclusion", reqString(steered.Spec.Template.Spec.Requirements))
	}
	budgets := steered.Spec.Disruption.Budgets
	if n := len(budgets); n != len(plain.Spec.Disruption.Budgets)+1 || budgets[n-1].Nodes != "0" || len(budgets[n-1].Reasons) != 1 || budgets[n-1].Reasons[0] != karpv1.DisruptionReasonDrifted {
		t.Errorf("budgets %+v: want the policy's and one holding drift", budgets)
	}

	// Steering the live object (what the interruption controller does) gives what a
	// render with the same state gives (what the PolicySource applies), from any
	// earlier state; steering with nothing gives the policy's pool back.
	for _, c := range []struct {
		name     string
		from, to *v1alpha1.InterruptionsStatus
	}{
		{"none to one", nil, one},
		{"one to two", one, two},
		{"two to one", two, one},
		{"two to none", two, nil},
		{"one to one", one, one},
		{"an empty state is none", two, &v1alpha1.InterruptionsStatus{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			live := spotPool(t, c.from)
			Steer(live, c.to)
			if want := spotPool(t, c.to); !apiequality.Semantic.DeepEqual(live, want) {
				t.Errorf("steered live pool\n%+v\n%s\nrendered\n%+v\n%s", live.Spec, live.Annotations, want.Spec, want.Annotations)
			}
		})
	}

	if got, want := reqString(Unsteered(spotPool(t, two))), reqString(plain.Spec.Template.Spec.Requirements); got != want {
		t.Errorf("Unsteered = %q, want the policy's %q", got, want)
	}
	excl, pref := Steered(spotPool(t, two))
	if len(excl) != 2 || excl[0] != "c6i.xlarge" || len(pref) != 3 {
		t.Errorf("Steered = %v %v", excl, pref)
	}

	// A NodePool written by hand with a requirement equal to one Steer adds keeps it
	// when Steer did not add it.
	hand := plain.DeepCopy()
	hand.Spec.Template.Spec.Requirements = append(hand.Spec.Template.Spec.Requirements, typeRequirement("NotIn", []string{"c6i.xlarge"}))
	Steer(hand, nil)
	if got := reqString(hand.Spec.Template.Spec.Requirements); got == reqString(plain.Spec.Template.Spec.Requirements) {
		t.Errorf("Steer removed a requirement it did not add: %s", got)
	}
}

// sameReqs reports whether a's requirements are b's plus extra at the end.
func sameReqs(a, b *karpv1.NodePool, extra string) bool {
	want := reqString(b.Spec.Template.Spec.Requirements) + "; " + extra
	return reqString(a.Spec.Template.Spec.Requirements) == want
}
