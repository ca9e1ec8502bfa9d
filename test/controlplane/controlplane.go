package controlplane

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	awsapis "github.com/aws/karpenter-provider-aws/pkg/apis"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ballast-dev/ballast/localcluster"
)

// Scheme knows the Kubernetes built-in kinds, Ballast's kinds and Karpenter's.
var Scheme = localcluster.Scheme

// Env is a running control plane.
type Env struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is an administrator client using Scheme.
	Client client.Client

	env *envtest.Environment
}

// Stop stops the API server and etcd.
func (e *Env) Stop() error { return e.env.Stop() }

// Start starts kube-apiserver and etcd and installs Ballast's CRDs (config/crd/bases)
// and Karpenter's NodePool, NodeClaim and EC2NodeClass CRDs (the AWS provider's, with
// their CEL rules).
func Start() (*Env, error) {
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	crds, err := KarpenterCRDs()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		CRDs:                  crds,
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("failed to start kube-apiserver and etcd from %s: %w", assets, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("failed to create a client: %w", err)
	}
	return &Env{Config: cfg, Client: c, env: env}, nil
}

// KarpenterCRDs returns the CRDs the AWS provider of Karpenter ships: EC2NodeClass,
// NodePool, NodeClaim and NodeOverlay.
func KarpenterCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, crd := range awsapis.CRDs {
		out = append(out, crd.DeepCopy())
	}
	return out, nil
}

// HackScript runs one of the repository's build scripts (localcluster.HackScript).
func HackScript(name string, args ...string) (string, error) {
	return localcluster.HackScript(nil, name, args...)
}

// RepoRoot returns the repository's root directory.
func RepoRoot() string { return localcluster.RepoRoot() }

var (
	assetsOnce sync.Once
	assetsDir  string
	assetsErr  error
)

// Assets returns the directory holding kube-apiserver and etcd: KUBEBUILDER_ASSETS when
// the user set it, otherwise the cache that hack/controlplane.sh fills, building the
// binaries first when they are missing.
func Assets() (string, error) {
	assetsOnce.Do(func() {
		if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
			assetsDir = dir
			return
		}
		assetsDir, assetsErr = HackScript("controlplane.sh", "etcd", "kube-apiserver")
	})
	return assetsDir, assetsErr
}

// RunTests starts a control plane into *env, runs the package's tests and stops it; a
// package's TestMain is then os.Exit(controlplane.RunTests(m, &env)).
func RunTests(m interface{ Run() int }, env **Env) int {
	var err error
	if *env, err = Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := (*env).Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "failed to stop the control plane:", err)
		}
	}()
	return m.Run()
}

// ModuleDir downloads a module version through the module proxy (or finds it in the
// module cache) and returns its directory, for tests that need files a dependency ships
// but does not embed, such as CRD manifests.
func ModuleDir(module string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Dir = os.TempDir() // outside this module: no go.mod constraints apply
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=auto", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("failed to download %s: %w", module, err)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("failed to read go mod download's answer for %s: %w", module, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("failed to download %s: %s", module, info.Error)
	}
	return info.Dir, nil
}
