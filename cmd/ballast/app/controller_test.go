package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
)

// TestControllerRuns starts `ballast controller` against a real API server: it issues
// its webhook certificate (Secret and caBundle), serves, syncs PolicySources (a source
// it cannot reach gets a failing Ready condition, not a crash), and stops cleanly.
func TestControllerRuns(t *testing.T) {
	env, err := controlplane.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	ctx := context.Background()
	c := env.Client
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ballast-system"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	mwc := installWebhookConfiguration(t, c)
	t.Setenv("KUBECONFIG", writeKubeconfig(t, env))

	runCtx, cancel := context.WithCancel(ctx)
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	pprofAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	go func() {
		done <- MainContext(runCtx, []string{"controller", "--cluster", "test", "--pprof-addr", pprofAddr,
			"--metrics-addr", "0", "--health-addr", "0", "--webhook-port", strconv.Itoa(freePort(t)),
			"--cert-dir", t.TempDir(), "--source-dir", t.TempDir(), "--log-level", "error",
		}, nil, &out, &errOut)
	}()

	ps := &v1alpha1.PolicySource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ballast-system", Name: "unreachable"},
		Spec: v1alpha1.PolicySourceSpec{
			Cluster: "test", Interval: metav1.Duration{Duration: time.Minute},
			Git: &v1alpha1.GitSource{URL: "https://127.0.0.1:1/nowhere.git"},
		},
	}
	if err := c.Create(ctx, ps); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case code := <-done:
			t.Fatalf("the controller exited with %d:\n%s", code, errOut.String())
		default:
		}
		var got v1alpha1.PolicySource
		if err := c.Get(ctx, client.ObjectKeyFromObject(ps), &got); err != nil {
			return false, err
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == metav1.ConditionFalse {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the PolicySource got no Ready=False condition: %v\n%s", err, errOut.String())
	}
	var secret corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ballast-system", Name: "ballast-webhook-cert"}, &secret); err != nil {
		t.Fatalf("no webhook certificate Secret: %v", err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(mwc), mwc); err != nil || len(mwc.Webhooks[0].ClientConfig.CABundle) == 0 {
		t.Fatalf("no caBundle injected: %v", err)
	}
	// --pprof-addr serves Go's profiles (the scale benchmark reads the heap through it).
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatalf("--pprof-addr serves nothing: %v", err)
	}
	heap, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(heap, []byte("heap profile")) {
		t.Fatalf("--pprof-addr answered %s:\n%.200s", resp.Status, heap)
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("the controller stopped with %d:\n%s", code, errOut.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("the controller did not stop")
	}
}

// installWebhookConfiguration creates the webhook configuration whose CA bundle the
// controller keeps current.
func installWebhookConfiguration(t *testing.T, c client.Client) *admissionregistrationv1.MutatingWebhookConfiguration {
	t.Helper()
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "ballast-mutating-webhook-configuration"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "pods.distribution.ballast.dev", AdmissionReviewVersions: []string{"v1"},
			SideEffects:   ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy: ptr.To(admissionregistrationv1.Ignore),
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
				Namespace: "ballast-system", Name: "ballast-webhook-service", Path: ptr.To("/mutate-v1-pod"),
			}},
		}},
	}
	if err := c.Create(context.Background(), mwc); err != nil {
		t.Fatal(err)
	}
	return mwc
}

func writeKubeconfig(t testing.TB, env *controlplane.Env) string {
	t.Helper()
	cfg := env.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["env"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["env"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["env"] = &clientcmdapi.Context{Cluster: "env", AuthInfo: "env"}
	kc.CurrentContext = "env"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
