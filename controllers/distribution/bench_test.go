package distribution_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ballast-dev/ballast/controllers/distribution"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/split"
)

const (
	// admissionPods is the number of pods each phase of BenchmarkAdmission creates.
	admissionPods = 1000
	// benchWebhookLabel marks the namespaces whose pods go through the benchmark's webhook.
	benchWebhookLabel = "bench.ballast.dev/webhook"
)

// BenchmarkAdmission measures what the distribution webhook adds to pod creation
// through the real kube-apiserver, with one webhook replica and with two. Each
// iteration creates 1,000 pods of a Deployment (replicas: 1000) one after the other,
// as the ReplicaSet controller would, in a namespace the webhook does not select and in
// one it does, a hundred of each in turn (so that both see the same load of this shared
// machine), and records the latency of every Create call. The webhook is the Placer
// served over TLS from this process and registered like Ballast registers it
// (failurePolicy Ignore, 5s timeout), with the production clients: reads from an
// informer cache, the workload's pods from the PodIndex. The first replica is elected
// and decides from memory; with two, the API server's calls alternate between them
// (as a Service spreads them) and the second forwards its decisions to the first over
// HTTPS. It reports the p50 and p99 of both and their ratios, and fails unless every
// webhook pod is placed and the split equals the rule's target.
//
// BenchmarkAdmissionFloor does the same with a webhook that answers every admission
// "allowed" at once: what any webhook costs on this machine, however fast its answer.
// Its handler=controller-runtime case answers through controller-runtime's admission
// webhook (which decodes the whole AdmissionReview, as Ballast's does); handler=raw is
// a bare net/http handler that only finds the request's uid: the API server's own share;
// handler=raw-patch that handler answering with the patch Ballast gives a Spot pod.
//
//	go test -run '^$' -bench BenchmarkAdmission -benchtime 1x ./controllers/distribution/
func BenchmarkAdmission(b *testing.B) {
	for _, replicas := range []int{1, 2} {
		b.Run(fmt.Sprintf("replicas=%d", replicas), func(b *testing.B) {
			without, with, webhook := admissions(b, fmt.Sprintf("r%d", replicas), replicas, admissionPods, 100)
			p50Without, p99Without := percentile(without, 50), percentile(without, 99)
			p50With, p99With := percentile(with, 50), percentile(with, 99)
			b.ReportMetric(ms(p50Without), "without-p50-ms")
			b.ReportMetric(ms(p99Without), "without-p99-ms")
			b.ReportMetric(ms(p50With), "with-p50-ms")
			b.ReportMetric(ms(p99With), "with-p99-ms")
			b.ReportMetric(float64(p50With)/float64(p50Without), "p50-ratio")
			b.ReportMetric(float64(p99With)/float64(p99Without), "p99-ratio")
			// The webhook's own share: from the request reaching it to its response written.
			b.ReportMetric(ms(percentile(webhook, 50)), "webhook-p50-ms")
			b.ReportMetric(ms(percentile(webhook, 99)), "webhook-p99-ms")
			b.Logf("p50 by position in the batch of %d, per hundred pods, without / with the webhook: %s",
				admissionPods, byHundreds(without, with))
		})
	}
}

// BenchmarkAdmissionFloor: see BenchmarkAdmission.
func BenchmarkAdmissionFloor(b *testing.B) {
	for _, tc := range []struct {
		name     string
		replicas int
	}{{"controller-runtime", 0}, {"raw", rawFloor}, {"raw-patch", rawPatchFloor}} {
		b.Run("handler="+tc.name, func(b *testing.B) {
			without, with, _ := admissions(b, "floor-"+tc.name, tc.replicas, admissionPods, 100)
			b.ReportMetric(ms(percentile(without, 50)), "without-p50-ms")
			b.ReportMetric(ms(percentile(with, 50)), "with-p50-ms")
			b.ReportMetric(float64(percentile(with, 50))/float64(percentile(without, 50)), "p50-ratio")
			b.ReportMetric(float64(percentile(with, 99))/float64(percentile(without, 99)), "p99-ratio")
		})
	}
}

// rawFloor, as admissions' replicas, serves the bare floor webhook (rawAllow);
// rawPatchFloor the same answering with a fixed patch (rawPatch).
const (
	rawFloor      = -1
	rawPatchFloor = -2
)

// rawPatch is the patch Ballast answers a Spot pod of the benchmark's Deployment with
// (CostOptimized): what applying such a patch costs the API server, with no decision.
var rawPatch = base64.StdEncoding.EncodeToString([]byte(`[` +
	`{"op":"add","path":"/metadata/labels","value":{"app":"web","ballast.dev/capacity":"spot"}},` +
	`{"op":"add","path":"/metadata/annotations","value":{"ballast.dev/reason":"split","ballast.dev/reservation":"0c7c0c2e-7a57-4b55-9c38-3c6c4a0f0f1e"}},` +
	`{"op":"add","path":"/spec/nodeSelector","value":{"karpenter.sh/capacity-type":"spot"}},` +
	`{"op":"add","path":"/spec/tolerations","value":[{"key":"ballast.dev/spot","operator":"Exists","effect":"NoSchedule"}]},` +
	`{"op":"add","path":"/spec/affinity","value":{"podAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[` +
	`{"weight":100,"podAffinityTerm":{"labelSelector":{"matchLabels":{"app":"web","ballast.dev/capacity":"spot"}},"topologyKey":"kubernetes.io/hostname"}}]}}}]`))

// rawAllow answers every AdmissionReview "allowed" having read no more of it than its
// request's uid (the first "uid" of the body: the request's, which precedes the object).
func rawAllow(w http.ResponseWriter, r *http.Request) { rawAnswer(w, r, "") }

// rawAnswer answers like rawAllow, with the (base64) patch when there is one.
func rawAnswer(w http.ResponseWriter, r *http.Request, patch string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	const key = `"uid":"`
	i := bytes.Index(body, []byte(key))
	if err != nil || i < 0 {
		http.Error(w, "no uid", http.StatusBadRequest)
		return
	}
	uid := body[i+len(key):]
	uid = uid[:max(bytes.IndexByte(uid, '"'), 0)]
	w.Header().Set("Content-Type", "application/json")
	if patch != "" {
		_, _ = fmt.Fprintf(w, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":%q,"allowed":true,"patchType":"JSONPatch","patch":%q}}`, uid, patch)
		return
	}
	_, _ = fmt.Fprintf(w, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":%q,"allowed":true}}`, uid)
}

// scaleUpPods is the size of BenchmarkAdmissionScaleUp's Deployment.
const scaleUpPods = 3000

// BenchmarkAdmissionScaleUp creates the 3,000 pods of a 3,000-replica Deployment
// through the webhook (one replica, deciding from memory) and reports the p50 of the
// webhook's answer and of the Create call for the first and the last 300 pods, and
// their ratios: flat (about 1) when the cost of a decision does not grow with the
// workload.
//
//	go test -run '^$' -bench BenchmarkAdmissionScaleUp -benchtime 1x ./controllers/distribution/
func BenchmarkAdmissionScaleUp(b *testing.B) {
	_, with, webhook := admissions(b, "scale", 1, scaleUpPods, scaleUpPods)
	const part = scaleUpPods / 10
	n := len(webhook)
	first, last := percentile(webhook[:part], 50), percentile(webhook[n-part:], 50)
	b.ReportMetric(ms(first), "webhook-first-p50-ms")
	b.ReportMetric(ms(last), "webhook-last-p50-ms")
	b.ReportMetric(float64(last)/float64(first), "webhook-last/first")
	n = len(with)
	first, last = percentile(with[:part], 50), percentile(with[n-part:], 50)
	b.ReportMetric(ms(first), "create-first-p50-ms")
	b.ReportMetric(ms(last), "create-last-p50-ms")
	b.ReportMetric(float64(last)/float64(first), "create-last/first")
}

// admissions runs the benchmark's iterations: webhook replicas serving the API server,
// pods pods created without and with the webhook, chunk at a time in turn. It returns
// the Create latencies without and with the webhook and the webhook's own answers.
func admissions(b *testing.B, name string, replicas, pods, chunk int) (without, with, webhook []time.Duration) {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	ctx := b.Context()
	const cluster = "bench"
	recordNS, sc := recordNamespace(b), newServingCert(b)
	var hooks []http.Handler
	var first *replica
	for i := range replicas {
		r := newReplica(b, cluster, recordNS, fmt.Sprintf("%s-%d", name, i), sc)
		if first == nil {
			first = r
		}
		hooks = append(hooks, distribution.Webhook(r.placer))
	}
	switch {
	case replicas == rawFloor:
		hooks = append(hooks, http.HandlerFunc(rawAllow))
	case replicas == rawPatchFloor:
		hooks = append(hooks, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rawAnswer(w, r, rawPatch) }))
	case first == nil: // the floor: a webhook that decides nothing
		hooks = append(hooks, distribution.Webhook(admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
			return admission.Allowed("")
		})))
	default:
		first.elect(b)
	}
	handler := &timedHandler{next: &roundRobin{next: hooks}}
	serveWebhook(b, handler, name)

	for b.Loop() {
		b.StopTimer()
		plainNS, plainRS := fixture(b, cluster, int32(pods), 2, 30)   //nolint:gosec // small
		placedNS, placedRS := fixture(b, cluster, int32(pods), 2, 30, //nolint:gosec // small
			map[string]string{benchWebhookLabel: name, v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled})
		if first != nil {
			waitWebhook(b, placedNS)
			waitCached(b, first.placer.Client, placedRS)
		}
		b.StartTimer()

		handler.start()
		handler.pause(false)
		for done := 0; done < pods; done += chunk {
			n := min(chunk, pods-done)
			without = append(without, createPods(b, plainRS, n)...)
			handler.pause(true)
			with = append(with, createPods(b, placedRS, n)...)
			handler.pause(false)
		}
		b.StopTimer()
		if n := len(handler.stop()); n != pods {
			b.Fatalf("the webhook answered %d admissions, want %d", n, pods)
		}
		if n := placedCount(b, plainNS); n != 0 {
			b.Fatalf("the webhook placed %d pods of a namespace it does not select", n)
		}
		if first != nil {
			verifySplit(ctx, b, cluster, placedNS, placedRS)
		}
		deletePods(b, plainNS)
		deletePods(b, placedNS)
		b.StartTimer()
	}
	return without, with, handler.all
}

// roundRobin spreads requests over the replicas in turn, as a Service does.
type roundRobin struct {
	next []http.Handler
	n    atomic.Uint64
}

func (r *roundRobin) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.next[int(r.n.Add(1)%uint64(len(r.next)))].ServeHTTP(w, req) //nolint:gosec // small
}

// byHundreds formats the p50 latency of each hundred positions of the batches, which
// shows whether a creation gets slower as the workload grows.
func byHundreds(without, with []time.Duration) string {
	var out []string
	for start := 0; start < admissionPods; start += 100 {
		var plain, placed []time.Duration
		for i := range with {
			if pos := i % admissionPods; pos >= start && pos < start+100 {
				plain, placed = append(plain, without[i]), append(placed, with[i])
			}
		}
		out = append(out, fmt.Sprintf("%.1f/%.1f", ms(percentile(plain, 50)), ms(percentile(placed, 50))))
	}
	return strings.Join(out, " ") + " ms"
}

// timedHandler records how long each request it serves takes while recording.
type timedHandler struct {
	next http.Handler

	mu        sync.Mutex
	recording bool
	batch     []time.Duration
	all       []time.Duration
}

func (h *timedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h.next.ServeHTTP(w, r)
	d := time.Since(start)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.recording {
		h.batch = append(h.batch, d)
	}
}

func (h *timedHandler) start() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recording, h.batch = true, nil
}

// pause sets whether the requests served are recorded (the webhook sees no request of
// the namespaces it does not select, but its probes).
func (h *timedHandler) pause(recording bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recording = recording
}

// stop ends recording and returns the durations of the requests served since start.
func (h *timedHandler) stop() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recording = false
	h.all = append(h.all, h.batch...)
	return h.batch
}

// createPods creates n pods of the ReplicaSet one after the other, as its controller
// would, and returns the latency of each Create call.
func createPods(tb testing.TB, rs *appsv1.ReplicaSet, n int) []time.Duration {
	tb.Helper()
	ctx := context.Background()
	out := make([]time.Duration, 0, n)
	for range n {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: rs.Namespace, GenerateName: rs.Name + "-", Labels: rs.Spec.Template.Labels,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID,
					Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
				}},
			},
			Spec: *rs.Spec.Template.Spec.DeepCopy(),
		}
		start := time.Now()
		err := env.Client.Create(ctx, pod)
		out = append(out, time.Since(start))
		if err != nil {
			tb.Fatalf("failed to create pod %d of %s/%s: %v", len(out), rs.Namespace, rs.Name, err)
		}
	}
	return out
}

// verifySplit fails unless every pod in the namespace is placed and the split equals
// the target of the rule that applies to the Deployment.
func verifySplit(ctx context.Context, tb testing.TB, cluster, ns string, rs *appsv1.ReplicaSet) {
	tb.Helper()
	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		tb.Fatal(err)
	}
	var got split.Counts
	for i := range pods.Items {
		switch pods.Items[i].Labels[v1alpha1.CapacityLabel] {
		case v1alpha1.CapacityOnDemand:
			got.OnDemand++
		case v1alpha1.CapacitySpot:
			got.Spot++
		default:
			tb.Fatalf("pod %s/%s was admitted without placement", ns, pods.Items[i].Name)
		}
	}
	var policy v1alpha1.ClusterPolicy
	var dep appsv1.Deployment
	if err := env.Client.Get(ctx, client.ObjectKey{Name: cluster}, &policy); err != nil {
		tb.Fatal(err)
	}
	rules, err := distribution.RulesIn(ctx, env.Client, ns)
	if err != nil {
		tb.Fatal(err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: metav1.GetControllerOf(rs).Name}, &dep); err != nil {
		tb.Fatal(err)
	}
	rule, err := split.Resolve(&policy, rules, split.Workload{Namespace: ns, Name: dep.Name, Labels: dep.Labels, Annotations: dep.Annotations})
	if err != nil {
		tb.Fatal(err)
	}
	if want := rule.Target(*dep.Spec.Replicas); got != want {
		tb.Fatalf("the webhook placed %s, want %s", got, want)
	}
}

// placedCount returns how many pods in the namespace carry a placement.
func placedCount(tb testing.TB, ns string) int {
	tb.Helper()
	var pods corev1.PodList
	if err := env.Client.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		tb.Fatal(err)
	}
	n := 0
	for i := range pods.Items {
		if _, ok := pods.Items[i].Labels[v1alpha1.CapacityLabel]; ok {
			n++
		}
	}
	return n
}

// deletePods deletes every pod of the namespace; pods on no node go at once.
func deletePods(tb testing.TB, ns string) {
	tb.Helper()
	ctx := context.Background()
	if err := env.Client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), client.GracePeriodSeconds(0)); err != nil {
		tb.Fatal(err)
	}
	poll(tb, "the pods of "+ns+" to be gone", func() (bool, error) {
		var pods corev1.PodList
		err := env.Client.List(ctx, &pods, client.InNamespace(ns))
		return err == nil && len(pods.Items) == 0, err
	})
}

// cachedClient returns a client that reads from an informer cache, as the webhook does
// in the manager, with the informers the Placer reads already synced, and the PodIndex
// on its pod informer.
func cachedClient(b testing.TB) (client.Client, *distribution.PodIndex) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	informers, err := cache.New(env.Config, cache.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		if err := informers.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "cache:", err)
		}
	}()
	for _, obj := range []client.Object{
		&corev1.Pod{}, &corev1.Node{}, &appsv1.ReplicaSet{}, &appsv1.Deployment{}, &appsv1.StatefulSet{},
		&v1alpha1.ClusterPolicy{}, &v1alpha1.WorkloadDistributionRule{},
	} {
		if _, err := informers.GetInformer(ctx, obj); err != nil {
			b.Fatal(err)
		}
	}
	if !informers.WaitForCacheSync(ctx) {
		b.Fatal("the cache did not sync")
	}
	c, err := client.New(env.Config, client.Options{Scheme: env.Client.Scheme(), Cache: &client.CacheOptions{Reader: informers}})
	if err != nil {
		b.Fatal(err)
	}
	pods, err := informers.GetInformer(ctx, &corev1.Pod{})
	if err != nil {
		b.Fatal(err)
	}
	index, err := distribution.NewPodIndex(pods, c)
	if err != nil {
		b.Fatal(err)
	}
	poll(b, "the pod index to sync", func() (bool, error) { return index.Synced(), nil })
	return c, index
}

func uncachedClient(tb testing.TB) client.Client {
	tb.Helper()
	c, err := client.New(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// waitCached waits until the cache holds the ReplicaSet, its Deployment and the rule
// of its namespace, as it would long before the ReplicaSet controller creates pods.
func waitCached(tb testing.TB, c client.Reader, rs *appsv1.ReplicaSet) {
	tb.Helper()
	ctx := context.Background()
	poll(tb, "the cache to hold "+rs.Namespace+"/"+rs.Name, func() (bool, error) {
		var rules v1alpha1.WorkloadDistributionRuleList
		if err := c.List(ctx, &rules, client.InNamespace(rs.Namespace)); err != nil || len(rules.Items) == 0 {
			return false, err
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(rs), &appsv1.ReplicaSet{}); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		if err := c.Get(ctx, client.ObjectKey{Name: rs.Namespace}, &corev1.Namespace{}); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		dep := client.ObjectKey{Namespace: rs.Namespace, Name: metav1.GetControllerOf(rs).Name}
		return client.IgnoreNotFound(c.Get(ctx, dep, &appsv1.Deployment{})) == nil, nil
	})
}

// serveWebhook serves handler over TLS on a loopback port and registers it with the API
// server for pod creations in the namespaces labelled benchWebhookLabel, the way
// Ballast's webhook configuration does (failurePolicy Ignore, 5s timeout).
func serveWebhook(b *testing.B, handler http.Handler, label string) {
	b.Helper()
	caPEM, serving := selfSignedServing(b)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(distribution.WebhookPath, handler)
	server := &http.Server{
		Handler:           mux,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{serving}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		if err := server.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "webhook:", err)
		}
	}()
	config := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "ballast-bench-"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "pods.bench.ballast.dev",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				URL: ptr.To("https://" + l.Addr().String() + distribution.WebhookPath), CABundle: caPEM,
			},
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			TimeoutSeconds:          ptr.To[int32](5),
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{benchWebhookLabel: label}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
					Scope: ptr.To(admissionregistrationv1.NamespacedScope),
				},
			}},
		}},
	}
	if err := env.Client.Create(context.Background(), config); err != nil {
		_ = server.Close()
		b.Fatalf("failed to register the webhook: %v", err)
	}
	b.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), config)
		_ = server.Close()
	})
}

// waitWebhook creates probe pods in the namespace until the API server sends one
// through the webhook (the API server loads webhook configurations asynchronously),
// then deletes them. The probes claim a DaemonSet as their owner, so the Placer only
// adds the Spot toleration and records nothing in the workload's ledger.
func waitWebhook(tb testing.TB, ns string) {
	tb.Helper()
	ctx := context.Background()
	probe := map[string]string{"bench.ballast.dev/probe": "true"}
	poll(tb, "the webhook to admit pods in "+ns, func() (bool, error) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "probe-", Labels: probe, OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "DaemonSet", Name: "probe", UID: "probe", Controller: ptr.To(true),
			}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		}
		if err := env.Client.Create(ctx, pod); err != nil {
			return false, err
		}
		return slices.ContainsFunc(pod.Spec.Tolerations, func(t corev1.Toleration) bool {
			return t.Key == v1alpha1.CapacityTaintKey
		}), nil
	})
	if err := env.Client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), client.MatchingLabels(probe)); err != nil {
		tb.Fatal(err)
	}
}

// poll checks cond every 100ms for up to 30s and fails with what it waited for.
func poll(tb testing.TB, what string, cond func() (bool, error)) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s (last error: %v)", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// selfSignedServing returns a self-signed CA (PEM, for the caBundle) and a serving
// certificate for 127.0.0.1 signed by it, both EC P-256.
func selfSignedServing(tb testing.TB) ([]byte, tls.Certificate) {
	tb.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ballast-bench-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		tb.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
}

// percentile returns the p-th percentile of the latencies by nearest rank.
func percentile(latencies []time.Duration, p int) time.Duration {
	if len(latencies) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(latencies))
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
