package scope

import (
	"reflect"
	"slices"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

func TestIncludes(t *testing.T) {
	s := Scope{Own: "ballast-system", Excluded: []string{"monitoring"}}
	optedIn := map[string]string{v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled}
	ns := func(name string, l map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
	}
	deleting := ns("shop", optedIn)
	deleting.DeletionTimestamp = &metav1.Time{}
	for _, tc := range []struct {
		ns   *corev1.Namespace
		want bool
	}{
		{ns("shop", optedIn), true},
		{ns("shop", nil), false},
		{ns("shop", map[string]string{v1alpha1.DistributionLabel: "disabled"}), false},
		{ns("kube-system", optedIn), false},
		{ns("ballast-system", optedIn), false},
		{ns("monitoring", optedIn), false},
		{deleting, false},
		{nil, false},
	} {
		got, why := s.Includes(tc.ns)
		if got != tc.want || (!got && why == "") {
			t.Errorf("Includes(%v) = %v %q, want %v with a reason when out", tc.ns, got, why, tc.want)
		}
	}
}

// TestNamespaceSelectorAgreesWithIncludes: the API server's selector and the
// webhook's own check agree on every namespace.
func TestNamespaceSelectorAgreesWithIncludes(t *testing.T) {
	s := Scope{Own: "ballast-system", Excluded: []string{"monitoring"}}
	sel, err := metav1.LabelSelectorAsSelector(s.NamespaceSelector())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"shop", "kube-system", "kube-public", "kube-node-lease", "ballast-system", "monitoring", "default"} {
		for _, l := range []map[string]string{nil, {v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled}, {v1alpha1.DistributionLabel: "no"}} {
			all := map[string]string{corev1.LabelMetadataName: name}
			for k, v := range l {
				all[k] = v
			}
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: all}}
			in, _ := s.Includes(ns)
			if matched := sel.Matches(labels.Set(all)); matched != in {
				t.Errorf("namespace %s %v: selector %v, Includes %v", name, l, matched, in)
			}
		}
	}
	want := []string{"ballast-system", "kube-node-lease", "kube-public", "kube-system", "monitoring"}
	if got := s.NamespaceSelector().MatchExpressions[0].Values; !reflect.DeepEqual(got, want) {
		t.Errorf("never-in-scope namespaces = %v, want %v", got, want)
	}
}

// TestShippedWebhookConfiguration: every webhook of each configuration Ballast ships
// (config/default, config/certmanager, and the example overlay, which installs into
// another namespace) carries exactly the namespace selector of the scope the webhook
// and the reconcilers check, for the namespace it installs into.
func TestShippedWebhookConfiguration(t *testing.T) {
	for dir, namespace := range map[string]string{
		"config/default":           "ballast-system",
		"config/certmanager":       "ballast-system",
		"examples/install/overlay": "platform-ballast",
	} {
		t.Run(dir, func(t *testing.T) {
			objs, err := localcluster.BuildKustomization(dir)
			if err != nil {
				t.Fatal(err)
			}
			if ns := localcluster.FindObject(objs, "Namespace", namespace); ns == nil {
				t.Fatalf("%s does not install into namespace %s", dir, namespace)
			}
			cfg := localcluster.FindObject(objs, "MutatingWebhookConfiguration", "ballast-mutating-webhook-configuration")
			if cfg == nil {
				t.Fatalf("%s has no ballast-mutating-webhook-configuration", dir)
			}
			var typed admissionregistrationv1.MutatingWebhookConfiguration
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(cfg.Object, &typed); err != nil {
				t.Fatal(err)
			}
			want := Scope{Own: namespace}.NamespaceSelector()
			if len(typed.Webhooks) < 2 {
				t.Fatalf("want the pod and DaemonSet webhooks, got %d", len(typed.Webhooks))
			}
			for _, w := range typed.Webhooks {
				// The API server does not care about the order of the values; an overlay's
				// replacement keeps the position of the namespace it replaces.
				for _, e := range w.NamespaceSelector.MatchExpressions {
					slices.Sort(e.Values)
				}
				if !reflect.DeepEqual(w.NamespaceSelector, want) {
					t.Errorf("webhook %s: namespaceSelector %v, want %v", w.Name, w.NamespaceSelector, want)
				}
				if w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Ignore {
					t.Errorf("webhook %s must fail open", w.Name)
				}
			}
		})
	}
}
