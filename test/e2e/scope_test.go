package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/controllers/distribution"
	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// The scope observers are workloads Ballast must never touch, created before the
// suite and checked after it (zz_scope_test.go), so that every other test's activity
// happens while they run: a namespace that is not opted in (one Deployment with
// Karpenter's own affinity, which keeps it off Karpenter nodes and so Pending here;
// one plain), Ballast's own namespace (labelled opted in, which must not matter), and
// a workload in an opted-in namespace that pins its capacity type itself (more
// replicas than its split would put On-Demand).
type observer struct {
	Namespace, Name string
	// Replicas is how many pods it has; Running how many of them run.
	Replicas, Running int
	// UIDs of its pods once they were all there, and the nodes they ran on (by UID).
	UIDs  []string
	Nodes map[string]string
}

var (
	observers   []*observer
	observeFrom time.Time
)

const (
	outsideNamespace = "e2e-not-opted-in"
	pinnedNamespace  = "e2e-pinned"
)

// stableDeployment runs on the stable pool: zone d (a label every pool could match,
// so Ballast would place it if it were in scope) and the stable pool's toleration.
func stableDeployment(ns, name string, replicas int32, nodeSelector map[string]string) *appsv1.Deployment {
	d := deployment(ns, name, replicas, "100m", nodeSelector)
	if d.Spec.Template.Spec.NodeSelector == nil {
		d.Spec.Template.Spec.NodeSelector = map[string]string{}
	}
	d.Spec.Template.Spec.NodeSelector[corev1.LabelTopologyZone] = stableZone
	d.Spec.Template.Spec.Tolerations = append(d.Spec.Template.Spec.Tolerations, corev1.Toleration{
		Key: stableTaint.Key, Operator: corev1.TolerationOpEqual, Value: stableTaint.Value, Effect: stableTaint.Effect,
	})
	return d
}

func startObservers(ctx context.Context) ([]*observer, error) {
	optedIn := map[string]string{v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled}
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: outsideNamespace}},
		{ObjectMeta: metav1.ObjectMeta{Name: pinnedNamespace, Labels: optedIn}},
	} {
		if err := kube.Client.Create(ctx, ns); err != nil {
			return nil, err
		}
	}
	// Ballast's own namespace, labelled as if opted in.
	own := &corev1.Namespace{}
	if err := kube.Client.Get(ctx, client.ObjectKey{Name: localcluster.BallastNamespace}, own); err != nil {
		return nil, err
	}
	own.Labels[v1alpha1.DistributionLabel] = v1alpha1.DistributionEnabled
	if err := kube.Client.Update(ctx, own); err != nil {
		return nil, err
	}
	for _, ns := range []string{outsideNamespace, pinnedNamespace} {
		if err := kube.Eventually(ctx, "the default ServiceAccount of "+ns, time.Minute, func(ctx context.Context) (bool, string, error) {
			err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "default"}, &corev1.ServiceAccount{})
			return err == nil, "", client.IgnoreNotFound(err)
		}); err != nil {
			return nil, err
		}
	}
	karpenterLike := deployment(outsideNamespace, "karpenter-like", 2, "100m", nil)
	karpenterLike.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "karpenter.sh/nodepool", Operator: corev1.NodeSelectorOpDoesNotExist}},
		}}},
	}}
	workloads := []struct {
		d       *appsv1.Deployment
		running int
	}{
		{karpenterLike, 0},
		{stableDeployment(outsideNamespace, "plain", 3, nil), 3},
		{stableDeployment(localcluster.BallastNamespace, "ballast-like", 2, nil), 2},
		{stableDeployment(pinnedNamespace, "pinned", 3, map[string]string{"karpenter.sh/capacity-type": "on-demand"}), 3},
	}
	var out []*observer
	for _, w := range workloads {
		if err := kube.Client.Create(ctx, w.d); err != nil {
			return nil, err
		}
		out = append(out, &observer{Namespace: w.d.Namespace, Name: w.d.Name, Replicas: int(*w.d.Spec.Replicas), Running: w.running})
	}
	for _, o := range out {
		err := kube.Eventually(ctx, fmt.Sprintf("%s/%s to have its pods", o.Namespace, o.Name), 3*time.Minute, func(ctx context.Context) (bool, string, error) {
			pods, running, err := observedPods(ctx, o)
			if err != nil {
				return false, "", err
			}
			o.UIDs = slices.Sorted(maps.Keys(pods))
			o.Nodes = map[string]string{}
			for uid, p := range pods {
				o.Nodes[uid] = p.Spec.NodeName
			}
			return len(pods) == o.Replicas && running == o.Running, fmt.Sprintf("%d pods, %d running", len(pods), running), nil
		})
		if err != nil {
			return nil, err
		}
	}
	observeFrom = time.Now()
	return out, nil
}

// observedPods returns the observer's pods by UID and how many run.
func observedPods(ctx context.Context, o *observer) (map[string]*corev1.Pod, int, error) {
	var list corev1.PodList
	if err := kube.Client.List(ctx, &list, client.InNamespace(o.Namespace), client.MatchingLabels{"app": o.Name}); err != nil {
		return nil, 0, err
	}
	out := map[string]*corev1.Pod{}
	running := 0
	for i := range list.Items {
		p := &list.Items[i]
		out[string(p.UID)] = p
		if p.Status.Phase == corev1.PodRunning {
			running++
		}
	}
	return out, running, nil
}

// untouched returns what Ballast did to an observer, or "" when nothing: every pod is
// the one that was there at the start (nothing was evicted or replaced), none carries
// Ballast's placement, and no event says Ballast moved or tried to move one.
func untouched(ctx context.Context, o *observer) (string, error) {
	pods, _, err := observedPods(ctx, o)
	if err != nil {
		return "", err
	}
	var events corev1.EventList
	if err := kube.Client.List(ctx, &events, client.InNamespace(o.Namespace)); err != nil && !apierrors.IsNotFound(err) {
		return "", err
	}
	var problems []string
	if got := slices.Sorted(maps.Keys(pods)); !slices.Equal(got, o.UIDs) {
		problems = append(problems, fmt.Sprintf("its pods were replaced (%v, then %v)", o.UIDs, got))
		for _, uid := range o.UIDs {
			if pods[uid] == nil {
				why, err := whatRemoved(ctx, &events, uid, o.Nodes[uid])
				if err != nil {
					return "", err
				}
				problems = append(problems, fmt.Sprintf("pod %s (on node %s): %s", uid, o.Nodes[uid], why))
			}
		}
	}
	for _, p := range pods {
		if _, ok := p.Labels[v1alpha1.CapacityLabel]; ok {
			problems = append(problems, "pod "+p.Name+" carries Ballast's capacity label")
		}
		if _, ok := p.Annotations[distribution.ReasonAnnotation]; ok {
			problems = append(problems, "pod "+p.Name+" carries a placement reason")
		}
		if o.Namespace != pinnedNamespace && p.Spec.NodeSelector["karpenter.sh/capacity-type"] != "" {
			problems = append(problems, "pod "+p.Name+" was given a capacity type")
		}
	}
	// Any event a Ballast controller recorded about the workload or one of its pods,
	// then or now (a rebalance is recorded on the workload, a return to Spot on the pod).
	ours := map[string]bool{}
	for _, uid := range o.UIDs {
		ours[uid] = true
	}
	for uid := range pods {
		ours[uid] = true
	}
	for _, e := range events.Items {
		about := e.InvolvedObject.Name == o.Name || ours[string(e.InvolvedObject.UID)]
		if about && (strings.Contains(e.Source.Component+" "+e.ReportingController, "ballast") || e.Reason == distribution.EvictedReason || e.Reason == distribution.EvictionBlockedReason) {
			problems = append(problems, "event "+e.Reason+" by "+reporter(&e)+": "+e.Message)
		}
	}
	return strings.Join(problems, "; "), nil
}

// whatRemoved tells what the cluster recorded about a pod that is gone and about the
// node it ran on: the pod's events among its namespace's (any component's, by UID),
// whether the node is still there, and the events of the node and of its NodeClaim
// (Karpenter's disruption, the node lifecycle controller's; kwok names a node
// kwok-<claim>-...). A failure then names who took the pod.
func whatRemoved(ctx context.Context, events *corev1.EventList, uid, nodeName string) (string, error) {
	var out []string
	describe := func(list *corev1.EventList, match func(corev1.ObjectReference) bool) {
		for _, e := range list.Items {
			if match(e.InvolvedObject) {
				at := e.LastTimestamp.Time
				if at.IsZero() {
					at = e.EventTime.Time
				}
				out = append(out, fmt.Sprintf("%s %s/%s %s by %s: %s", at.Format(time.TimeOnly), e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, reporter(&e), e.Message))
			}
		}
	}
	describe(events, func(r corev1.ObjectReference) bool { return string(r.UID) == uid })
	if nodeName != "" {
		err := kube.Client.Get(ctx, client.ObjectKey{Name: nodeName}, &corev1.Node{})
		switch {
		case apierrors.IsNotFound(err):
			out = append(out, "node "+nodeName+" is gone")
		case err != nil:
			return "", err
		default:
			out = append(out, "node "+nodeName+" is still there")
		}
		// Events of cluster-scoped objects go to the default namespace.
		var cluster corev1.EventList
		if err := kube.Client.List(ctx, &cluster, client.InNamespace(metav1.NamespaceDefault)); err != nil {
			return "", err
		}
		describe(&cluster, func(r corev1.ObjectReference) bool {
			return (r.Kind == "Node" && r.Name == nodeName) || (r.Kind == "NodeClaim" && strings.HasPrefix(nodeName, "kwok-"+r.Name+"-"))
		})
	}
	if len(out) == 0 {
		return "nothing recorded", nil
	}
	return strings.Join(out, "; "), nil
}

// reporter names the component that recorded an event (core events say it in
// source.component, events.k8s.io ones in reportingController).
func reporter(e *corev1.Event) string {
	if e.Source.Component != "" {
		return e.Source.Component
	}
	return e.ReportingController
}
