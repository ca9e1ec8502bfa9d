package certs_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/controllers/certs"
	"github.com/ballast-dev/ballast/test/controlplane"
)

var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunTests(m, &env)) }

func TestEnsureIssuesReusesAndRotates(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "certs-"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "ballast-" + ns.Name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "pods.distribution.ballast.dev", AdmissionReviewVersions: []string{"v1"},
			SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone),
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
				Namespace: ns.Name, Name: "ballast-webhook", Path: ptr.To("/mutate-v1-pod"),
			}},
		}},
	}
	if err := env.Client.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	m := &certs.Manager{
		Client: env.Client, Namespace: ns.Name, SecretName: "ballast-webhook-cert", Service: "ballast-webhook",
		WebhookConfiguration: cfg.Name, CertDir: t.TempDir(), Validity: 90 * 24 * time.Hour,
		Now: func() time.Time { return now },
	}
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	first := check(t, m, cfg.Name, now)

	// A day later the certificate is reused.
	now = now.Add(24 * time.Hour)
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if again := check(t, m, cfg.Name, now); !again.Equal(first) {
		t.Fatal("a certificate with most of its validity left was replaced")
	}

	// With less than a third of its validity left it is rotated, under the same CA.
	now = now.Add(65 * 24 * time.Hour)
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	rotated := check(t, m, cfg.Name, now)
	if rotated.Equal(first) {
		t.Fatal("the certificate was not rotated")
	}
	if !rotated.NotAfter.After(now.Add(80 * 24 * time.Hour)) {
		t.Fatalf("the new certificate expires %s", rotated.NotAfter)
	}
}

// check verifies the files against the CA in the webhook configuration for the
// service's DNS name at now, and returns the serving certificate.
func check(t *testing.T, m *certs.Manager, cfgName string, now time.Time) *x509.Certificate {
	t.Helper()
	var cfg admissionregistrationv1.MutatingWebhookConfiguration
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: cfgName}, &cfg); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cfg.Webhooks[0].ClientConfig.CABundle) {
		t.Fatal("no caBundle injected")
	}
	data, err := os.ReadFile(filepath.Join(m.CertDir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "ballast-webhook." + m.Namespace + ".svc", Roots: pool, CurrentTime: now}); err != nil {
		t.Fatalf("the served certificate is not trusted through the caBundle: %v", err)
	}
	key, err := os.ReadFile(filepath.Join(m.CertDir, "tls.key"))
	if err != nil || !bytes.Contains(key, []byte("PRIVATE KEY")) {
		t.Fatalf("no key file: %v", err)
	}
	return cert
}
