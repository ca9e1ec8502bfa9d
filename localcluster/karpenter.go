package localcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	kwokapis "sigs.k8s.io/karpenter/kwok/apis"
	karpenterapis "sigs.k8s.io/karpenter/pkg/apis"
)

// DefaultNodeClass is the KWOKNodeClass every test NodePool can reference.
const DefaultNodeClass = "default"

var (
	buildOnce sync.Once
	buildErr  error
	karpBin   string
)

// binaries returns the path of every component, building what is missing: the
// control-plane binaries and kwok through hack/controlplane.sh (cached by version), and
// the wrapped Karpenter from this repository (go build caches it).
func binaries(opts Options) (map[string]string, error) {
	dir, err := HackScript(opts.Progress, "controlplane.sh", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
	if err != nil {
		return nil, fmt.Errorf("failed to build the cluster binaries: %w", err)
	}
	bins := map[string]string{"kwok-stages": filepath.Join(dir, "kwok-stages.yaml")}
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		bins[name] = filepath.Join(dir, name)
	}
	if !opts.WithoutKarpenter {
		buildOnce.Do(func() { karpBin, buildErr = buildKarpenter(dir) })
		if buildErr != nil {
			return nil, buildErr
		}
		bins["karpenter"] = karpBin
	}
	return bins, nil
}

// buildKarpenter builds localcluster/karpenter next to the cached binaries.
func buildKarpenter(dir string) (string, error) {
	out := filepath.Join(dir, "ballast-karpenter-kwok")
	cmd := exec.Command("go", "build", "-o", out, "./localcluster/karpenter")
	cmd.Dir = RepoRoot()
	// The module pins its toolchain; let go switch to it whatever the caller set.
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=auto", "GOFLAGS=-mod=mod")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("failed to build Karpenter with the kwok provider: %w\n%s", err, msg)
	}
	return out, nil
}

func (c *Cluster) startKarpenter(ctx context.Context, bins map[string]string, extraEnv []string) error {
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, crd := range append(append([]*apiextensionsv1.CustomResourceDefinition{}, karpenterapis.CRDs...), kwokapis.CRDs...) {
		crds = append(crds, crd.DeepCopy())
	}
	if err := c.InstallCRDs(crds...); err != nil {
		return err
	}
	if err := c.createDefaultNodeClass(ctx); err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	c.capacity = &capacityFile{path: filepath.Join(c.Dir, "capacity.json")}
	if err := c.capacity.write(nil); err != nil {
		return err
	}
	env := append([]string{
		"KUBECONFIG=" + c.Kubeconfig,
		"DISABLE_LEADER_ELECTION=true",
		fmt.Sprintf("METRICS_PORT=%d", ports[0]),
		fmt.Sprintf("HEALTH_PROBE_PORT=%d", ports[1]),
		"BATCH_IDLE_DURATION=1s", "BATCH_MAX_DURATION=2s",
		"LOG_LEVEL=info",
		"BALLAST_CAPACITY_FILE=" + c.capacity.path,
	}, extraEnv...)
	if err := c.add(startComponent(c.Dir, "karpenter", bins["karpenter"], nil, env)); err != nil {
		return err
	}
	ready := fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1])
	return c.poll(ctx, "Karpenter to be ready", 2*time.Minute, func(context.Context) (bool, error) {
		resp, err := http.Get(ready) //nolint:gosec,noctx // loopback probe
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// createDefaultNodeClass creates the KWOKNodeClass NodePools reference and marks it
// Ready, as a NodeClass controller would (the kwok provider ships none).
func (c *Cluster) createDefaultNodeClass(ctx context.Context) error {
	nc := &unstructured.Unstructured{}
	nc.SetAPIVersion("karpenter.kwok.sh/v1alpha1")
	nc.SetKind("KWOKNodeClass")
	nc.SetName(DefaultNodeClass)
	if err := c.Client.Create(ctx, nc); err != nil {
		return fmt.Errorf("failed to create the KWOKNodeClass: %w", err)
	}
	now := metav1.Now().UTC().Format(time.RFC3339)
	_ = unstructured.SetNestedSlice(nc.Object, []any{map[string]any{
		"type": "Ready", "status": "True", "reason": "Ready", "message": "",
		"lastTransitionTime": now, "observedGeneration": nc.GetGeneration(),
	}}, "status", "conditions")
	if err := c.Client.Status().Update(ctx, nc); err != nil {
		return fmt.Errorf("failed to mark the KWOKNodeClass ready: %w", err)
	}
	return nil
}

// InstallCRDs creates CRDs and waits until the API server serves them.
func (c *Cluster) InstallCRDs(crds ...*apiextensionsv1.CustomResourceDefinition) error {
	_, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{CRDs: crds})
	return err
}

// Pool names Spot or On-Demand capacity: a capacity type ("spot" or "on-demand"), a
// zone (test-zone-a..d; empty for all) and an instance-type pattern (path.Match syntax;
// empty for all).
type Pool struct {
	CapacityType string `json:"capacityType"`
	Zone         string `json:"zone,omitempty"`
	InstanceType string `json:"instanceType,omitempty"`
}

// SetUnavailable makes launches into the pools fail with insufficient capacity, as EC2
// answers InsufficientInstanceCapacity, until the next call; SetUnavailable() with no
// pools makes all capacity available again. Karpenter sees the change at its next launch.
func (c *Cluster) SetUnavailable(pools ...Pool) error {
	if c.capacity == nil {
		return fmt.Errorf("the cluster runs no Karpenter")
	}
	return c.capacity.write(pools)
}

type capacityFile struct {
	path string
	mu   sync.Mutex
}

func (f *capacityFile) write(pools []Pool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if pools == nil {
		pools = []Pool{}
	}
	data, err := json.Marshal(map[string]any{"blocked": pools})
	if err != nil {
		return err
	}
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	// A new modification time even within the file system's timestamp granularity.
	if st, err := os.Stat(f.path); err == nil {
		next := time.Now()
		if !next.After(st.ModTime()) {
			next = st.ModTime().Add(time.Millisecond)
		}
		_ = os.Chtimes(tmp, next, next)
	}
	return os.Rename(tmp, f.path)
}

var _ client.Object = &unstructured.Unstructured{}
