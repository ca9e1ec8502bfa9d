package coverage

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

func node(name, typ, capacity string) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		corev1.LabelInstanceTypeStable: typ, "karpenter.sh/capacity-type": capacity}}}
}

func policy(source v1alpha1.CommitmentSource, ris ...v1alpha1.ReservedInstance) *v1alpha1.ClusterPolicy {
	return &v1alpha1.ClusterPolicy{Spec: v1alpha1.ClusterPolicySpec{
		Cluster:     v1alpha1.ClusterIdentity{Name: "c", Region: "us-east-1"},
		Commitments: &v1alpha1.CommitmentsSpec{Enabled: true, Source: source, ReservedInstances: ris},
	}}
}

// TestCovering: the exact answer from Git or discovery, and the conservative one when
// the commitments cannot be read: the types last reported, else every On-Demand node.
func TestCovering(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	deleting := node("gone", "m5.large", "on-demand")
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	nodes := []corev1.Node{deleting, node("a", "m5.large", "on-demand"), node("b", "m5.large", "on-demand"),
		node("c", "c5.large", "on-demand"), node("s", "m5.large", "spot"), {ObjectMeta: metav1.ObjectMeta{Name: "no-type"}}}
	twoM5 := v1alpha1.ReservedInstance{InstanceType: "m5.large", Count: 1}
	found := func(c cost.Commitments, err error) Discover {
		return func(context.Context, string) (cost.Commitments, error) { return c, err }
	}
	reported := &v1alpha1.CommitmentsStatus{ReservedInstances: []v1alpha1.ReservedInstanceUsage{{InstanceType: "c5.large", Committed: 2}}}
	for _, tc := range []struct {
		name     string
		policy   *v1alpha1.ClusterPolicy
		discover Discover
		want     []string
		unsure   string
	}{
		{name: "disabled: none", policy: &v1alpha1.ClusterPolicy{}},
		{name: "Git: 1 reserved m5.large, the first m5.large running covers (not one being deleted)",
			policy: policy(v1alpha1.CommitmentsFromGit, twoM5), want: []string{"a"}},
		{name: "discovered: 2 c5.large reserved", policy: policy(v1alpha1.CommitmentsFromAWS),
			discover: found(cost.Commitments{ReservedInstances: []cost.ReservedInstance{{InstanceType: "c5.large", Count: 2}}}, nil), want: []string{"c"}},
		{name: "discovery fails, nothing reported yet: every On-Demand node", policy: policy(v1alpha1.CommitmentsFromAWS),
			discover: found(cost.Commitments{}, errors.New("AccessDenied")), want: []string{"a", "b", "c"}, unsure: "AccessDenied"},
		{name: "discovery not configured: every On-Demand node", policy: policy(v1alpha1.CommitmentsFromAWS),
			want: []string{"a", "b", "c"}, unsure: "not configured"},
		{name: "discovery fails: the types last reported", policy: func() *v1alpha1.ClusterPolicy {
			p := policy(v1alpha1.CommitmentsFromAWS)
			p.Status.Commitments = reported
			return p
		}(), discover: found(cost.Commitments{}, errors.New("Throttling")), want: []string{"c"}, unsure: "last reported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Covering(context.Background(), tc.policy, nodes, tc.discover, nil, now)
			if names := slices.Sorted(maps.Keys(got.Covering)); !slices.Equal(names, tc.want) {
				t.Errorf("covering = %v, want %v", names, tc.want)
			}
			if (tc.unsure == "") != (got.Unsure == "") || !strings.Contains(got.Unsure, tc.unsure) {
				t.Errorf("unsure = %q, want it to say %q", got.Unsure, tc.unsure)
			}
		})
	}
	// A reservation of a type without a Reserved price: the coverage cannot be
	// computed, so every node it could cover is covering.
	got := Covering(context.Background(), policy(v1alpha1.CommitmentsFromGit, v1alpha1.ReservedInstance{InstanceType: "x9.large", Count: 1}),
		[]corev1.Node{node("x1", "x9.large", "on-demand"), node("x2", "x9.large", "on-demand"), node("m", "m5.large", "on-demand")}, nil, nil, now)
	if names := slices.Sorted(maps.Keys(got.Covering)); !slices.Equal(names, []string{"x1", "x2"}) || !strings.Contains(got.Unsure, "x9.large") {
		t.Errorf("without a Reserved price: covering %v, unsure %q", names, got.Unsure)
	}
}
