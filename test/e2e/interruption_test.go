package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/controllers/interruption"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// noticeBody is an EventBridge event as EC2 sends it to Ballast's queue: a Spot
// interruption warning or a rebalance recommendation for one instance.
func noticeBody(kind, instanceID string, at time.Time) string {
	detailType, detail := "EC2 Spot Instance Interruption Warning", map[string]string{"instance-id": instanceID, "instance-action": "terminate"}
	if kind == interruption.RebalanceRecommendationReason {
		detailType, detail = "EC2 Instance Rebalance Recommendation", map[string]string{"instance-id": instanceID}
	}
	body, _ := json.Marshal(map[string]any{
		"version": "0", "id": fmt.Sprintf("%s-%s-%d", kind, instanceID, at.UnixNano()), "detail-type": detailType, "source": "aws.ec2",
		"account": "123456789012", "time": at.UTC().Format(time.RFC3339), "region": "eu-west-1",
		"resources": []string{"arn:aws:ec2:eu-west-1:123456789012:instance/" + instanceID}, "detail": detail,
	})
	return string(body)
}

// sendNotice puts a notice on Ballast's interruption queue.
func sendNotice(t testing.TB, kind, instanceID string, at time.Time) {
	t.Helper()
	if _, err := sqsServer.Send(context.Background(), queueURL, []byte(noticeBody(kind, instanceID, at))); err != nil {
		t.Fatal(err)
	}
}

// spotPoolNow reads Ballast's Spot NodePool.
func spotPoolNow(ctx context.Context, t testing.TB) *karpv1.NodePool {
	t.Helper()
	var np karpv1.NodePool
	if err := kube.Client.Get(ctx, client.ObjectKey{Name: render.NodePoolName(e2eCluster, karpv1.CapacityTypeSpot)}, &np); err != nil {
		t.Fatal(err)
	}
	return &np
}

// setSteering sets the policy's spec.spot.interruptions until the test ends.
func setSteering(t testing.TB, excludeFor v1alpha1.Duration, minTypes int) {
	t.Helper()
	ctx := context.Background()
	patch := func(v any) {
		data, _ := json.Marshal(map[string]any{"spec": map[string]any{"spot": map[string]any{"interruptions": v}}})
		if err := kube.Client.Patch(ctx, &v1alpha1.ClusterPolicy{ObjectMeta: metav1.ObjectMeta{Name: e2eCluster}}, client.RawPatch(types.MergePatchType, data)); err != nil {
			t.Fatal(err)
		}
	}
	patch(map[string]any{"excludeFor": excludeFor, "minInstanceTypes": minTypes})
	t.Cleanup(func() { patch(nil) })
}

// offered is what the Spot NodePool offers now, counted the way the controller counts
// it (the built-in catalogue with kwok's types laid over it).
func offered(t testing.TB, np *karpv1.NodePool, steered bool) []string {
	t.Helper()
	prices, err := localcluster.KwokPrices("eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	file, err := cost.ParseCatalogue(prices)
	if err != nil {
		t.Fatal(err)
	}
	book := cost.DefaultCatalogue()
	book.Merge(file)
	reqs := render.Unsteered(np)
	if steered {
		reqs = np.Spec.Template.Spec.Requirements
	}
	return interruption.Supply(reqs, book)
}

// TestInterruptionSteersSpotCapacity: an interruption warning from Ballast's queue for
// a running Spot node leaves its instance type out of the Spot NodePool; the capacity
// Karpenter launches to replace the node is of another type; a flood of warnings for
// the replacement never takes the Spot supply below the floor; the exclusion ends on
// time.
func TestInterruptionSteersSpotCapacity(t *testing.T) {
	ctx := context.Background()
	const excludeFor = 45 * time.Second
	// A floor one below what the pool offers: one exclusion fits, a second does not.
	supply := offered(t, spotPoolNow(ctx, t), false)
	floor := len(supply) - 1
	setSteering(t, v1alpha1.Duration(excludeFor.String()), floor)

	ns := newNamespace(t)
	optIn(t, ns)
	if err := kube.Client.Create(ctx, deployment(ns, "steered", 1, "1", map[string]string{karpv1.CapacityTypeLabelKey: karpv1.CapacityTypeSpot})); err != nil {
		t.Fatal(err)
	}
	pods, err := kube.WaitPodsRunning(ctx, ns, appSelector("steered"), 1, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	node, err := kube.NodeOf(ctx, &pods[0])
	if err != nil {
		t.Fatal(err)
	}
	reclaimed := node.Labels[corev1.LabelInstanceTypeStable]
	id := interruption.InstanceID(node.Spec.ProviderID)
	if node.Labels[karpv1.NodePoolLabelKey] != spotPoolNow(ctx, t).Name || reclaimed == "" || id == "" {
		t.Fatalf("the pod runs on %s (pool %q, type %q, provider ID %q), not a node of Ballast's Spot pool", node.Name, node.Labels[karpv1.NodePoolLabelKey], reclaimed, node.Spec.ProviderID)
	}

	// Other tests' empty nodes of that type would take the replacement pod without a
	// launch: wait until Karpenter has consolidated them away.
	err = kube.Eventually(ctx, "no other Spot node of type "+reclaimed, 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		var nodes corev1.NodeList
		if err := kube.Client.List(ctx, &nodes, client.MatchingLabels{karpv1.NodePoolLabelKey: node.Labels[karpv1.NodePoolLabelKey], corev1.LabelInstanceTypeStable: reclaimed}); err != nil {
			return false, "", err
		}
		return len(nodes.Items) == 1, fmt.Sprintf("%d nodes", len(nodes.Items)), nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The warning, sent now; the exclusion appears in the NodePool.
	sentAt := time.Now()
	sendNotice(t, interruption.SpotInterruptionReason, id, sentAt)
	var excludedAt time.Time
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ex, _ := render.Steered(spotPoolNow(ctx, t)); slices.Contains(ex, reclaimed) {
			excludedAt = time.Now()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not left out of the Spot NodePool within 30 s of the warning", reclaimed)
		}
	}
	t.Logf("warning to exclusion of %s: %s (sent to the queue, received, recorded, NodePool applied)", reclaimed, excludedAt.Sub(sentAt).Round(time.Millisecond))

	// Karpenter drains the interrupted node (its own queue would); Ballast does not
	// touch it. The replacement is of another type.
	var claims karpv1.NodeClaimList
	if err := kube.Client.List(ctx, &claims); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(claims.Items, func(c karpv1.NodeClaim) bool { return c.Status.NodeName == node.Name })
	if i < 0 {
		t.Fatalf("no NodeClaim of node %s", node.Name)
	}
	if err := kube.Client.Delete(ctx, &claims.Items[i]); err != nil {
		t.Fatal(err)
	}
	var replacement *corev1.Node
	for deadline := time.Now().Add(3 * time.Minute); replacement == nil; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the pod of the interrupted node did not run again")
		}
		pods, err := kube.WaitPodsRunning(ctx, ns, appSelector("steered"), 1, time.Second)
		if err != nil || len(pods) != 1 || pods[0].Spec.NodeName == node.Name {
			continue
		}
		if replacement, err = kube.NodeOf(ctx, &pods[0]); err != nil {
			replacement = nil
		}
	}
	if got := replacement.Labels[corev1.LabelInstanceTypeStable]; got == reclaimed {
		t.Errorf("the replacement capacity is again %s, the type being reclaimed", got)
	} else {
		t.Logf("replacement node %s is %s", replacement.Name, got)
	}

	// A flood of warnings and recommendations for the replacement (with duplicates and
	// the first warning again) is recorded, but its type stays: a second exclusion
	// would leave fewer types than the floor.
	second := replacement.Labels[corev1.LabelInstanceTypeStable]
	secondID := interruption.InstanceID(replacement.Spec.ProviderID)
	for i := range 20 {
		kind := interruption.SpotInterruptionReason
		if i%2 == 1 {
			kind = interruption.RebalanceRecommendationReason
		}
		sendNotice(t, kind, secondID, time.Now())
	}
	sendNotice(t, interruption.SpotInterruptionReason, id, sentAt)
	held := func() bool {
		var p v1alpha1.ClusterPolicy
		if err := kube.Client.Get(ctx, client.ObjectKey{Name: e2eCluster}, &p); err != nil || p.Status.Interruptions == nil {
			return false
		}
		for _, e := range p.Status.Interruptions.Exclusions {
			if e.InstanceType == second && !e.Applied {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(30 * time.Second); !held(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the warnings for %s were not recorded as held by the floor", second)
		}
	}
	np := spotPoolNow(ctx, t)
	if ex, _ := render.Steered(np); !slices.Equal(ex, []string{reclaimed}) {
		t.Errorf("excluded %v after the flood, want only %s", ex, reclaimed)
	}
	if left := offered(t, np, true); len(left) < floor {
		t.Errorf("the Spot NodePool offers %d instance types after the flood, below the floor %d", len(left), floor)
	}
	var p v1alpha1.ClusterPolicy
	if err := kube.Client.Get(ctx, client.ObjectKey{Name: e2eCluster}, &p); err != nil {
		t.Fatal(err)
	}
	for _, h := range p.Status.Interruptions.Pools {
		if h.InstanceType == reclaimed && h.Interruptions != 1 {
			t.Errorf("history of %s counts %d interruptions for one warning delivered twice", reclaimed, h.Interruptions)
		}
	}

	// The exclusion ends on time: not before excludeFor after the warning, and soon
	// after.
	var endedAt time.Time
	for deadline := sentAt.Add(excludeFor + 30*time.Second); ; time.Sleep(100 * time.Millisecond) {
		if ex, _ := render.Steered(spotPoolNow(ctx, t)); !slices.Contains(ex, reclaimed) {
			endedAt = time.Now()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was still excluded 30 s after its exclusion ended", reclaimed)
		}
	}
	// The notice's time is written to the second.
	if early := sentAt.Truncate(time.Second).Add(excludeFor).Sub(endedAt); early > time.Second {
		t.Errorf("the exclusion ended %s early", early)
	}
	t.Logf("exclusion ended %s after the warning (excludeFor %s)", endedAt.Sub(sentAt).Round(time.Millisecond), excludeFor)
	// Karpenter drained the interrupted node; Ballast evicted nothing of its own.
	var events corev1.EventList
	if err := kube.Client.List(ctx, &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		if by := e.ReportingController + e.Source.Component; strings.Contains(by, "ballast") && strings.Contains(strings.ToLower(e.Reason), "evict") {
			t.Errorf("Ballast evicted %s: %s %s", e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
	// With room again under the floor, the held exclusion of the replacement's type
	// may apply now, until its own end.
	if ex, _ := render.Steered(spotPoolNow(ctx, t)); len(ex) > 1 || (len(ex) == 1 && ex[0] != second) {
		t.Errorf("excluded %v after the first exclusion ended, want at most %s", ex, second)
	}
}
