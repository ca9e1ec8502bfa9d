package localcluster_test

import (
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/test/controlplane"
)

// TestServiceAccountToken checks that a token issued for a ServiceAccount (what the
// controller of `ballast dev` and the e2e suites authenticates with) is that
// ServiceAccount's, against a real kube-apiserver.
func TestServiceAccountToken(t *testing.T) {
	env, err := controlplane.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := t.Context()
	const namespace, name = "token-test", "robot"
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}},
	} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	token, err := localcluster.ServiceAccountToken(ctx, env.Client, namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(env.Config)
	cfg.BearerToken = token
	c, err := client.New(cfg, client.Options{Scheme: localcluster.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		t.Fatalf("the token does not authenticate: %v", err)
	}
	if got, want := review.Status.UserInfo.Username, "system:serviceaccount:"+namespace+":"+name; got != want {
		t.Errorf("the token authenticates %q, want %q", got, want)
	}

	if _, err := localcluster.ServiceAccountToken(ctx, env.Client, namespace, "nobody"); err == nil {
		t.Error("issued a token for a ServiceAccount that does not exist")
	}
}
