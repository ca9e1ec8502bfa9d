package rendering_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	ssautils "github.com/fluxcd/pkg/ssa/utils"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/render"
	"github.com/ballast-dev/ballast/test/controlplane"
)

// awsProvider is the module of Karpenter's AWS provider. Its pkg/apis/crds holds the
// CRDs an EKS cluster runs (its Helm chart karpenter-crd installs them): EC2NodeClass and
// its copies of core Karpenter's NodePool and NodeClaim, which AWS patches (for example,
// nodeClassRef must name an EC2NodeClass). Provider and core are released together, with
// the same version.
const awsProvider = "github.com/aws/karpenter-provider-aws"

// olderKarpenterVersions are the Karpenter releases older than the one go.mod pins that
// Ballast supports: what it renders must apply to their CRDs too. Keep this, the range in
// docs/install-eks.md and CONTRIBUTING.md in step.
var olderKarpenterVersions = []string{"v1.13.1", "v1.14.3"}

// TestKarpenterVersions server-side applies everything Ballast renders for
// examples/policies (every ClusterPolicy) to a fresh API server per supported Karpenter
// version, with that version's CRDs (downloaded through the module proxy, kept by the
// module cache), and checks the API server accepts every object and keeps every field.
func TestKarpenterVersions(t *testing.T) {
	logf.SetLogger(logr.Discard())
	tree := filepath.Join(controlplane.RepoRoot(), "examples", "policies")
	repo, err := policies.Load(os.DirFS(tree), ".", tree)
	if err != nil {
		t.Fatal(err)
	}
	if findings := repo.Validate(); findings.HasErrors() {
		t.Fatalf("%s does not validate: %v", tree, findings)
	}
	var objs []*unstructured.Unstructured
	for _, cluster := range repo.Clusters() {
		policy, rules, err := repo.ForCluster(cluster)
		if err != nil {
			t.Fatal(err)
		}
		rendered, err := render.Render(render.Input{Policy: policy, Rules: rules, Source: "examples",
			Now: time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatalf("render %s: %v", cluster, err)
		}
		// The bytes `ballast render` prints, which the controller applies too.
		data, err := render.Marshal(rendered)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := ssautils.ReadObjects(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, docs...)
	}
	if len(repo.Clusters()) < 2 || len(objs) < 6 {
		t.Fatalf("expected every cluster of the examples, rendered %d objects for %v", len(objs), repo.Clusters())
	}
	for _, version := range append(slices.Clone(olderKarpenterVersions), pinnedKarpenter(t)) {
		t.Run(version, func(t *testing.T) {
			dir, err := controlplane.ModuleDir(awsProvider + "@" + version)
			if err != nil {
				t.Fatal(err)
			}
			c := startWithCRDs(t, filepath.Join(dir, "pkg", "apis", "crds"))
			ctx := context.Background()
			for _, obj := range objs {
				checkApplied(ctx, t, c, obj)
			}
		})
	}
}

// pinnedKarpenter returns the version of the AWS provider this binary was built with (go.mod's).
func pinnedKarpenter(t *testing.T) string {
	t.Helper()
	bi, ok := debug.ReadBuildInfo()
	if ok {
		for _, dep := range bi.Deps {
			if dep.Path == awsProvider {
				return dep.Version
			}
		}
	}
	t.Fatalf("%s is not a dependency of this test binary", awsProvider)
	return ""
}

// startWithCRDs starts kube-apiserver and etcd with Ballast's CRDs and those in
// karpenterCRDs, stopped when the test ends.
func startWithCRDs(t *testing.T, karpenterCRDs string) client.Client {
	t.Helper()
	assets, err := controlplane.Assets()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(controlplane.RepoRoot(), "config", "crd", "bases"), karpenterCRDs},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("failed to start an API server with the CRDs of %s: %v", karpenterCRDs, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("failed to stop the API server: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{Scheme: controlplane.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkApplied server-side applies obj as Ballast's controller does (field owner
// ballast, forced) and checks the API server kept every field that was sent.
func checkApplied(ctx context.Context, t *testing.T, c client.Client, u *unstructured.Unstructured) {
	t.Helper()
	id := fmt.Sprintf("%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
	if ns := u.GetNamespace(); ns != "" {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()), client.FieldOwner("ballast"), client.ForceOwnership); err != nil {
		t.Errorf("the API server refused %s: %v", id, err)
		return
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(u.GroupVersionKind())
	if err := c.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
		t.Fatalf("failed to read %s back: %v", id, err)
	}
	for _, path := range missing(u.Object, got.Object, "") {
		t.Errorf("the API server dropped or changed %s of %s: the CRD schema does not know it", path, id)
	}
}
