package trim

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ballast-dev/ballast/controllers/binpacking"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// TestGuard writes trimmed objects the ways a controller could, through the guard over
// a client holding the whole objects: the writes that would erase what the trim left
// out are refused before they reach the server, the others go through, and the
// server's object keeps everything the trim dropped.
func TestGuard(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	type write struct {
		name   string
		obj    func() client.Object
		write  func(c client.Client, obj client.Object) error
		refuse bool
	}
	// As a controller reads them from the cache: deep copies of the trimmed objects.
	node := func() client.Object { return Node(fullNode(t)).DeepCopy() }
	pod := func() client.Object { return wholeOf(Pod(fullPod(t))) }
	mergeFrom := func(change func(client.Object), opts ...client.MergeFromOption) func(client.Client, client.Object) error {
		return func(c client.Client, obj client.Object) error {
			base := obj.DeepCopyObject().(client.Object)
			change(obj)
			return c.Patch(ctx, obj, client.MergeFromWithOptions(base, opts...))
		}
	}
	for _, w := range []write{
		{"update a node", node, func(c client.Client, o client.Object) error { return c.Update(ctx, o) }, true},
		{"update a pod's status", pod, func(c client.Client, o client.Object) error { return c.Status().Update(ctx, o) }, true},
		{"update a workload's status", func() client.Object {
			return Deployment(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout"}})
		},
			func(c client.Client, o client.Object) error { return c.SubResource("status").Update(ctx, o) }, true},
		{"merge-patch the whole node", node, func(c client.Client, o client.Object) error { return c.Patch(ctx, o, client.Merge) }, true},
		{"apply a typed node", node, func(c client.Client, o client.Object) error {
			return c.Patch(ctx, o, client.RawPatch(types.ApplyPatchType, []byte(`{}`)))
		}, true},
		{"JSON-patch a node", node, func(c client.Client, o client.Object) error {
			return c.Patch(ctx, o, client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/status/conditions/0"}]`)))
		}, true},
		{"remove the last annotation the cache holds", node, mergeFrom(func(o client.Object) {
			o.SetAnnotations(map[string]string{})
		}), true},
		{"remove every label of a pod", pod, mergeFrom(func(o client.Object) { o.SetLabels(nil) }), true},
		{"change a container's image", pod, mergeFrom(func(o client.Object) {
			o.(*corev1.Pod).Spec.Containers[0].Image = "other"
		}), true},
		{"add a finalizer", pod, mergeFrom(func(o client.Object) { o.SetFinalizers([]string{"x"}) }), true},
		{"strategic-merge the containers", pod, func(c client.Client, o client.Object) error {
			base := o.DeepCopyObject().(client.Object)
			o.(*corev1.Pod).Spec.Containers = o.(*corev1.Pod).Spec.Containers[:1]
			return c.Patch(ctx, o, client.StrategicMergeFrom(base))
		}, true},
		{"replace the conditions", pod, func(c client.Client, o client.Object) error {
			return c.Status().Patch(ctx, o, client.RawPatch(types.MergePatchType, []byte(`{"status":{"conditions":[]}}`)))
		}, true},
		{"delete the status", pod, func(c client.Client, o client.Object) error {
			return c.Patch(ctx, o, client.RawPatch(types.MergePatchType, []byte(`{"status":null}`)))
		}, true},
		{"a strategic merge directive", pod, func(c client.Client, o client.Object) error {
			return c.Patch(ctx, o, client.RawPatch(types.StrategicMergePatchType, []byte(`{"metadata":{"annotations":{"$patch":"replace"}}}`)))
		}, true},

		{"annotate a node (bin-packing's mark)", node, mergeFrom(func(o client.Object) {
			a := o.GetAnnotations()
			a[binpacking.UnderusedSinceAnnotation] = "2026-03-02T12:00:00Z"
		}), false},
		{"delete one annotation", node, func(c client.Client, o client.Object) error {
			return c.Patch(ctx, o, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"ballast.dev/underused-since":null}}}`)))
		}, false},
		{"taint a node", node, mergeFrom(func(o client.Object) {
			n := o.(*corev1.Node)
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: binpacking.DrainTaint, Value: "draining", Effect: corev1.TaintEffectNoSchedule})
		}, client.MergeFromWithOptimisticLock{}), false},
		{"remove every taint", node, mergeFrom(func(o client.Object) { o.(*corev1.Node).Spec.Taints = nil }), false},
		{"label a pod", pod, mergeFrom(func(o client.Object) { o.GetLabels()["x"] = "y" }), false},
		{"delete one label of a pod", pod, mergeFrom(func(o client.Object) { delete(o.GetLabels(), "team") }), false},
		{"strategic-merge the tolerations", pod, func(c client.Client, o client.Object) error {
			base := o.DeepCopyObject().(client.Object)
			o.(*corev1.Pod).Spec.Tolerations = append(o.(*corev1.Pod).Spec.Tolerations, corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists})
			return c.Patch(ctx, o, client.StrategicMergeFrom(base))
		}, false},
		{"evict a pod", pod, func(c client.Client, o client.Object) error {
			return c.SubResource("eviction").Create(ctx, o, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: o.GetNamespace(), Name: o.GetName()}})
		}, false},
		{"delete a pod", pod, func(c client.Client, o client.Object) error {
			return c.Delete(ctx, o, client.Preconditions{UID: ptr.To(o.GetUID())})
		}, false},
		{"update a kind that is not trimmed", func() client.Object {
			return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "c"}}
		}, func(c client.Client, o client.Object) error { return c.Update(ctx, o) }, false},
		{"merge-patch a kind that is not trimmed", func() client.Object {
			return &v1alpha1.ClusterPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
		}, func(c client.Client, o client.Object) error {
			return c.Status().Patch(ctx, o, client.RawPatch(types.MergePatchType, []byte(`{"status":{"conditions":[]}}`)))
		}, false},
	} {
		t.Run(w.name, func(t *testing.T) {
			whole := map[string]client.Object{"Node": fullNode(t), "Pod": fullPod(t)}
			builder := fake.NewClientBuilder().WithScheme(scheme).WithObjects(fullNode(t), fullPod(t),
				&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout"}},
				&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "c"}},
				&v1alpha1.ClusterPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}}).
				WithStatusSubresource(&corev1.Node{}, &corev1.Pod{}, &appsv1.Deployment{}, &v1alpha1.ClusterPolicy{})
			server := builder.Build()
			obj := w.obj()
			// Written as read: with the server's resourceVersion.
			fresh := obj.DeepCopyObject().(client.Object)
			if err := server.Get(ctx, client.ObjectKeyFromObject(obj), fresh); err != nil {
				t.Fatal(err)
			}
			obj.SetResourceVersion(fresh.GetResourceVersion())

			err := w.write(Guard(server), obj)
			if w.refuse {
				if !IsRefused(err) {
					t.Fatalf("not refused: %v", err)
				}
				t.Log(err)
			} else if err != nil {
				t.Fatalf("refused or failed: %v", err)
			}
			// Whatever went through, the server keeps what the cache never held.
			switch o := obj.(type) {
			case *corev1.Node:
				var got corev1.Node
				if err := server.Get(ctx, client.ObjectKeyFromObject(o), &got); err != nil {
					t.Fatal(err)
				}
				if want := whole["Node"].(*corev1.Node); len(got.Status.Images) != len(want.Status.Images) ||
					got.Annotations["karpenter.sh/nodepool-hash"] != want.Annotations["karpenter.sh/nodepool-hash"] {
					t.Fatalf("the node lost what the cache does not hold: %s", jsonOf(t, &got))
				}
			case *corev1.Pod:
				var got corev1.Pod
				if err := server.Get(ctx, client.ObjectKeyFromObject(o), &got); err != nil {
					if w.name == "delete a pod" || w.name == "evict a pod" {
						return
					}
					t.Fatal(err)
				}
				if want := whole["Pod"].(*corev1.Pod); got.Spec.Containers[0].Image != want.Spec.Containers[0].Image ||
					len(got.Status.Conditions) != len(want.Status.Conditions) || len(got.Spec.Containers) != len(want.Spec.Containers) ||
					got.Labels[corev1.LabelTopologyZone] != want.Labels[corev1.LabelTopologyZone] {
					t.Fatalf("the pod lost what the cache does not hold: %s", jsonOf(t, &got))
				}
			}
		})
	}
}
