package helmchart_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ballast-dev/ballast/localcluster"
)

// grants reports whether rule allows verb on resource of the core group ("*" counts).
func grants(rule rbacv1.PolicyRule, resource, verb string) bool {
	anyOf := func(list []string, v string) bool {
		return slices.Contains(list, v) || slices.Contains(list, rbacv1.ResourceAll)
	}
	return anyOf(rule.APIGroups, "") && anyOf(rule.Resources, resource) && anyOf(rule.Verbs, verb)
}

// checkRBAC checks the roles of a set of manifests: no ClusterRole reads Secrets or
// impersonates anyone (a ClusterRole also grants in every namespace a RoleBinding binds
// it in), no Role lists or watches Secrets, and Secrets are read and ServiceAccounts
// impersonated only in the namespaces listed.
func checkRBAC(t *testing.T, objs []*unstructured.Unstructured, namespaces []string) {
	t.Helper()
	for _, u := range kinds(objs, "ClusterRole") {
		for _, rule := range decode[rbacv1.ClusterRole](t, u).Rules {
			for _, verb := range []string{"get", "list", "watch"} {
				if grants(rule, "secrets", verb) {
					t.Errorf("ClusterRole %s may %s Secrets cluster-wide: %+v", u.GetName(), verb, rule)
				}
			}
			for _, resource := range []string{"serviceaccounts", "users", "groups"} {
				if grants(rule, resource, "impersonate") {
					t.Errorf("ClusterRole %s may impersonate %s cluster-wide: %+v", u.GetName(), resource, rule)
				}
			}
		}
	}
	for _, u := range kinds(objs, "Role") {
		for _, rule := range decode[rbacv1.Role](t, u).Rules {
			for _, verb := range []string{"list", "watch"} {
				if grants(rule, "secrets", verb) {
					t.Errorf("Role %s/%s may %s Secrets: %+v", u.GetNamespace(), u.GetName(), verb, rule)
				}
			}
			if (grants(rule, "secrets", "get") || grants(rule, "serviceaccounts", "impersonate")) && !slices.Contains(namespaces, u.GetNamespace()) {
				t.Errorf("Role %s/%s reads Secrets or impersonates in a namespace not allowed to hold PolicySources (%v): %+v",
					u.GetNamespace(), u.GetName(), namespaces, rule)
			}
		}
	}
}

// TestSecretsReadOnlyWhereAllowed: config/default and the chart (every value set the
// tests render) grant Secrets no cluster-wide get, list or watch, and impersonation
// nowhere cluster-wide: only in the controller's namespace and in the namespaces the
// chart's controller.policySourceNamespaces lists.
func TestSecretsReadOnlyWhereAllowed(t *testing.T) {
	kustomized, err := localcluster.BuildManifests("default")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("config/default", func(t *testing.T) { checkRBAC(t, kustomized, []string{"ballast-system"}) })
	for name, r := range combinations() {
		t.Run(name, func(t *testing.T) {
			allowed := []string{r.Namespace}
			if c, ok := r.Values["controller"].(map[string]any); ok {
				if ns, ok := c["policySourceNamespaces"].([]string); ok {
					allowed = append(allowed, ns...)
				}
			}
			checkRBAC(t, render(t, r), allowed)
		})
	}
}

// TestPolicySourceNamespaces: controller.policySourceNamespaces becomes the controller's
// --policy-source-namespaces and, in each namespace but the release's, a Role and
// RoleBinding with the release namespace Role's rules for PolicySources (Secrets get,
// ServiceAccounts impersonate) for the controller's ServiceAccount; "*" renders no Role.
// The API server's authorizer then lets the controller read Secrets and impersonate
// ServiceAccounts in exactly those namespaces.
func TestPolicySourceNamespaces(t *testing.T) {
	r := release(map[string]any{"controller": map[string]any{"policySourceNamespaces": []string{"team-a", "ballast-system", "team-b"}}})
	r.Namespace = "ballast-system"
	objs := render(t, r)
	args := find(t, objs, "Deployment", "ballast-controller").Object["spec"]
	if !strings.Contains(toYAML(t, args), "--policy-source-namespaces=team-a,ballast-system,team-b") {
		t.Errorf("the controller is not told the namespaces:\n%s", toYAML(t, args))
	}
	own := decode[rbacv1.Role](t, find(t, objs, "Role", "ballast-manager-role"))
	var tenantRoles []string
	for _, u := range kinds(objs, "Role") {
		if u.GetName() != "ballast-policysources" {
			continue
		}
		tenantRoles = append(tenantRoles, u.GetNamespace())
		for _, rule := range decode[rbacv1.Role](t, u).Rules {
			for _, verb := range rule.Verbs {
				for _, resource := range rule.Resources {
					if !slices.ContainsFunc(own.Rules, func(w rbacv1.PolicyRule) bool { return grants(w, resource, verb) }) {
						t.Errorf("Role %s/%s grants %s %s, which the controller's own namespace Role (config/rbac) does not", u.GetNamespace(), u.GetName(), verb, resource)
					}
				}
			}
		}
		var binding *rbacv1.RoleBinding
		for _, b := range kinds(objs, "RoleBinding") {
			if b.GetName() == u.GetName() && b.GetNamespace() == u.GetNamespace() {
				binding = decode[rbacv1.RoleBinding](t, b)
			}
		}
		if binding == nil {
			t.Fatalf("no RoleBinding %s/%s", u.GetNamespace(), u.GetName())
		}
		if binding.RoleRef.Name != u.GetName() || len(binding.Subjects) != 1 || binding.Subjects[0].Name != "ballast-controller" || binding.Subjects[0].Namespace != "ballast-system" {
			t.Errorf("RoleBinding %s/%s: roleRef %+v, subjects %+v", binding.Namespace, binding.Name, binding.RoleRef, binding.Subjects)
		}
	}
	slices.Sort(tenantRoles)
	if !slices.Equal(tenantRoles, []string{"team-a", "team-b"}) {
		t.Errorf("PolicySource Roles in %v, want team-a and team-b", tenantRoles)
	}

	everywhere := render(t, release(map[string]any{"controller": map[string]any{"policySourceNamespaces": []string{"*"}}}))
	if !strings.Contains(toYAML(t, find(t, everywhere, "Deployment", "ballast-controller").Object["spec"]), "--policy-source-namespaces=*") {
		t.Error("the controller is not told every namespace is allowed")
	}
	if n := len(kinds(everywhere, "Role")); n != 2 {
		t.Errorf("%d Roles with policySourceNamespaces [*], want the release namespace's two", n)
	}

	// The real authorizer, with the rendered RBAC installed.
	ctx := context.Background()
	for _, ns := range []string{"ballast-system", "team-a", "team-b", "team-c"} {
		createNamespace(t, ns)
	}
	for _, u := range objs {
		switch u.GetKind() {
		case "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount":
			if err := env.Client.Create(ctx, u.DeepCopy()); err != nil {
				t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
			}
			t.Cleanup(func() { _ = env.Client.Delete(context.Background(), u.DeepCopy()) })
		}
	}
	review := func(attrs authorizationv1.ResourceAttributes) *authorizationv1.SubjectAccessReview {
		t.Helper()
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               "system:serviceaccount:ballast-system:ballast-controller",
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:ballast-system", "system:authenticated"},
			ResourceAttributes: &attrs,
		}}
		if err := env.Client.Create(ctx, sar); err != nil {
			t.Fatal(err)
		}
		return sar
	}
	// The authorizer sees new RBAC objects through its informers: wait for the last one.
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return review(authorizationv1.ResourceAttributes{Namespace: "team-b", Verb: "impersonate", Resource: "serviceaccounts", Name: "x"}).Status.Allowed, nil
	}); err != nil {
		t.Fatalf("the rendered RBAC never took effect: %v", err)
	}
	for _, tc := range []struct {
		attrs   authorizationv1.ResourceAttributes
		allowed bool
	}{
		{authorizationv1.ResourceAttributes{Namespace: "ballast-system", Verb: "get", Resource: "secrets", Name: "git"}, true},
		{authorizationv1.ResourceAttributes{Namespace: "team-a", Verb: "get", Resource: "secrets", Name: "git"}, true},
		{authorizationv1.ResourceAttributes{Namespace: "team-b", Verb: "get", Resource: "secrets", Name: "git"}, true},
		{authorizationv1.ResourceAttributes{Namespace: "team-c", Verb: "get", Resource: "secrets", Name: "git"}, false},
		{authorizationv1.ResourceAttributes{Namespace: "kube-system", Verb: "get", Resource: "secrets", Name: "git"}, false},
		{authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets"}, false},
		{authorizationv1.ResourceAttributes{Verb: "watch", Resource: "secrets"}, false},
		{authorizationv1.ResourceAttributes{Namespace: "team-a", Verb: "list", Resource: "secrets"}, false},
		{authorizationv1.ResourceAttributes{Namespace: "team-a", Verb: "impersonate", Resource: "serviceaccounts", Name: "tenant"}, true},
		{authorizationv1.ResourceAttributes{Namespace: "ballast-system", Verb: "impersonate", Resource: "serviceaccounts", Name: "tenant"}, true},
		{authorizationv1.ResourceAttributes{Namespace: "team-c", Verb: "impersonate", Resource: "serviceaccounts", Name: "tenant"}, false},
		{authorizationv1.ResourceAttributes{Namespace: "kube-system", Verb: "impersonate", Resource: "serviceaccounts", Name: "admin"}, false},
		{authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "users", Name: "system:admin"}, false},
		{authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "groups", Name: "system:masters"}, false},
	} {
		t.Run(fmt.Sprintf("%s %s in %q", tc.attrs.Verb, tc.attrs.Resource, tc.attrs.Namespace), func(t *testing.T) {
			if got := review(tc.attrs); got.Status.Allowed != tc.allowed {
				t.Errorf("allowed = %v, want %v (%s)", got.Status.Allowed, tc.allowed, got.Status.Reason)
			}
		})
	}
}
