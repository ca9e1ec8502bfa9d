package localcluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
)

// Eventually polls cond every half second until it returns true, returns an error, or
// the timeout passes; the error then says what was awaited and the last observation.
func (c *Cluster) Eventually(ctx context.Context, what string, timeout time.Duration, cond func(context.Context) (bool, string, error)) error {
	var last string
	err := c.poll(ctx, what, timeout, func(ctx context.Context) (bool, error) {
		ok, observed, err := cond(ctx)
		last = observed
		return ok, err
	})
	if err != nil && last != "" {
		return fmt.Errorf("%w (last seen: %s)", err, last)
	}
	return err
}

// RunningPods returns the pods in ns matching selector that are Running on a node.
func (c *Cluster) RunningPods(ctx context.Context, ns string, selector labels.Selector) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := c.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// WaitPodsRunning waits until exactly n pods in ns matching selector are Running (and
// no other pod of theirs is pending or terminating) and returns them.
func (c *Cluster) WaitPodsRunning(ctx context.Context, ns string, selector labels.Selector, n int, timeout time.Duration) ([]corev1.Pod, error) {
	var pods []corev1.Pod
	err := c.Eventually(ctx, fmt.Sprintf("%d running pods %s in %s", n, selector, ns), timeout, func(ctx context.Context) (bool, string, error) {
		var list corev1.PodList
		if err := c.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: selector}); err != nil {
			return false, "", err
		}
		running, err := c.RunningPods(ctx, ns, selector)
		if err != nil {
			return false, "", err
		}
		pods = running
		return len(running) == n && len(list.Items) == n, fmt.Sprintf("%d running of %d pods", len(running), len(list.Items)), nil
	})
	return pods, err
}

// KarpenterNodes returns the nodes Karpenter launched, grouped by capacity type
// ("spot", "on-demand").
func (c *Cluster) KarpenterNodes(ctx context.Context) (map[string][]corev1.Node, error) {
	var list corev1.NodeList
	if err := c.Client.List(ctx, &list, client.HasLabels{karpv1.NodePoolLabelKey}); err != nil {
		return nil, err
	}
	out := map[string][]corev1.Node{}
	for _, n := range list.Items {
		ct := n.Labels[karpv1.CapacityTypeLabelKey]
		out[ct] = append(out[ct], n)
	}
	return out, nil
}

// NodeOf returns the node a pod runs on.
func (c *Cluster) NodeOf(ctx context.Context, pod *corev1.Pod) (*corev1.Node, error) {
	var node corev1.Node
	err := c.Client.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, &node)
	return &node, err
}
