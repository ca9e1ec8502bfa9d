package distribution

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/split"
)

// DecidePath is where the deciding replica answers the decisions other replicas
// forward to it, on the webhook server.
const DecidePath = "/decide-v1-pod"

// recordTTL is how long a replica trusts the decider record it read before reading
// it again (a failed forward reads it again at once).
const recordTTL = 5 * time.Second

// forwardTimeout bounds one forwarded decision; past it the replica decides through
// the ledger within its own budget.
const forwardTimeout = 500 * time.Millisecond

// decisionRequest is a decision forwarded to the decider: the pod's namespace and
// controller, the admission, and the capacity types the NodePools the pod can land on
// offer (Fit.Spot, Fit.OnDemand), which the decision is constrained to.
type decisionRequest struct {
	Namespace   string    `json:"namespace"`
	OwnerKind   string    `json:"ownerKind"`
	OwnerName   string    `json:"ownerName"`
	OwnerUID    types.UID `json:"ownerUID"`
	AdmissionID string    `json:"admissionID"`
	DryRun      bool      `json:"dryRun,omitempty"`
	Spot        bool      `json:"spot,omitempty"`
	OnDemand    bool      `json:"onDemand,omitempty"`
}

// decisionResponse is the decider's answer.
type decisionResponse struct {
	Capacity string       `json:"capacity"`
	Reason   split.Reason `json:"reason"`
}

// HTTPForwarder forwards decisions over HTTPS to the address in the decider record.
type HTTPForwarder struct {
	// API reads the decider record.
	API client.Reader
	// Namespace and Cluster locate the decider record.
	Namespace, Cluster string
	// Self is this replica's identity: it never forwards to itself.
	Self string
	// Client is the HTTPS client (PinnedClient in production).
	Client *http.Client
	// Timeout bounds one forwarded decision (500ms when zero).
	Timeout time.Duration
	// RecordTTL is how long the record read is trusted (5s when zero); the decider's
	// Warmup must be longer than it plus a decision's budget.
	RecordTTL time.Duration

	mu      sync.Mutex
	address string
	read    time.Time
}

// Forward returns the decider's decision, or an error when there is no decider this
// replica can reach (the caller then decides through the ledger).
func (f *HTTPForwarder) Forward(ctx context.Context, req decisionRequest) (split.Decision, error) {
	address, err := f.decider(ctx)
	if err != nil {
		return split.Decision{}, err
	}
	d, err := f.post(ctx, address, req)
	if err != nil {
		f.mu.Lock()
		f.read = time.Time{} // read the record again next time
		f.mu.Unlock()
	}
	return d, err
}

// decider returns the decider's address from the record, read at most every recordTTL.
func (f *HTTPForwarder) decider(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ttl := f.RecordTTL
	if ttl <= 0 {
		ttl = recordTTL
	}
	if !f.read.IsZero() && time.Since(f.read) < ttl {
		if f.address == "" {
			return "", errors.New("no decider")
		}
		return f.address, nil
	}
	var lease coordinationv1.Lease
	err := f.API.Get(ctx, client.ObjectKey{Namespace: f.Namespace, Name: RecordName(f.Cluster)}, &lease)
	if err != nil && client.IgnoreNotFound(err) != nil {
		return "", fmt.Errorf("failed to read the decider record: %w", err)
	}
	f.read, f.address = time.Now(), ""
	if err == nil && ptr.Deref(lease.Spec.HolderIdentity, "") != f.Self {
		f.address = lease.Annotations[addressAnnotation]
	}
	if f.address == "" {
		return "", errors.New("no decider")
	}
	return f.address, nil
}

func (f *HTTPForwarder) post(ctx context.Context, address string, req decisionRequest) (split.Decision, error) {
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = forwardTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := json.Marshal(req)
	if err != nil {
		return split.Decision{}, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, address+DecidePath, bytes.NewReader(body))
	if err != nil {
		return split.Decision{}, fmt.Errorf("invalid decider address: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	resp, err := f.Client.Do(r)
	if err != nil {
		return split.Decision{}, fmt.Errorf("failed to reach the decider: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return split.Decision{}, fmt.Errorf("the decider answered %s", resp.Status)
	}
	var out decisionResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&out); err != nil {
		return split.Decision{}, fmt.Errorf("undecodable answer of the decider: %w", err)
	}
	return split.Decision{Capacity: out.Capacity, Reason: out.Reason}, nil
}

// DecideHandler answers forwarded decisions on the deciding replica: it resolves the
// workload and its rule from its own cache and decides from memory; a replica that
// does not decide now answers 503, and the caller decides through the ledger.
type DecideHandler struct {
	Placer *Placer
}

func (h *DecideHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var req decisionRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 16<<10)).Decode(&req); err != nil {
		http.Error(w, "undecodable request", http.StatusBadRequest)
		return
	}
	p := h.Placer
	if !p.Decider.Serving() {
		http.Error(w, "not the decider", http.StatusServiceUnavailable)
		return
	}
	stub := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: req.Namespace, OwnerReferences: []metav1.OwnerReference{{
		Kind: req.OwnerKind, Name: req.OwnerName, UID: req.OwnerUID, Controller: ptr.To(true),
	}}}}
	// Within the decision budget, which the next decider's warm-up outlasts.
	ctx, cancel := context.WithTimeout(r.Context(), p.budget())
	defer cancel()
	wl, err := p.workloadOf(ctx, stub)
	if err != nil || wl == nil || wl.Kind == KindStatefulSet {
		http.Error(w, "no such workload", http.StatusServiceUnavailable)
		return
	}
	rule, err := p.rule(ctx, wl)
	if err != nil {
		http.Error(w, "no rule", http.StatusServiceUnavailable)
		return
	}
	fit := Fit{Spot: req.Spot, OnDemand: req.OnDemand}
	d, err := p.Decider.decide(ctx, wl, rule, fit, req.AdmissionID, req.DryRun)
	if errors.Is(err, errNotDeciding) && p.Decider.Serving() {
		// Warming up: the decider decides through the ledger for everyone.
		d, err = p.decideWithLedger(ctx, wl, rule, fit, req.AdmissionID, req.DryRun)
	}
	if err != nil {
		http.Error(w, "not decided", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(decisionResponse{Capacity: d.Capacity, Reason: d.Reason})
}

// PinnedClient returns an HTTPS client that accepts only a peer presenting the same
// serving certificate as this replica's (certFile, re-read when it changes): every
// replica serves the webhook with one certificate, so no CA or host name is needed, and
// a peer with another certificate (mid-rotation) is refused, which sends the decision
// through the ledger.
func PinnedClient(certFile string) *http.Client {
	var mu sync.Mutex
	var pinned []byte
	var modified time.Time
	own := func() ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		st, err := os.Stat(certFile)
		if err != nil {
			return nil, err
		}
		if pinned != nil && st.ModTime().Equal(modified) {
			return pinned, nil
		}
		raw, err := os.ReadFile(certFile) //nolint:gosec // the webhook server's own certificate
		if err != nil {
			return nil, err
		}
		block, _ := pem.Decode(raw)
		if block == nil {
			return nil, errors.New("no PEM certificate in the serving certificate file")
		}
		pinned, modified = block.Bytes, st.ModTime()
		return pinned, nil
	}
	config := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain is checked below against this replica's own certificate instead.
		InsecureSkipVerify: true, //nolint:gosec // verified by VerifyPeerCertificate: the peer must present our own certificate
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			want, err := own()
			if err != nil {
				return fmt.Errorf("failed to read the serving certificate: %w", err)
			}
			if len(raw) == 0 || !bytes.Equal(raw[0], want) {
				return errors.New("the peer does not present Ballast's serving certificate")
			}
			return nil
		},
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: config, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute,
	}}
}
