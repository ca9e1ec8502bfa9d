package localcluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// BallastNamespace is where config/default installs Ballast.
const BallastNamespace = "ballast-system"

// ballastServiceAccount is the ServiceAccount config/default runs the controller as.
const ballastServiceAccount = "ballast-controller"

// inClusterOnly are the kinds of config/default that run the controller in a pod; the
// harness runs the binary as a local process instead, with everything else as shipped.
var inClusterOnly = []string{"Deployment", "Service", "PodDisruptionBudget"}

var (
	ballastBuild    sync.Once
	ballastBin      string
	ballastBuildErr error
)

// BallastBinary, when set, is the ballast binary to run as the controller (`ballast
// dev` runs itself); otherwise BuildBallast builds one.
var BallastBinary string

// BuildBallast builds the ballast binary from this repository once per process (go
// build caches it) and returns its path, or returns BallastBinary when it is set.
func BuildBallast() (string, error) {
	if BallastBinary != "" {
		return BallastBinary, nil
	}
	ballastBuild.Do(func() {
		if err := openSources(); err != nil {
			ballastBuildErr = err
			return
		}
		// One binary in the cache, not one more in the temporary directory for every
		// test process of every run: each package built there about 100 MB that stayed.
		// The test processes of one run build it from the same tree at the same time,
		// each to a file of its own renamed over the last (a running binary keeps its
		// file), so that none ever runs a half-written one.
		cache, err := cacheDir()
		if err != nil {
			ballastBuildErr = err
			return
		}
		dir := filepath.Join(cache, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			ballastBuildErr = err
			return
		}
		tmp, err := os.CreateTemp(dir, "ballast-build-")
		if err != nil {
			ballastBuildErr = err
			return
		}
		_ = tmp.Close()
		defer func() { _ = os.Remove(tmp.Name()) }()
		cmd := exec.Command("go", "build", "-o", tmp.Name(), "./cmd/ballast")
		cmd.Dir = RepoRoot()
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=auto", "GOFLAGS=-mod=mod")
		if msg, err := cmd.CombinedOutput(); err != nil {
			ballastBuildErr = fmt.Errorf("failed to build ballast: %w\n%s", err, msg)
			return
		}
		ballastBin = filepath.Join(dir, "ballast")
		ballastBuildErr = os.Rename(tmp.Name(), ballastBin)
	})
	return ballastBin, ballastBuildErr
}

// openSources opens every file of this module that the ballast binary is built from
// (Go files, embedded files, go.mod, go.sum). The go command caches a test's result by
// the files the test process itself opens (their size and modification time); the
// binary is built by a child `go build` whose reads it does not see, so without this a
// test of the binary passed before a change to the controller's code was reported
// again from the cache instead of being run.
func openSources() error {
	files, err := ballastSources()
	if err != nil {
		return err
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		_ = f.Close()
	}
	return nil
}

// ballastSources lists the files of this module the ballast binary is built from.
func ballastSources() ([]string, error) {
	root := RepoRoot()
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if not .Standard}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}`,
		"./cmd/ballast")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=auto", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("failed to list the sources of ballast: %w", err)
	}
	files := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	for _, f := range strings.Split(string(out), "\n") {
		if f != "" && strings.HasPrefix(f, root+string(filepath.Separator)) {
			files = append(files, f)
		}
	}
	return files, nil
}

// Ballast is the real `ballast controller` binary running against the cluster as its
// own ServiceAccount, with exactly the RBAC, CRDs and webhook configuration that
// config/default ships (never as an administrator). The API server reaches its webhook
// server on 127.0.0.1 (--webhook-url) instead of through the Service.
type Ballast struct {
	// Cluster is the ClusterPolicy cluster name the controller serves.
	Cluster string
	// Kubeconfig authenticates as the controller's ServiceAccount.
	Kubeconfig string
	// MetricsURL is the controller's Prometheus endpoint.
	MetricsURL string

	c         *Cluster
	bin, dir  string
	args      []string
	comp      *component
	healthURL string
	starts    int
}

// Installation is one way of installing Ballast that the harness can run: the objects
// (config/default's, or a Helm chart's rendered manifests), the kinds it does not apply
// because it runs the controller as a local process instead of a pod, and the
// namespace, ServiceAccount and flags of that process.
type Installation struct {
	// Objects are applied in order, CRDs and namespaces first.
	Objects []*unstructured.Unstructured
	// Skip lists kinds that are not applied.
	Skip []string
	// Namespace and ServiceAccount are where and as whom the controller runs.
	Namespace, ServiceAccount string
	// Args are controller flags the installation needs, before the caller's.
	Args []string
}

// DefaultInstallation is config/default, built as `kubectl apply -k` would, without
// the objects that run the controller in a pod.
func DefaultInstallation() (Installation, error) {
	objs, err := BuildManifests("default")
	if err != nil {
		return Installation{}, err
	}
	return Installation{Objects: objs, Skip: inClusterOnly, Namespace: BallastNamespace, ServiceAccount: ballastServiceAccount}, nil
}

// harnessFlags are the controller flags the harness sets itself (ports, directories and
// the namespace); ChartInstallation leaves them out of the chart's.
var harnessFlags = []string{"--namespace", "--webhook-port", "--webhook-url", "--metrics-addr", "--health-addr", "--cert-dir", "--source-dir"}

// ChartInstallation is a Helm chart's rendered manifests (`helm template --include-crds`):
// everything but the Deployment, whose pod the harness replaces with a local process
// running as the Deployment's ServiceAccount, in its namespace, with its container's
// flags (except those in harnessFlags).
func ChartInstallation(objs []*unstructured.Unstructured) (Installation, error) {
	var deploy *appsv1.Deployment
	for _, u := range objs {
		if u.GetKind() != "Deployment" {
			continue
		}
		if deploy != nil {
			return Installation{}, fmt.Errorf("the manifests hold more than one Deployment")
		}
		deploy = &appsv1.Deployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, deploy); err != nil {
			return Installation{}, fmt.Errorf("failed to decode Deployment %s: %w", u.GetName(), err)
		}
	}
	if deploy == nil || len(deploy.Spec.Template.Spec.Containers) != 1 {
		return Installation{}, fmt.Errorf("the manifests hold no Deployment with one container")
	}
	in := Installation{
		Objects: objs, Skip: []string{"Deployment"},
		Namespace: deploy.Namespace, ServiceAccount: deploy.Spec.Template.Spec.ServiceAccountName,
	}
	args := deploy.Spec.Template.Spec.Containers[0].Args
	if len(args) == 0 || args[0] != "controller" {
		return Installation{}, fmt.Errorf("the Deployment %s does not run `ballast controller`: %v", deploy.Name, args)
	}
	for i := 1; i < len(args); i++ {
		name, _, withValue := strings.Cut(args[i], "=")
		if !slices.Contains(harnessFlags, name) {
			in.Args = append(in.Args, args[i])
		} else if !withValue {
			i++ // --flag value
		}
	}
	return in, nil
}

// InstallBallast applies config/default as `kubectl apply -k` would, except the
// objects that run the controller in a pod; it is idempotent.
func (c *Cluster) InstallBallast(ctx context.Context) error {
	in, err := DefaultInstallation()
	if err != nil {
		return err
	}
	return c.Install(ctx, in)
}

// Install applies the installation's objects (server-side, CRDs and namespaces first)
// except the kinds it skips, creating its namespace first when they do not hold it (as
// `helm install --create-namespace`); it is idempotent.
func (c *Cluster) Install(ctx context.Context, in Installation) error {
	if FindObject(in.Objects, "Namespace", in.Namespace) == nil {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: in.Namespace}}
		if err := c.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("failed to create namespace %s: %w", in.Namespace, err)
		}
	}
	objs := slices.Clone(in.Objects)
	// CRDs and the namespace first, so that what lives in them can be created.
	rank := func(u *unstructured.Unstructured) int {
		switch u.GetKind() {
		case "CustomResourceDefinition", "Namespace":
			return 0
		}
		return 1
	}
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int { return rank(a) - rank(b) })
	for _, u := range objs {
		if slices.Contains(in.Skip, u.GetKind()) {
			continue
		}
		if err := c.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("e2e"), client.ForceOwnership); err != nil {
			return fmt.Errorf("failed to apply %s %s: %w", u.GetKind(), u.GetName(), err)
		}
		if u.GetKind() == "CustomResourceDefinition" {
			if err := c.poll(ctx, "CRD "+u.GetName(), time.Minute, func(ctx context.Context) (bool, error) {
				_, err := c.Client.RESTMapper().RESTMapping(crdGroupKind(u))
				return err == nil, nil
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

func crdGroupKind(u *unstructured.Unstructured) schema.GroupKind {
	var gk schema.GroupKind
	gk.Group, _, _ = unstructured.NestedString(u.Object, "spec", "group")
	gk.Kind, _, _ = unstructured.NestedString(u.Object, "spec", "names", "kind")
	return gk
}

// StartBallast builds the binary, installs config/default, writes a kubeconfig with a
// token of the controller's ServiceAccount, and starts `ballast controller
// --cluster <cluster>` with extra flags; it returns once the webhook answers through
// the API server.
func (c *Cluster) StartBallast(ctx context.Context, cluster string, extraArgs ...string) (*Ballast, error) {
	in, err := DefaultInstallation()
	if err != nil {
		return nil, err
	}
	return c.StartInstallation(ctx, in, cluster, extraArgs...)
}

// StartInstallation is StartBallast for any installation (see ChartInstallation): it
// installs it and runs the controller as its ServiceAccount, in its namespace, with
// its flags and then the extra ones.
func (c *Cluster) StartInstallation(ctx context.Context, in Installation, cluster string, extraArgs ...string) (*Ballast, error) {
	bin, err := BuildBallast()
	if err != nil {
		return nil, err
	}
	if err := c.Install(ctx, in); err != nil {
		return nil, err
	}
	b := &Ballast{Cluster: cluster, c: c, bin: bin, dir: filepath.Join(c.Dir, "ballast")}
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return nil, err
	}
	if b.Kubeconfig, err = c.serviceAccountKubeconfig(ctx, in.Namespace, in.ServiceAccount); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	b.MetricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[1])
	b.healthURL = fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[2])
	b.args = append([]string{"controller", "--cluster", cluster, "--namespace", in.Namespace,
		"--webhook-port", strconv.Itoa(ports[0]), "--webhook-url", fmt.Sprintf("https://127.0.0.1:%d", ports[0]),
		"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]), "--health-addr", fmt.Sprintf("127.0.0.1:%d", ports[2]),
		"--cert-dir", filepath.Join(b.dir, "certs"), "--source-dir", filepath.Join(b.dir, "sources"), "--allow-insecure-http", // the local git server and Gitea are http://127.0.0.1
	}, in.Args...)
	b.args = append(b.args, extraArgs...)
	if err := b.Start(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// Start starts the controller process (again, after Stop) and waits until the API
// server calls its webhook.
func (b *Ballast) Start(ctx context.Context) error {
	b.starts++
	// As the shipped Deployment runs it: a read-only root file system with an emptyDir
	// on /tmp (and the certificate and source directories), no home directory.
	tmp := filepath.Join(b.dir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	env := append([]string{"KUBECONFIG=" + b.Kubeconfig, "HOME=/nonexistent", "TMPDIR=" + tmp, "XDG_CONFIG_HOME=", "XDG_CACHE_HOME="}, b.c.BallastEnv...)
	comp, err := startComponent(b.dir, fmt.Sprintf("ballast-%d", b.starts), b.bin, b.args, env)
	if err != nil {
		return err
	}
	b.comp = comp
	if err := b.waitPlacing(ctx); err != nil {
		b.Stop()
		return err
	}
	return nil
}

// Stop stops the controller process; its webhook configuration stays, so the API
// server calls a webhook that is not there (and fails open), as in an outage.
func (b *Ballast) Stop() {
	if b.comp != nil {
		b.comp.stop()
		b.comp = nil
	}
}

// CPU returns the processor time the running controller process has used so far (a
// restart starts again from zero).
func (b *Ballast) CPU() time.Duration {
	if b.comp == nil {
		return 0
	}
	return b.comp.CPU()
}

// Log returns the tail of the current process's log.
func (b *Ballast) Log(lines int) string {
	if b.comp == nil {
		return "(not running)"
	}
	return b.comp.tail(lines)
}

// Running reports whether the process runs.
func (b *Ballast) Running() bool {
	if b.comp == nil {
		return false
	}
	done, _ := b.comp.exited()
	return !done
}

// probeNamespace is an opted-in namespace where readiness is probed.
const probeNamespace = "ballast-e2e-probe"

// waitPlacing waits until the controller is ready and the API server sends it
// admissions: a dry-run DaemonSet in an opted-in namespace comes back with Ballast's
// Spot toleration.
func (b *Ballast) waitPlacing(ctx context.Context) error {
	c := b.c
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: probeNamespace, Labels: map[string]string{"ballast.dev/distribution": "enabled"}}}
	if err := c.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	httpc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}}
	err := wait.PollUntilContextTimeout(ctx, 300*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if done, err := b.comp.exited(); done {
			return false, fmt.Errorf("ballast controller exited (%w):\n%s", err, b.comp.tail(40))
		}
		resp, err := httpc.Get(b.healthURL) //nolint:noctx // loopback probe
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, nil
		}
		ds := &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: probeNamespace, Name: "probe"},
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "probe"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "probe"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "probe"}}},
				},
			},
		}
		if err := c.Client.Create(ctx, ds, client.DryRunAll); err != nil {
			return false, nil
		}
		return len(ds.Spec.Template.Spec.Tolerations) > 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the ballast controller to place pods: %w\n%s", err, b.comp.tail(40))
	}
	return nil
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates with a token of the
// ServiceAccount, valid for a day.
func (c *Cluster) serviceAccountKubeconfig(ctx context.Context, namespace, name string) (string, error) {
	token, err := serviceAccountToken(ctx, c.Client, namespace, name)
	if err != nil {
		return "", err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthority: c.pki.CAFile}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: name, Namespace: namespace}
	cfg.CurrentContext = "test"
	path := filepath.Join(c.Dir, "sa-"+namespace+"-"+name+".kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

// serviceAccountToken issues a token of the ServiceAccount, valid for a day. It asks
// through the controller-runtime client (the token subresource), not a clientset: the
// typed clients of every API group would add megabytes to the ballast binary.
func serviceAccountToken(ctx context.Context, c client.Client, namespace, name string) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	tr := &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 3600)},
	}
	if err := c.SubResource("token").Create(ctx, sa, tr); err != nil {
		return "", fmt.Errorf("failed to issue a token for ServiceAccount %s/%s: %w", namespace, name, err)
	}
	return tr.Status.Token, nil
}
