package certs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// Secret keys, the usual kubernetes.io/tls names plus the CA.
const (
	CAKey   = "ca.crt"
	CertKey = corev1.TLSCertKey
	KeyKey  = corev1.TLSPrivateKeyKey
)

// The certificate lives in a Secret of Ballast's own namespace; only Ballast's own
// webhook configuration gets its caBundle (and, out of cluster, its URL) set.
// +kubebuilder:rbac:groups="",namespace=ballast-system,resources=secrets,verbs=get;create;update
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,resourceNames=ballast-mutating-webhook-configuration,verbs=get;update

// Manager keeps one webhook's certificate valid.
type Manager struct {
	// Client reads and writes the Secret and the webhook configuration; it must not be
	// a cache (Secrets are never cached cluster-wide).
	Client client.Client
	// Namespace and SecretName locate the Secret.
	Namespace, SecretName string
	// Service is the webhook Service's name; the certificate is valid for its DNS names.
	Service string
	// WebhookConfiguration is the MutatingWebhookConfiguration whose caBundle to set.
	WebhookConfiguration string
	// CertDir receives tls.crt and tls.key for the webhook server.
	CertDir string
	// URL, when set, is where the API server reaches the webhook server instead of the
	// Service (https://host:port, no path): for a controller running outside the
	// cluster, as `ballast dev` and the end-to-end tests run it. The certificate then
	// covers the URL's host too, and every webhook's clientConfig becomes URL + its path.
	URL string
	// Validity of a serving certificate; it is renewed when a third of it is left.
	Validity time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Manager) validity() time.Duration {
	if m.Validity > 0 {
		return m.Validity
	}
	return 365 * 24 * time.Hour
}

// urlHost returns the host of URL, or "".
func (m *Manager) urlHost() string {
	if m.URL == "" {
		return ""
	}
	u, err := url.Parse(m.URL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// DNSNames are the names the serving certificate is valid for.
func (m *Manager) DNSNames() []string {
	return []string{
		m.Service,
		m.Service + "." + m.Namespace,
		m.Service + "." + m.Namespace + ".svc",
		m.Service + "." + m.Namespace + ".svc.cluster.local",
	}
}

// Ensure makes the certificate valid: it reuses the Secret's when it is valid for long
// enough, otherwise issues a new one (a new CA too when the CA is due), then writes the
// files and the caBundle. It is safe to call from several replicas at once.
func (m *Manager) Ensure(ctx context.Context) error {
	var secret *corev1.Secret
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		secret, err = m.ensureSecret(ctx)
		return err
	})
	if err != nil {
		return err
	}
	if err := m.writeFiles(secret); err != nil {
		return err
	}
	return m.injectCABundle(ctx, secret.Data[CAKey])
}

// Start re-checks the certificate every interval until ctx ends; it implements
// controller-runtime's manager.Runnable and runs on every replica.
func (m *Manager) Start(ctx context.Context) error {
	ticker := time.NewTicker(time.Hour)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			if err := m.Ensure(ctx); err != nil {
				logf.FromContext(ctx).Error(err, "failed to renew the webhook certificate")
			}
		}
	}
}

// NeedLeaderElection is false: every replica serves the webhook and needs the files.
func (m *Manager) NeedLeaderElection() bool { return false }

func (m *Manager) ensureSecret(ctx context.Context) (*corev1.Secret, error) {
	key := client.ObjectKey{Namespace: m.Namespace, Name: m.SecretName}
	var secret corev1.Secret
	err := m.Client.Get(ctx, key, &secret)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("failed to read Secret %s: %w", key, err)
	}
	if exists && m.valid(secret.Data) {
		return &secret, nil
	}
	data, err := m.issue(secret.Data)
	if err != nil {
		return nil, err
	}
	secret.Data = data
	secret.Type = corev1.SecretTypeTLS
	if exists {
		err = m.Client.Update(ctx, &secret)
	} else {
		secret.ObjectMeta = metav1.ObjectMeta{Namespace: m.Namespace, Name: m.SecretName,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "ballast"}}
		err = m.Client.Create(ctx, &secret)
		if apierrors.IsAlreadyExists(err) {
			return nil, apierrors.NewConflict(corev1.Resource("secrets"), m.SecretName, err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("failed to store the webhook certificate in Secret %s: %w", key, err)
	}
	return &secret, nil
}

// valid reports whether the stored serving certificate chains to the stored CA, covers
// the service's names, and has more than a third of its validity left.
func (m *Manager) valid(data map[string][]byte) bool {
	cert, err := parseCert(data[CertKey])
	if err != nil {
		return false
	}
	ca, err := parseCert(data[CAKey])
	if err != nil || len(data[KeyKey]) == 0 {
		return false
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	now := m.now()
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: m.DNSNames()[2], Roots: pool, CurrentTime: now}); err != nil {
		return false
	}
	if h := m.urlHost(); h != "" && cert.VerifyHostname(h) != nil {
		return false
	}
	remaining := cert.NotAfter.Sub(now)
	return remaining > cert.NotAfter.Sub(cert.NotBefore)/3
}

// issue creates a CA (kept when the old one is still good for twice the validity) and
// a serving certificate.
func (m *Manager) issue(old map[string][]byte) (map[string][]byte, error) {
	now := m.now()
	caCert, caKey, caPEM, err := reuseCA(old, now.Add(2*m.validity()))
	if err != nil || caCert == nil {
		caCert, caKey, caPEM, err = newCA(now, 10*m.validity())
		if err != nil {
			return nil, err
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: m.DNSNames()[2]},
		DNSNames:     m.DNSNames(),
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(m.validity()),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if h := m.urlHost(); h != "" {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = []net.IP{ip}
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("failed to sign the webhook certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{
		CAKey:   caPEM,
		CertKey: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyKey:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	// Keep the CA key so the next rotation can reuse the CA (clients keep trusting it).
	caKeyDER, err := x509.MarshalECPrivateKey(caKey)
	if err != nil {
		return nil, err
	}
	out["ca.key"] = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: caKeyDER})
	return out, nil
}

func reuseCA(old map[string][]byte, until time.Time) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	ca, err := parseCert(old[CAKey])
	if err != nil || ca.NotAfter.Before(until) {
		return nil, nil, nil, err
	}
	block, _ := pem.Decode(old["ca.key"])
	if block == nil {
		return nil, nil, nil, nil
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, nil, nil //nolint:nilerr // an unreadable key means a new CA
	}
	return ca, key, old[CAKey], nil
}

func newCA(now time.Time, validity time.Duration) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "ballast-webhook-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func parseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// writeFiles writes tls.crt and tls.key when they differ; the webhook server's
// certificate watcher picks changes up.
func (m *Manager) writeFiles(secret *corev1.Secret) error {
	if err := os.MkdirAll(m.CertDir, 0o700); err != nil {
		return err
	}
	for _, k := range []string{CertKey, KeyKey} {
		path := filepath.Join(m.CertDir, k)
		if current, err := os.ReadFile(path); err == nil && bytes.Equal(current, secret.Data[k]) { //nolint:gosec // our own directory
			continue
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, secret.Data[k], 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return nil
}

// injectCABundle sets the CA on every webhook of the configuration, and the URL when
// the webhook server is reached by URL.
func (m *Manager) injectCABundle(ctx context.Context, ca []byte) error {
	if m.WebhookConfiguration == "" {
		return nil
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cfg admissionregistrationv1.MutatingWebhookConfiguration
		if err := m.Client.Get(ctx, client.ObjectKey{Name: m.WebhookConfiguration}, &cfg); err != nil {
			return fmt.Errorf("failed to read MutatingWebhookConfiguration %s: %w", m.WebhookConfiguration, err)
		}
		changed := false
		for i := range cfg.Webhooks {
			cc := &cfg.Webhooks[i].ClientConfig
			if !bytes.Equal(cc.CABundle, ca) {
				cc.CABundle = ca
				changed = true
			}
			if m.URL != "" {
				path := ""
				switch {
				case cc.Service != nil && cc.Service.Path != nil:
					path = *cc.Service.Path
				case cc.URL != nil:
					if u, err := url.Parse(*cc.URL); err == nil {
						path = u.Path
					}
				}
				if want := strings.TrimSuffix(m.URL, "/") + path; cc.URL == nil || *cc.URL != want || cc.Service != nil {
					cc.URL, cc.Service = &want, nil
					changed = true
				}
			}
		}
		if !changed {
			return nil
		}
		return m.Client.Update(ctx, &cfg)
	})
}
