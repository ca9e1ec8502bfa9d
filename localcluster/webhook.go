package localcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Webhook is an admission webhook served from the test process.
type Webhook struct {
	// URL the API server calls.
	URL    string
	server *http.Server
	config *admissionregistrationv1.MutatingWebhookConfiguration
	c      *Cluster
}

// ServeMutatingWebhook serves handler over TLS (a certificate signed by the cluster's
// CA) on a loopback port and registers it for pod creation, with failurePolicy Ignore,
// in the given namespaces, or in every namespace but kube-system when none are given.
// The API server then calls it for pods the ReplicaSet and StatefulSet controllers
// create.
func (c *Cluster) ServeMutatingWebhook(ctx context.Context, name string, handler http.Handler, namespaces ...string) (*Webhook, error) {
	cert, err := c.pki.issue("webhook-"+name, nil, []string{"127.0.0.1", "localhost"})
	if err != nil {
		return nil, err
	}
	kp, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w := &Webhook{
		URL:    fmt.Sprintf("https://%s/mutate", l.Addr()),
		server: &http.Server{Handler: handler, TLSConfig: &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}, ReadHeaderTimeout: 5 * time.Second},
		c:      c,
	}
	go func() {
		if err := w.server.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Printf("webhook %s: %v\n", name, err)
		}
	}()
	scope := metav1.LabelSelectorRequirement{
		Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system"},
	}
	if len(namespaces) > 0 {
		scope = metav1.LabelSelectorRequirement{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: namespaces}
	}
	caPEM, err := readFile(c.pki.CAFile)
	if err != nil {
		return nil, err
	}
	w.config = &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    name + ".test.ballast.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(w.URL), CABundle: caPEM},
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			TimeoutSeconds:          ptr.To[int32](5),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.NeverReinvocationPolicy),
			NamespaceSelector:       &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{scope}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
					Scope: ptr.To(admissionregistrationv1.NamespacedScope),
				},
			}},
		}},
	}
	if err := c.Client.Create(ctx, w.config); err != nil {
		_ = w.server.Close()
		return nil, fmt.Errorf("failed to register webhook %s: %w", name, err)
	}
	return w, nil
}

// Stop unregisters the webhook and stops serving it.
func (w *Webhook) Stop(ctx context.Context) error {
	err := w.c.Client.Delete(ctx, w.config)
	_ = w.server.Close()
	return err
}
