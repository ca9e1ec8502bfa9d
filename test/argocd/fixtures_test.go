package argocd

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestFixturesAreWhatTheAPIServerServes writes every fixture, spec and status, to a real
// kube-apiserver with Ballast's CRDs, rejecting unknown fields, and checks that the
// status comes back as written: the scripts are tested on objects that can exist.
func TestFixturesAreWhatTheAPIServerServes(t *testing.T) {
	ctx := context.Background()
	c := client.WithFieldValidation(env.Client, metav1.FieldValidationStrict)
	for _, ns := range []string{"ballast-system", "shop"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	for kind, cases := range healthCases {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				u := fixture(t, kind, tc.name)
				status, hasStatus := u.Object["status"]
				// What the API server sets itself; the name is the case's, so that the
				// fixtures of one kind do not collide.
				obj := u.DeepCopy()
				delete(obj.Object, "status")
				for _, f := range []string{"resourceVersion", "uid", "creationTimestamp", "generation"} {
					unstructured.RemoveNestedField(obj.Object, "metadata", f)
				}
				obj.SetName(tc.name)
				if err := c.Create(ctx, obj); err != nil {
					t.Fatalf("the API server refused the fixture: %v", err)
				}
				if !hasStatus {
					return
				}
				obj.Object["status"] = status
				if err := c.Status().Update(ctx, obj); err != nil {
					t.Fatalf("the API server refused the fixture's status: %v", err)
				}
				if diff := cmp.Diff(status, obj.Object["status"]); diff != "" {
					t.Errorf("the API server changed the status (-fixture +served):\n%s", diff)
				}
			})
		}
	}
}
