package helmchart_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ssautils "github.com/fluxcd/pkg/ssa/utils"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/cmd/ballast/app"
	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
	"github.com/ballast-dev/ballast/test/helmchart"
)

var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunTests(m, &env)) }

// The CRDs of what the chart can create besides Ballast's and Kubernetes' own kinds,
// from the modules that ship them (downloaded through the module proxy).
var thirdPartyCRDs = map[string][]string{
	"github.com/cert-manager/cert-manager@v1.21.2":               {"deploy/crds/cert-manager.io_issuers.yaml", "deploy/crds/cert-manager.io_certificates.yaml"},
	"github.com/prometheus-operator/prometheus-operator@v0.85.0": {"example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml", "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"},
}

func installThirdPartyCRDs(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for module, files := range thirdPartyCRDs {
		dir, err := controlplane.ModuleDir(module)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			data, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			var crd apiextensionsv1.CustomResourceDefinition
			if err := yaml.UnmarshalStrict(data, &crd); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if err := env.Client.Create(ctx, &crd); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			gk := schema.GroupKind{Group: crd.Spec.Group, Kind: crd.Spec.Names.Kind}
			if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
				_, err := env.Client.RESTMapper().RESTMapping(gk)
				return err == nil, nil
			}); err != nil {
				t.Fatalf("CRD %s not served: %v", crd.Name, err)
			}
		}
	}
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// TestServerAcceptsRenderedObjects creates every object of every value combination as a
// server-side dry run with strict field validation: the API server (with Ballast's,
// cert-manager's and the Prometheus Operator's CRDs) rejects no field, unknown or
// invalid.
func TestServerAcceptsRenderedObjects(t *testing.T) {
	installThirdPartyCRDs(t)
	for name, r := range combinations() {
		t.Run(name, func(t *testing.T) {
			createNamespace(t, r.Namespace)
			for _, u := range render(t, r) {
				if ns := u.GetNamespace(); ns != "" {
					createNamespace(t, ns) // e.g. the Roles of controller.policySourceNamespaces
				}
				if err := env.Client.Create(context.Background(), u.DeepCopy(), client.DryRunAll, client.FieldValidation(metav1.FieldValidationStrict)); err != nil {
					t.Errorf("%s %s: %v", u.GetKind(), u.GetName(), err)
				}
			}
		})
	}
}

// TestCRDs: the CRDs the chart installs (what `helm show crds`, the documented upgrade
// step, prints) are config/crd/bases'.
func TestCRDs(t *testing.T) {
	out, err := helmchart.Run("show", "crds", helmchart.Dir())
	if err != nil {
		t.Fatal(err)
	}
	chart, err := ssautils.ReadObjects(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	bases, err := filepath.Glob(filepath.Join(localcluster.RepoRoot(), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	if len(chart) != len(bases) {
		t.Errorf("the chart has %d CRDs, config/crd/bases %d", len(chart), len(bases))
	}
	for _, f := range bases {
		data, err := os.ReadFile(f) //nolint:gosec // the repository's own files
		if err != nil {
			t.Fatal(err)
		}
		want, err := ssautils.ReadObject(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		got := localcluster.FindObject(chart, want.GetKind(), want.GetName())
		if got == nil || !reflect.DeepEqual(got.Object, want.Object) {
			t.Errorf("the chart's CRD %s differs from %s: run make manifests", want.GetName(), f)
		}
	}
}

// TestControllerRunsUnderChartRBAC installs the chart's objects (but the Deployment)
// under a release name of its own and runs `ballast controller` with the Deployment's
// flags as the chart's ServiceAccount (impersonated): it issues its webhook
// certificate into the release's Secret and the release's webhook configuration, takes
// the leader lease, syncs the inline PolicySource (unreachable here: Ready=False),
// starts every controller (their caches list and watch what they need), and is never
// forbidden anything. The webhooks' own reads are left to the end-to-end suite
// (test/charte2e), where the API server calls them.
func TestControllerRunsUnderChartRBAC(t *testing.T) {
	ctx := context.Background()
	r := release(map[string]any{"policySource": map[string]any{"enabled": true, "git": map[string]any{"url": "https://127.0.0.1:1/nowhere.git"}}})
	r.Name, r.Namespace = "fleet", "ballast-rbac"
	objs := render(t, r)
	in, err := localcluster.ChartInstallation(objs)
	if err != nil {
		t.Fatal(err)
	}
	createNamespace(t, in.Namespace)
	for _, u := range objs {
		if u.GetKind() == "Deployment" {
			continue
		}
		if err := env.Client.Create(ctx, u.DeepCopy()); err != nil {
			t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	t.Setenv("KUBECONFIG", impersonatingKubeconfig(t, "system:serviceaccount:"+in.Namespace+":"+in.ServiceAccount))

	logs := captureStderr(t)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	args := append([]string{"controller", "--namespace", in.Namespace, "--metrics-addr", "0", "--health-addr", "0",
		"--webhook-port", strconv.Itoa(freePort(t)), "--cert-dir", t.TempDir(), "--source-dir", t.TempDir()}, in.Args...)
	go func() { done <- app.MainContext(runCtx, args, nil, &out, &errOut) }()

	const cluster = "prod"
	ps := &v1alpha1.PolicySource{}
	lease := &coordinationv1.Lease{}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	secret := &corev1.Secret{}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case code := <-done:
			t.Fatalf("the controller exited with %d:\n%s\n%s", code, errOut.String(), logs())
		default:
		}
		if strings.Contains(strings.ToLower(logs()), "forbidden") {
			return false, errors.New("forbidden")
		}
		c := env.Client
		if err := c.Get(ctx, client.ObjectKey{Namespace: in.Namespace, Name: "fleet-ballast-webhook-cert"}, secret); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		if err := c.Get(ctx, client.ObjectKey{Name: "fleet-ballast-mutating-webhook-configuration"}, mwc); err != nil {
			return false, err
		}
		for _, w := range mwc.Webhooks {
			if len(w.ClientConfig.CABundle) == 0 {
				return false, nil
			}
		}
		if err := c.Get(ctx, client.ObjectKey{Namespace: in.Namespace, Name: "ballast-controller-" + cluster}, lease); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			return false, nil
		}
		if err := c.Get(ctx, client.ObjectKey{Namespace: in.Namespace, Name: "policies"}, ps); err != nil {
			return false, err
		}
		for _, cond := range ps.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == metav1.ConditionFalse {
				return controllersStarted(logs()), nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the controller did not do its job under the chart's RBAC (Secret %v, caBundle %v, lease %v, PolicySource %v): %v\n%s",
			secret.Name != "", len(mwc.Webhooks) > 0 && len(mwc.Webhooks[0].ClientConfig.CABundle) > 0, lease.Spec.HolderIdentity, ps.Status.Conditions, err, logs())
	}
	cancel()
	select {
	case code := <-done:
		if code != app.ExitOK {
			t.Errorf("the controller stopped with %d:\n%s", code, errOut.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("the controller did not stop")
	}
	if log := logs(); strings.Contains(strings.ToLower(log), "forbidden") {
		t.Errorf("the controller was forbidden something under the chart's RBAC:\n%s", log)
	}
}

// controllersStarted reports whether every controller that logged starting an event
// source has also started its workers: its caches synced, so listing and watching
// what it needs was allowed.
func controllersStarted(log string) bool {
	sources, workers := map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(log, "\n") {
		var entry struct{ Msg, Controller string }
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Controller == "" {
			continue
		}
		switch entry.Msg {
		case "Starting EventSource":
			sources[entry.Controller] = true
		case "Starting workers":
			workers[entry.Controller] = true
		}
	}
	return len(sources) > 0 && maps.Equal(sources, workers)
}

// impersonatingKubeconfig writes a kubeconfig that acts as the user (a ServiceAccount:
// the API server gives it the ServiceAccount's groups) through the administrator.
func impersonatingKubeconfig(t *testing.T, user string) string {
	t.Helper()
	cfg := env.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["env"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["env"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken, Impersonate: user,
	}
	kc.Contexts["env"] = &clientcmdapi.Context{Cluster: "env", AuthInfo: "env"}
	kc.CurrentContext = "env"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// captureStderr sends the process's standard error (where the controller logs) to a
// buffer until the test ends, and returns a function that reads it.
func captureStderr(t *testing.T) func() string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	var mu sync.Mutex
	var buf bytes.Buffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		b := make([]byte, 32<<10)
		for {
			n, err := r.Read(b)
			mu.Lock()
			buf.Write(b[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		os.Stderr = saved
		_ = w.Close()
		<-copied
		_ = r.Close()
	})
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
