package distribution_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/controllers/distribution"
	"github.com/ballast-dev/ballast/controllers/internal/podstore"
	"github.com/ballast-dev/ballast/render"
)

// replica is one webhook replica of the controller as the manager runs it: a cached
// Placer with its PodIndex, a Decider (started when elected), a Forwarder to the
// published decider, and an HTTPS server answering forwarded decisions.
type replica struct {
	placer  *distribution.Placer
	decider *distribution.Decider
	stop    func()
}

// servingCert is the one serving certificate every replica of a test presents, as
// the replicas of a controller share theirs.
type servingCert struct {
	caPEM []byte
	cert  tls.Certificate
}

func newServingCert(t testing.TB) servingCert {
	t.Helper()
	caPEM, cert := selfSignedServing(t)
	return servingCert{caPEM: caPEM, cert: cert}
}

// newReplica starts a replica whose decider record lives in recordNS.
func newReplica(t testing.TB, cluster, recordNS, name string, sc servingCert) *replica {
	t.Helper()
	p := cachedPlacer(t, cluster)
	// A decision through the ledger takes at most this budget; the decider's warm-up
	// must outlast it (as production's 10s outlasts 5s of record and the 2s budget).
	p.Timeout = 5 * time.Second
	caPEM, serving := sc.caPEM, sc.cert
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(distribution.DecidePath, &distribution.DecideHandler{Placer: p})
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{serving}, MinVersion: tls.VersionTLS12}}
	go func() {
		if err := server.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "decide server:", err)
		}
	}()
	t.Cleanup(func() { _ = server.Close() })
	p.Decider = &distribution.Decider{API: p.API, Index: p.Index, Identity: name, Address: "https://" + l.Addr().String(),
		Namespace: recordNS, Cluster: cluster, Warmup: 6 * time.Second}
	// The decider warms up for longer than a replica trusts the record it read plus
	// a decision's budget.
	p.Forwarder = &distribution.HTTPForwarder{API: p.API, Namespace: recordNS, Cluster: cluster, Self: name, Client: trusting(t, caPEM),
		RecordTTL: 200 * time.Millisecond, Timeout: 4 * time.Second}
	return &replica{placer: p, decider: p.Decider}
}

// trusting returns an HTTPS client trusting the test CA (in production the replicas
// pin their shared serving certificate instead: PinnedClient).
func trusting(t testing.TB, caPEM []byte) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("bad CA")
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// elect starts the replica's decider, as winning the leader election does, and waits
// until it decides from memory.
func (r *replica) elect(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.decider.Start(ctx)
	}()
	r.stop = func() { cancel(); <-done }
	t.Cleanup(r.stop)
	poll(t, "the decider to decide from memory", func() (bool, error) { return r.decider.Deciding(), nil })
}

// recordNamespace creates the namespace standing for Ballast's own.
func recordNamespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ballast-"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// race admits n pods of the ReplicaSet at once, pod i through replicas[i%len], calling
// between(i) before pod i starts, and returns the classes placed.
func race(t *testing.T, replicas []*replica, ns string, rs *appsv1.ReplicaSet, n int, between func(i int)) map[string]int {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for i := range n {
		if between != nil {
			between(i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			capacity := admit(t, replicas[i%len(replicas)].placer, ns, rs)
			mu.Lock()
			got[capacity]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return got
}

// ledgerOf returns the workload's ledger, or nil when none was written.
func ledgerOf(t *testing.T, ns string, rs *appsv1.ReplicaSet) *coordinationv1.Lease {
	t.Helper()
	dep := metav1.GetControllerOf(rs)
	var d appsv1.Deployment
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: dep.Name}, &d); err != nil {
		t.Fatal(err)
	}
	var lease coordinationv1.Lease
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "ballast-placement-" + string(d.UID)}, &lease)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return &lease
}

// TestRacingAdmissionsThroughTheDecider: two replicas, one elected; 40 admissions race
// through both. The leader decides its own from memory, the other replica forwards
// its decisions to it over HTTPS, and the split is exact without a single write to
// the API server: the workload's ledger is never written.
func TestRacingAdmissionsThroughTheDecider(t *testing.T) {
	ns, rs := fixture(t, "decider", 40, 2, 30) // 14 On-Demand, 26 Spot
	recordNS, sc := recordNamespace(t), newServingCert(t)
	leader, other := newReplica(t, "decider", recordNS, "a", sc), newReplica(t, "decider", recordNS, "b", sc)
	leader.elect(t)
	got := race(t, []*replica{leader, other}, ns, rs, 40, nil)
	if got["on-demand"] != 14 || got["spot"] != 26 {
		t.Fatalf("40 racing admissions placed %v, want 14 on-demand and 26 spot", got)
	}
	if l := ledgerOf(t, ns, rs); l != nil {
		t.Fatalf("the decider wrote the ledger: %v", l.Annotations)
	}
}

// TestRacingAdmissionsWithoutAReachableDecider: the published decider is gone (its
// address refuses connections) and no replica is elected yet; both replicas decide
// through the ledger, and the split is exact.
func TestRacingAdmissionsWithoutAReachableDecider(t *testing.T) {
	ns, rs := fixture(t, "nodecider", 40, 2, 30)
	recordNS, sc := recordNamespace(t), newServingCert(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "https://" + closed.Addr().String()
	_ = closed.Close()
	record := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: recordNS, Name: distribution.RecordName("nodecider"),
			Annotations: map[string]string{"ballast.dev/address": gone}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("crashed")},
	}
	if err := env.Client.Create(context.Background(), record); err != nil {
		t.Fatal(err)
	}
	replicas := []*replica{newReplica(t, "nodecider", recordNS, "a", sc), newReplica(t, "nodecider", recordNS, "b", sc)}
	got := race(t, replicas, ns, rs, 40, nil)
	if got["on-demand"] != 14 || got["spot"] != 26 {
		t.Fatalf("40 racing admissions placed %v, want 14 on-demand and 26 spot", got)
	}
	if ledgerOf(t, ns, rs) == nil {
		t.Fatal("no decision went through the ledger")
	}
}

// TestLeaderChangeKeepsTheSplitExact: 60 admissions race through two replicas while
// leadership moves from one to the other in their middle: the old leader steps down
// (its unobserved decisions go to the ledger), every decision goes through the ledger
// while the new one warms up, and the new one decides from memory after it. None of
// the pods is ever created, so nothing but the reservations carries the earlier
// decisions: the split is exact only if none is lost in the handover.
func TestLeaderChangeKeepsTheSplitExact(t *testing.T) {
	ns, rs := fixture(t, "handover", 60, 2, 30) // 2 + ceil(58*0.3) = 20 On-Demand, 40 Spot
	recordNS, sc := recordNamespace(t), newServingCert(t)
	a, b := newReplica(t, "handover", recordNS, "a", sc), newReplica(t, "handover", recordNS, "b", sc)
	a.elect(t)
	var handover sync.WaitGroup
	got := race(t, []*replica{a, b}, ns, rs, 60, func(i int) {
		switch i {
		case 20:
			handover.Add(1)
			go func() {
				defer handover.Done()
				a.stop()
				b.elect(t)
			}()
		case 40:
			handover.Wait()
		}
		time.Sleep(5 * time.Millisecond) // spread the admissions over the handover
	})
	if got["on-demand"] != 20 || got["spot"] != 40 {
		t.Fatalf("60 admissions racing a leader change placed %v, want 20 on-demand and 40 spot", got)
	}
	if !b.decider.Deciding() {
		t.Fatal("the new leader does not decide from memory")
	}
}

// TestDecidedFromMemoryWithinThePodsPools: a pod that can land only on Ballast's
// On-Demand NodePool gets On-Demand whether the leader decides it from memory or
// another replica forwards it there, as the ledger path gives it: the decision is
// constrained to the capacity types of the pools the pod fits.
func TestDecidedFromMemoryWithinThePodsPools(t *testing.T) {
	const cluster = "deciderfit"
	ns, rs := fixture(t, cluster, 4, 1, 0) // unconstrained: 1 On-Demand, 3 Spot
	recordNS, sc := recordNamespace(t), newServingCert(t)
	leader, other := newReplica(t, cluster, recordNS, "a", sc), newReplica(t, cluster, recordNS, "b", sc)
	leader.elect(t)
	onDemandOnly := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: karpv1.NodePoolLabelKey, Operator: corev1.NodeSelectorOpIn, Values: []string{render.NodePoolName(cluster, "on-demand")}}}}},
	}}}
	for i, r := range []*replica{leader, other, leader, other} {
		pod := replicaSetPod(ns, rs)
		pod.Spec.Affinity = onDemandOnly
		if got := capacityFromPatch(t, handle(t, r.placer, pod)); got != "on-demand" {
			t.Fatalf("pod %d, decided by %s: placed on %q, want on-demand (the only pool it fits)", i, r.decider.Identity, got)
		}
	}
	if l := ledgerOf(t, ns, rs); l != nil {
		t.Fatalf("the decisions went through the ledger: %v", l.Annotations)
	}
}

// TestDepartedPodNotCountedOnceGone: a pod admitted and then deleted (fallback
// replacing a Pending pod) before any cache showed it counts for nothing: the departure
// takes its reservation with it. Without that, its reservation counted it beside its
// replacement for 30 s, and the replacement went On-Demand as a surge. Through the
// ledger and from the decider's memory alike.
func TestDepartedPodNotCountedOnceGone(t *testing.T) {
	for _, decider := range []bool{false, true} {
		t.Run(fmt.Sprintf("decider=%v", decider), func(t *testing.T) {
			cluster := fmt.Sprintf("departed-%v", decider)
			ns, rs := fixture(t, cluster, 2, 1, 0) // 1 On-Demand (base), 1 Spot
			r := newReplica(t, cluster, recordNamespace(t), "a", newServingCert(t))
			if decider {
				r.elect(t)
			}
			// Admitted, never created: no cache ever shows it.
			gone := replicaSetPod(ns, rs)
			id := uuid.NewUUID()
			if got := capacityFromPatch(t, handleAs(t, r.placer, gone, id)); got != "on-demand" {
				t.Fatalf("first pod placed on %q, want on-demand (the base)", got)
			}
			gone.Annotations = map[string]string{distribution.ReservationAnnotation: string(id)}
			gone.UID = "uid-of-the-gone-pod"
			w, err := distribution.WorkloadOf(context.Background(), env.Client, gone)
			if err != nil {
				t.Fatal(err)
			}
			if err := distribution.Depart(context.Background(), r.placer.API, w, podstore.FromPod(gone), false); err != nil {
				t.Fatal(err)
			}
			if got := admit(t, r.placer, ns, rs); got != "on-demand" {
				t.Fatalf("the replacement was placed on %q, want on-demand: the departed pod still counted", got)
			}
		})
	}
}
