package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
	"github.com/ballast-dev/ballast/test/gitserver"
)

// exampleFiles reads examples/policies into a file map under the given prefix.
func exampleFiles(b *testing.B, prefix string) map[string]string {
	b.Helper()
	root := filepath.Join(controlplane.RepoRoot(), "examples", "policies")
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		data, err := os.ReadFile(p) //nolint:gosec // the repository's own examples
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(filepath.Join(prefix, rel))] = string(data)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkSyncExampleRepository measures one sync of the example policy repository
// from a real git server on loopback (git http-backend with basic auth): from the
// reconcile request after a push to the new revision applied (fetch, validate, render,
// server-side apply of cluster prod-eu's objects) in a real API server.
func BenchmarkSyncExampleRepository(b *testing.B) {
	ctx := context.Background()
	root := gitserver.NewRoot(b)
	srv := gitserver.ServeHTTP(b, root, "ballast", "s3cret", "")
	repo := root.Create(b, "examples")
	files := exampleFiles(b, "policies")
	repo.Commit(b, "main", "examples", files)
	ns := "bench-sync"
	// The namespaces the example's rules live in.
	for _, name := range []string{"shop", "payments", "batch"} {
		if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); client.IgnoreAlreadyExists(err) != nil {
			b.Fatal(err)
		}
	}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git"}, Data: map[string][]byte{"username": []byte("ballast"), "password": []byte("s3cret")}},
		&v1alpha1.PolicySource{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "examples"},
			Spec: v1alpha1.PolicySourceSpec{
				Cluster: "prod-eu", Path: "./policies", Interval: metav1.Duration{Duration: time.Hour},
				Git: &v1alpha1.GitSource{URL: srv.RepoURL("examples"), SecretRef: &v1alpha1.LocalObjectReference{Name: "git"}},
			},
		},
	} {
		if err := kube.Create(ctx, obj); err != nil {
			b.Fatal(err)
		}
	}
	key := client.ObjectKey{Namespace: ns, Name: "examples"}
	cluster := "policies/clusters/prod-eu.yaml"
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		files[cluster] = strings.Replace(files[cluster], "onDemandPercent: ", fmt.Sprintf("onDemandPercent: %d #", 10+i%50), 1)
		commit := repo.Commit(b, "main", fmt.Sprintf("change %d", i), files)
		var ps v1alpha1.PolicySource
		if err := kube.Get(ctx, key, &ps); err != nil {
			b.Fatal(err)
		}
		if ps.Annotations == nil {
			ps.Annotations = map[string]string{}
		}
		ps.Annotations["reconcile.fluxcd.io/requestedAt"] = commit
		b.StartTimer()
		if err := kube.Update(ctx, &ps); err != nil {
			b.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			if err := kube.Get(ctx, key, &ps); err != nil {
				return false, err
			}
			return ps.Status.LastAppliedRevision == "main@sha1:"+commit, nil
		})
		if err != nil {
			b.Fatalf("revision %s was not applied: %v (%+v)", commit, err, ps.Status.Conditions)
		}
	}
}
