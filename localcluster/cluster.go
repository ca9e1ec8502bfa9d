package localcluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Options configure a cluster.
type Options struct {
	// Dir holds certificates, kubeconfigs, etcd data and logs; a new temporary directory
	// when empty.
	Dir string
	// WithoutKarpenter starts no Karpenter (nodes must then come from the test).
	WithoutKarpenter bool
	// KarpenterEnv adds environment variables to Karpenter, e.g. FEATURE_GATES.
	KarpenterEnv []string
	// InstanceTypes replaces the instance types Karpenter's kwok provider launches: an
	// instance-types file in kwok's format, e.g. from AWSInstanceTypes. kwok's own
	// generic types when empty.
	InstanceTypes []byte
	// Progress receives a line per start-up step and the build scripts' progress.
	Progress func(string)
}

func (o Options) progress(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, args...))
	}
}

// Cluster is a running cluster.
type Cluster struct {
	// Dir is the cluster's working directory.
	Dir string
	// Kubeconfig is the path of an administrator kubeconfig.
	Kubeconfig string
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is an administrator client using Scheme.
	Client client.Client
	// Timings records how long start-up steps took, for reports.
	Timings map[string]time.Duration
	// InstanceTypesFile is the kwok instance-types file Karpenter reads
	// (Options.InstanceTypes); empty with kwok's own types.
	InstanceTypesFile string
	// BallastEnv adds environment variables to the controller processes started
	// afterwards (StartBallast), e.g. AWS endpoints.
	BallastEnv []string

	pki        *pki
	components []*component
	capacity   *capacityFile
	ownDir     bool
}

// Start brings a cluster up and waits until it can run pods: the API server is ready,
// the default service account exists, and (unless disabled) Karpenter is running with
// a default KWOKNodeClass.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	started := time.Now()
	c = &Cluster{Dir: opts.Dir, Timings: map[string]time.Duration{}}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "ballast-cluster-"); err != nil {
			return nil, err
		}
		c.ownDir = true
	} else if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Dump(os.Stderr)
			c.Stop()
			c = nil
		}
	}()
	opts.progress("building (once) or finding etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and Karpenter")
	assets, err := binaries(opts)
	if err != nil {
		return c, err
	}
	c.Timings["binaries"] = time.Since(started)
	if c.pki, err = newPKI(c.Dir); err != nil {
		return c, err
	}
	ports, err := freePorts(6)
	if err != nil {
		return c, err
	}
	etcdPort, peerPort, apiPort, kcmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	opts.progress("starting etcd and kube-apiserver")
	if err := c.startEtcd(assets, etcdPort, peerPort); err != nil {
		return c, err
	}
	if err := c.startAPIServer(ctx, assets, apiPort, etcdPort); err != nil {
		return c, err
	}
	c.Timings["apiserver-ready"] = time.Since(started)
	opts.progress("starting kube-controller-manager, kube-scheduler and kwok")
	if err := c.startControllers(assets, kcmPort, schedPort, kwokPort); err != nil {
		return c, err
	}
	if err := c.waitDefaultServiceAccount(ctx); err != nil {
		return c, err
	}
	if !opts.WithoutKarpenter {
		opts.progress("starting Karpenter with its kwok provider")
		if err := c.writeInstanceTypes(opts.InstanceTypes); err != nil {
			return c, err
		}
		env := opts.KarpenterEnv
		if c.InstanceTypesFile != "" {
			env = append(slices.Clone(env), "INSTANCE_TYPES_FILE_PATH="+c.InstanceTypesFile)
		}
		if err := c.startKarpenter(ctx, assets, env); err != nil {
			return c, err
		}
	}
	c.Timings["cluster-ready"] = time.Since(started)
	return c, nil
}

func (c *Cluster) add(comp *component, err error) error {
	if err != nil {
		return err
	}
	c.components = append(c.components, comp)
	return nil
}

func (c *Cluster) startEtcd(assets map[string]string, port, peer int) error {
	client := fmt.Sprintf("http://127.0.0.1:%d", port)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	return c.add(startComponent(c.Dir, "etcd", assets["etcd"], []string{
		"--name=default", "--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=default=" + peerURL, "--unsafe-no-fsync", "--log-level=warn",
	}, nil))
}

func (c *Cluster) startAPIServer(ctx context.Context, assets map[string]string, port, etcdPort int) error {
	serving, err := c.pki.issue("kube-apiserver", nil, []string{
		"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local", "127.0.0.1", "10.0.0.1",
	})
	if err != nil {
		return err
	}
	proxy, err := c.pki.issue("front-proxy-client", nil, nil)
	if err != nil {
		return err
	}
	saKey, saPub, err := c.pki.serviceAccountKeys()
	if err != nil {
		return err
	}
	if err := c.add(startComponent(c.Dir, "kube-apiserver", assets["kube-apiserver"], []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdPort),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port), "--endpoint-reconciler-type=none",
		"--tls-cert-file=" + serving.Cert, "--tls-private-key-file=" + serving.Key,
		"--client-ca-file=" + c.pki.CAFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saPub, "--service-account-signing-key-file=" + saKey,
		"--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--requestheader-client-ca-file=" + c.pki.CAFile,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + proxy.Cert, "--proxy-client-key-file=" + proxy.Key,
	}, nil)); err != nil {
		return err
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", port)
	admin, err := c.kubeconfig("admin", server, []string{"system:masters"})
	if err != nil {
		return err
	}
	c.Kubeconfig = admin
	if c.Config, err = clientcmd.BuildConfigFromFlags("", admin); err != nil {
		return err
	}
	c.Config.QPS, c.Config.Burst = 200, 400
	// A discovery client, not a clientset: the typed clients of every API group would
	// add megabytes to the ballast binary, which runs this for `ballast dev`.
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		return err
	}
	if c.Client, err = client.New(c.Config, client.Options{Scheme: Scheme}); err != nil {
		return err
	}
	return c.poll(ctx, "kube-apiserver to be ready", 2*time.Minute, func(ctx context.Context) (bool, error) {
		body, err := dc.RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
}

func (c *Cluster) startControllers(assets map[string]string, kcmPort, schedPort, kwokPort int) error {
	server := c.Config.Host
	kcm, err := c.kubeconfig("system:kube-controller-manager", server, nil)
	if err != nil {
		return err
	}
	if err := c.add(startComponent(c.Dir, "kube-controller-manager", assets["kube-controller-manager"], []string{
		"--kubeconfig=" + kcm, "--authentication-kubeconfig=" + kcm, "--authorization-kubeconfig=" + kcm,
		"--controllers=*", "--use-service-account-credentials=true",
		"--service-account-private-key-file=" + filepath.Join(c.Dir, "sa.key"),
		"--root-ca-file=" + c.pki.CAFile,
		"--cluster-signing-cert-file=" + c.pki.CAFile, "--cluster-signing-key-file=" + filepath.Join(c.Dir, "ca.key"),
		"--leader-elect=false", "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", kcmPort),
		// kwok renews the nodes' leases from one process on a machine the tests keep
		// busy; with the default 50 s grace a starved kwok gets every node marked
		// unreachable (tainted, its pods not ready) at once, and a pod evicted or
		// created in that window goes Pending for reasons no component under test
		// controls. Node failure is not what these clusters test.
		"--node-monitor-grace-period=5m",
	}, nil)); err != nil {
		return err
	}
	sched, err := c.kubeconfig("system:kube-scheduler", server, nil)
	if err != nil {
		return err
	}
	if err := c.add(startComponent(c.Dir, "kube-scheduler", assets["kube-scheduler"], []string{
		"--kubeconfig=" + sched, "--authentication-kubeconfig=" + sched, "--authorization-kubeconfig=" + sched,
		"--leader-elect=false", "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", schedPort),
	}, nil)); err != nil {
		return err
	}
	ready := filepath.Join(c.Dir, "kwok-pod-ready-again.yaml")
	if err := os.WriteFile(ready, []byte(podReadyAgainStage), 0o600); err != nil {
		return err
	}
	return c.add(startComponent(c.Dir, "kwok", assets["kwok"], []string{
		"--kubeconfig=" + c.Kubeconfig, "--config=" + assets["kwok-stages"], "--config=" + ready,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		fmt.Sprintf("--server-address=127.0.0.1:%d", kwokPort), "--node-ip=127.0.0.1",
	}, nil))
}

// podReadyAgainStage is the kubelet's part that kwok's shipped stages leave out: when a
// node missed heartbeats (a loaded machine), the node lifecycle controller marks its
// pods not ready, and a kubelet marks them ready again once the node is back; kwok's
// pod-ready stage only handles Pending pods. Without it, PodDisruptionBudgets count
// running pods as unhealthy for the rest of the suite.
const podReadyAgainStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready-again
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
`

// kubeconfig writes a kubeconfig with a client certificate for user in groups.
func (c *Cluster) kubeconfig(user, server string, groups []string) (string, error) {
	cert, err := c.pki.issue(user, groups, nil)
	if err != nil {
		return "", err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: c.pki.CAFile}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificate: cert.Cert, ClientKey: cert.Key}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: user}
	cfg.CurrentContext = "test"
	path := filepath.Join(c.Dir, strings.ReplaceAll(user, ":", "-")+".kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

func (c *Cluster) waitDefaultServiceAccount(ctx context.Context) error {
	return c.poll(ctx, "the default service account", 2*time.Minute, func(ctx context.Context) (bool, error) {
		err := c.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "default"}, &corev1.ServiceAccount{})
		return err == nil, client.IgnoreNotFound(err)
	})
}

// poll waits for cond, failing early when a component has exited.
func (c *Cluster) poll(ctx context.Context, what string, timeout time.Duration, cond wait.ConditionWithContextFunc) error {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		for _, comp := range c.components {
			if done, err := comp.exited(); done {
				return false, fmt.Errorf("%s exited (%w):\n%s", comp.Name, err, comp.tail(30))
			}
		}
		return cond(ctx)
	})
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}

// NewNamespace creates a namespace with a generated name and waits for its default
// service account, so pods can be created in it at once.
func (c *Cluster) NewNamespace(ctx context.Context, prefix string) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := c.Client.Create(ctx, ns); err != nil {
		return "", err
	}
	return ns.Name, c.WaitServiceAccount(ctx, ns.Name)
}

// WaitServiceAccount waits for the default ServiceAccount of a namespace: pods are
// refused until it exists.
func (c *Cluster) WaitServiceAccount(ctx context.Context, ns string) error {
	return c.poll(ctx, "the default service account of "+ns, time.Minute, func(ctx context.Context) (bool, error) {
		err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "default"}, &corev1.ServiceAccount{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
}

// Memory returns the resident memory of each running component in bytes.
func (c *Cluster) Memory() map[string]int64 {
	out := map[string]int64{}
	for _, comp := range c.components {
		out[comp.Name] = comp.RSS()
	}
	return out
}

// CPU returns the processor time each component of the cluster has used so far.
func (c *Cluster) CPU() map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, comp := range c.components {
		out[comp.Name] = comp.CPU()
	}
	return out
}

// Dump writes the last lines of every component's log to w.
func (c *Cluster) Dump(w io.Writer) {
	if c == nil {
		return
	}
	for _, comp := range c.components {
		_, _ = fmt.Fprintf(w, "==== %s (%s)\n%s\n", comp.Name, comp.LogPath, comp.tail(40))
	}
}

// Stop stops every component, newest first, and removes the directory it created.
func (c *Cluster) Stop() {
	if c == nil {
		return
	}
	for i := len(c.components) - 1; i >= 0; i-- {
		c.components[i].stop()
	}
	if c.ownDir && os.Getenv("BALLAST_KEEP_CLUSTER") == "" {
		_ = os.RemoveAll(c.Dir)
	}
}

// Components lists the names of the running components, sorted.
func (c *Cluster) Components() []string {
	var names []string
	for _, comp := range c.components {
		names = append(names, comp.Name)
	}
	sort.Strings(names)
	return names
}
