package interruption_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	awscloud "github.com/ballast-dev/ballast/cloud/aws"
	"github.com/ballast-dev/ballast/controllers/interruption"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// BenchmarkMessageToExclusion measures what the issue asks to be within a second: from
// an interruption warning sent to Ballast's queue (the real SQS protocol, fauxqs) for a
// Spot node, through the consumer's long poll, the controller's status write and its
// apply, to the Spot NodePool (read from the API server) leaving the node's instance
// type out. One operation is one warning for a new node of a type not yet excluded;
// ms/exclusion is the mean, p50-ms and p99-ms the percentiles.
func BenchmarkMessageToExclusion(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := env.Client
	sqs, err := localcluster.StartSQS(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer sqs.Stop()
	url, err := sqs.CreateQueue(ctx, fmt.Sprintf("bench-steer-%d", b.N), 30*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	queue, err := awscloud.NewInterruptionQueue(sqs.Config(), url)
	if err != nil {
		b.Fatal(err)
	}

	name := fmt.Sprintf("bench-%d", b.N)
	policy := &v1alpha1.ClusterPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.ClusterPolicySpec{
			Cluster:   v1alpha1.ClusterIdentity{Name: name, Region: "eu-west-1"},
			NodeClass: v1alpha1.NodeClassSpec{Role: "KarpenterNodeRole-bench"},
			Spot: v1alpha1.SpotSpec{Interruptions: v1alpha1.InterruptionsSpec{
				ExcludeFor: "1h", MinInstanceTypes: ptr.To[int32](1),
			}},
		},
	}
	if err := c.Create(ctx, policy); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Delete(context.Background(), policy) }()
	applyRendered(b, policy, nil)
	pool := render.NodePoolName(name, v1alpha1.CapacitySpot)
	defer func() {
		_ = c.Delete(context.Background(), &karpv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: pool}})
	}()
	var np karpv1.NodePool
	if err := c.Get(ctx, client.ObjectKey{Name: pool}, &np); err != nil {
		b.Fatal(err)
	}
	book := cost.DefaultCatalogue()
	types := interruption.Supply(render.Unsteered(&np), book)

	mgr := newManager(b)
	r := &interruption.Reconciler{Client: mgr.GetClient(), API: mgr.GetAPIReader(), Cluster: name, Shapes: book}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		b.Fatal(err)
	}
	if err := mgr.Add(&interruption.QueueReader{Consumer: &interruption.Consumer{Queue: queue, Handle: r.Handle}}); err != nil {
		b.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("cache did not sync")
	}

	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		typ := types[i%(len(types)-1)]
		id := fmt.Sprintf("i-bench%d-%d", b.N, i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", name, i), Labels: map[string]string{
				corev1.LabelInstanceTypeStable: typ, corev1.LabelTopologyZone: "eu-west-1a",
				karpv1.CapacityTypeLabelKey: karpv1.CapacityTypeSpot, karpv1.NodePoolLabelKey: pool,
			}},
			Spec: corev1.NodeSpec{ProviderID: "aws:///eu-west-1a/" + id},
		}
		if err := c.Create(ctx, node); err != nil {
			b.Fatal(err)
		}
		defer func() { _ = c.Delete(context.Background(), node) }()
		for {
			var nodes corev1.NodeList
			if err := mgr.GetClient().List(ctx, &nodes, client.MatchingFields{interruption.InstanceIndex: id}); err == nil && len(nodes.Items) == 1 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		body := fmt.Appendf(nil, `{"version":"0","id":"%s","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2",`+
			`"account":"123456789012","time":"%s","region":"eu-west-1","resources":[],"detail":{"instance-id":"%s","instance-action":"terminate"}}`,
			id, time.Now().UTC().Format(time.RFC3339), id)
		b.StartTimer()
		start := time.Now()
		if _, err := sqs.Send(ctx, url, body); err != nil {
			b.Fatal(err)
		}
		for {
			var got karpv1.NodePool
			if err := c.Get(ctx, client.ObjectKey{Name: pool}, &got); err != nil {
				b.Fatal(err)
			}
			if ex, _ := render.Steered(&got); slices.Contains(ex, typ) && recorded(ctx, b, name, id) {
				break
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("%s not excluded a minute after the warning", typ)
			}
			time.Sleep(2 * time.Millisecond)
		}
		latencies = append(latencies, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	var sum time.Duration
	for _, l := range latencies {
		sum += l
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(sum)/float64(len(latencies)), "ms/exclusion")
	b.ReportMetric(ms(latencies[len(latencies)/2]), "p50-ms")
	b.ReportMetric(ms(latencies[(len(latencies)*99)/100]), "p99-ms")
}

// recorded reports whether the policy's status counts the instance's notice.
func recorded(ctx context.Context, b *testing.B, name, id string) bool {
	var p v1alpha1.ClusterPolicy
	if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &p); err != nil {
		b.Fatal(err)
	}
	return p.Status.Interruptions != nil && slices.ContainsFunc(p.Status.Interruptions.Recent, func(n v1alpha1.InterruptionNotice) bool { return n.InstanceID == id })
}
