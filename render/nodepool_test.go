package render

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// reqString writes requirements compactly: "key op v1,v2" joined by "; ".
func reqString(reqs []karpv1.NodeSelectorRequirementWithMinValues) string {
	var parts []string
	for _, r := range reqs {
		parts = append(parts, fmt.Sprintf("%s %s %s", r.Key, r.Operator, strings.Join(r.Values, ",")))
	}
	return strings.Join(parts, "; ")
}

func quantity(s string) *resource.Quantity {
	q := resource.MustParse(s)
	return &q
}

func TestRequirements(t *testing.T) {
	const ct = "karpenter.sh/capacity-type In spot"
	cases := []struct {
		name string
		in   v1alpha1.InstancesSpec
		want string
	}{
		{name: "nothing but the capacity type", want: ct},
		{
			name: "inclusive CPU bounds become strict",
			in:   v1alpha1.InstancesSpec{CPU: &v1alpha1.IntRange{Min: ptr.To[int32](4), Max: ptr.To[int32](16)}},
			want: "karpenter.k8s.aws/instance-cpu Gt 3; karpenter.k8s.aws/instance-cpu Lt 17; " + ct,
		},
		{
			name: "a minimum of 0 is no bound",
			in:   v1alpha1.InstancesSpec{CPU: &v1alpha1.IntRange{Min: ptr.To[int32](0), Max: ptr.To[int32](2)}},
			want: "karpenter.k8s.aws/instance-cpu Lt 3; " + ct,
		},
		{
			name: "minimum 1 is Gt 0",
			in:   v1alpha1.InstancesSpec{CPU: &v1alpha1.IntRange{Min: ptr.To[int32](1)}},
			want: "karpenter.k8s.aws/instance-cpu Gt 0; " + ct,
		},
		{
			name: "memory in MiB",
			in:   v1alpha1.InstancesSpec{Memory: &v1alpha1.QuantityRange{Min: quantity("4Gi"), Max: quantity("16Gi")}},
			want: "karpenter.k8s.aws/instance-memory Gt 4095; karpenter.k8s.aws/instance-memory Lt 16385; " + ct,
		},
		{
			// 1G = 953.67 MiB: at least 954 MiB. 2G = 1907.35 MiB: at most 1907 MiB.
			name: "decimal memory rounds inwards",
			in:   v1alpha1.InstancesSpec{Memory: &v1alpha1.QuantityRange{Min: quantity("1G"), Max: quantity("2G")}},
			want: "karpenter.k8s.aws/instance-memory Gt 953; karpenter.k8s.aws/instance-memory Lt 1908; " + ct,
		},
		{
			name: "generation",
			in:   v1alpha1.InstancesSpec{MinGeneration: ptr.To[int32](5)},
			want: ct + "; karpenter.k8s.aws/instance-generation Gt 4",
		},
		{
			name: "lists are sorted and deduplicated",
			in: v1alpha1.InstancesSpec{
				Categories: []string{"r", "c", "r"}, Families: []string{"m7i", "c7g"},
				Architectures: []string{"arm64", "amd64"}, Zones: []string{"eu-west-1b", "eu-west-1a"},
			},
			want: "karpenter.k8s.aws/instance-category In c,r; karpenter.k8s.aws/instance-family In c7g,m7i; " + ct +
				"; kubernetes.io/arch In amd64,arm64; topology.kubernetes.io/zone In eu-west-1a,eu-west-1b",
		},
		{
			name: "include minus exclude",
			in:   v1alpha1.InstancesSpec{Include: []string{"m6i.large", "m6i.xlarge", "c7i.large"}, Exclude: []string{"m6i.xlarge", "r5.large"}},
			want: ct + "; node.kubernetes.io/instance-type In c7i.large,m6i.large",
		},
		{
			name: "exclude alone",
			in:   v1alpha1.InstancesSpec{Exclude: []string{"t3.nano", "t3.micro"}},
			want: ct + "; node.kubernetes.io/instance-type NotIn t3.micro,t3.nano",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reqs, err := requirements(c.in, "spot")
			if err != nil {
				t.Fatal(err)
			}
			// Order the expectation the way Render does: by key, then operator.
			if got := reqString(reqs); got != sortedReqString(c.want) {
				t.Errorf("requirements\n got %s\nwant %s", got, sortedReqString(c.want))
			}
		})
	}
}

// sortedReqString orders "key op values" parts by key, then operator.
func sortedReqString(s string) string {
	parts := strings.Split(s, "; ")
	for i := 1; i < len(parts); i++ {
		for j := i; j > 0 && parts[j] < parts[j-1]; j-- {
			parts[j], parts[j-1] = parts[j-1], parts[j]
		}
	}
	return strings.Join(parts, "; ")
}

func TestRequirementsErrors(t *testing.T) {
	cases := []struct {
		name string
		in   v1alpha1.InstancesSpec
		want string
	}{
		{"everything excluded", v1alpha1.InstancesSpec{Include: []string{"m6i.large"}, Exclude: []string{"m6i.large"}}, "also in exclude"},
		{"CPU min above max", v1alpha1.InstancesSpec{CPU: &v1alpha1.IntRange{Min: ptr.To[int32](8), Max: ptr.To[int32](4)}}, "above maximum"},
		{"no whole MiB in range", v1alpha1.InstancesSpec{Memory: &v1alpha1.QuantityRange{Min: quantity("1500Ki"), Max: quantity("1800Ki")}}, "above maximum"},
		{"generation 0", v1alpha1.InstancesSpec{MinGeneration: ptr.To[int32](0)}, "below 1"},
		{"value not a label value", v1alpha1.InstancesSpec{Families: []string{"m7i large"}}, "cannot be matched"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := requirements(c.in, "on-demand")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestBudget(t *testing.T) {
	cases := []struct {
		name string
		in   v1alpha1.DisruptionBudget
		want string // nodes reasons schedule duration
		err  string
	}{
		{name: "always active", in: v1alpha1.DisruptionBudget{Nodes: "10%"}, want: "10% [] <nil> <nil>"},
		{
			name: "days become hours",
			in:   v1alpha1.DisruptionBudget{Nodes: "0", Schedule: "0 0 * * SAT", Duration: "2d"},
			want: "0 [] 0 0 * * SAT 48h0m0s",
		},
		{
			name: "reasons are a sorted set",
			in:   v1alpha1.DisruptionBudget{Nodes: "1", Reasons: []v1alpha1.DisruptionReason{"Underutilized", "Drifted", "Underutilized"}},
			want: "1 [Drifted Underutilized] <nil> <nil>",
		},
		{name: "schedule without duration", in: v1alpha1.DisruptionBudget{Nodes: "0", Schedule: "@daily"}, err: "together"},
		{name: "duration without schedule", in: v1alpha1.DisruptionBudget{Nodes: "0", Duration: "1h"}, err: "together"},
		{name: "seconds", in: v1alpha1.DisruptionBudget{Nodes: "0", Schedule: "@daily", Duration: "90s"}, err: "whole number of minutes"},
		{name: "zero", in: v1alpha1.DisruptionBudget{Nodes: "0", Schedule: "@daily", Duration: "0m"}, err: "whole number of minutes"},
		{name: "bad cron", in: v1alpha1.DisruptionBudget{Nodes: "0", Schedule: "0 25 * * *", Duration: "1h"}, err: "not a cron expression"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := budget(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			schedule, duration := "<nil>", "<nil>"
			if b.Schedule != nil {
				schedule = *b.Schedule
			}
			if b.Duration != nil {
				duration = b.Duration.Duration.String()
			}
			if got := fmt.Sprintf("%s %v %s %s", b.Nodes, b.Reasons, schedule, duration); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestExpireAfter(t *testing.T) {
	cases := []struct{ in, want, err string }{
		{in: "Never", want: `"Never"`},
		{in: "", want: `"720h0m0s"`},
		{in: "14d", want: `"336h0m0s"`},
		{in: "1d12h", want: `"36h0m0s"`},
		{in: "90s", want: `"1m30s"`},
		{in: "0s", err: "positive"},
		{in: "forever", err: "not a duration"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			d, err := expireAfter(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("expireAfter(%q) = %s, want %s", c.in, got, c.want)
			}
		})
	}
}

// TestNoLimitsOnNodePools: the cluster's limits are a total the limits controller
// keeps across the NodePools; rendering them on each pool would multiply them.
func TestNoLimitsOnNodePools(t *testing.T) {
	p := &v1alpha1.ClusterPolicy{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: v1alpha1.ClusterPolicySpec{
		Cluster:   v1alpha1.ClusterIdentity{Name: "c", Region: "eu-west-1"},
		NodeClass: v1alpha1.NodeClassSpec{Role: "r"},
		Limits:    &v1alpha1.LimitsSpec{CPU: quantity("100"), Memory: quantity("400Gi"), Nodes: ptr.To[int32](7)},
	}}
	objs, err := Render(Input{Policy: p, Source: "local", Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	pools := 0
	for _, o := range objs {
		if np, ok := o.(*karpv1.NodePool); ok {
			pools++
			if np.Spec.Limits != nil {
				t.Errorf("NodePool %s carries limits %v", np.Name, np.Spec.Limits)
			}
		}
	}
	if pools != 2 {
		t.Fatalf("rendered %d NodePools, want 2", pools)
	}
}

func TestVolumeSize(t *testing.T) {
	cases := []struct{ in, want, err string }{
		{in: "100Gi", want: "100Gi"},
		{in: "2Ti", want: "2Ti"},
		{in: "500G", want: "500G"},
		{in: "1024Gi", want: "1Ti"},
		{in: "20480Mi", want: "20Gi"},
		{in: "1500Mi", want: "2Gi"},
		{in: "10737418240", want: "10Gi"},
		{in: "0", err: "not a positive size"},
		{in: "100Ti", err: "outside the sizes"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			q, err := volumeSize(resource.MustParse(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if q.String() != c.want {
				t.Errorf("volumeSize(%s) = %s, want %s", c.in, q.String(), c.want)
			}
		})
	}
}
