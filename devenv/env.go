package devenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// Demo timings: what DemoTimings sets in the cluster's policy, so that a Spot outage
// and the return to Spot take minutes, not hours.
const (
	DemoFallbackAfter    = "30s"
	DemoReverseInterval  = "1m"
	DemoConsolidateAfter = "30s"
	// unavailableTTL is how long Karpenter remembers a Spot offering that ran out (3m
	// in AWS), shortened like the rest.
	unavailableTTL = "30s"
	// policyPath is where the policy tree lives in the repository.
	policyPath = "policies"
	// SourceName is the PolicySource of the repository, in localcluster.BallastNamespace.
	SourceName = "dev"
)

// Options configure an environment.
type Options struct {
	// Dir holds everything (cluster state, logs, the repository); a new temporary
	// directory when empty.
	Dir string
	// Policies is the policy tree to serve; the repository's examples/policies when
	// empty.
	Policies string
	// Cluster is the ClusterPolicy to run; the first in the tree when empty.
	Cluster string
	// Forge serves the repository: ForgeAuto (the default, when empty), ForgeGit or
	// ForgeGitea, whose commit statuses the controller also sets.
	Forge string
	// DemoTimings shortens the cluster's fallback and consolidation timings and drops
	// its maintenance windows in the served copy, so that a demo happens now.
	DemoTimings bool
	// Progress receives one line per step (and build output while binaries build).
	Progress func(string)

	// For tests of the whole product on a cluster of their own:
	// InstanceTypes replaces kwok's instance types (localcluster.Options.InstanceTypes,
	// e.g. localcluster.AWSInstanceTypes).
	InstanceTypes []byte
	// ControllerArgs and ControllerEnv are added to the controller's flags and
	// environment.
	ControllerArgs, ControllerEnv []string
	// NoWorkloads deploys none of the example workloads.
	NoWorkloads bool
}

// Env is a running environment.
type Env struct {
	// Cluster is the ClusterPolicy cluster name.
	Cluster string
	// Kube is the local cluster; Ballast the controller.
	Kube    *localcluster.Cluster
	Ballast *localcluster.Ballast
	// Repo is the policy repository, on the forge the options name.
	Repo Repository
	// Git is the local Git server serving it with ForgeGit, Gitea the Gitea with
	// ForgeGitea; the other is nil.
	Git   *localcluster.GitServer
	Gitea *localcluster.Gitea
	// PolicyFile is the ClusterPolicy's file in the repository (slash-separated).
	PolicyFile string
	// Workloads are the example workloads the environment deployed.
	Workloads []Workload

	opts Options
	dir  string
	own  bool
}

// Workload is an example workload.
type Workload struct {
	Namespace, Name string
	Replicas        int32
}

func (o Options) progress(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, args...))
	}
}

// Start brings the environment up; Stop tears it down (also after an error here).
func Start(ctx context.Context, o Options) (env *Env, err error) {
	if err := checkForge(o.Forge); err != nil {
		return nil, err
	}
	e := &Env{opts: o, dir: o.Dir}
	if e.dir == "" {
		if e.dir, err = os.MkdirTemp("", "ballast-dev-"); err != nil {
			return nil, err
		}
		e.own = true
	}
	defer func() {
		if err != nil {
			e.Stop()
		}
	}()
	tree := o.Policies
	if tree == "" {
		tree = filepath.Join(localcluster.RepoRoot(), "examples", "policies")
	}
	if err := e.stage(tree); err != nil {
		return e, err
	}
	o.progress("starting the local cluster (the first run builds etcd, Kubernetes, kwok and Karpenter: minutes)")
	if e.Kube, err = localcluster.Start(ctx, localcluster.Options{
		Dir: filepath.Join(e.dir, "cluster"), KarpenterEnv: []string{"BALLAST_UNAVAILABLE_TTL=" + unavailableTTL}, Progress: o.Progress,
		InstanceTypes: o.InstanceTypes,
	}); err != nil {
		return e, err
	}
	e.Kube.BallastEnv = o.ControllerEnv
	if err := e.startRepository(ctx); err != nil {
		return e, err
	}
	o.progress("building and starting ballast controller --cluster %s (as its own ServiceAccount)", e.Cluster)
	// kwok's instance types are not in the price catalogue: the controller prices the
	// nodes with kwok's own prices, in whatever region the policy names.
	prices, err := localcluster.KwokPrices(cost.DefaultCatalogue().Regions()...)
	if err != nil {
		return e, err
	}
	pricesFile := filepath.Join(e.dir, "kwok-prices.yaml")
	if err := os.WriteFile(pricesFile, prices, 0o600); err != nil {
		return e, err
	}
	args := append([]string{"--render-target", string(render.TargetKwok),
		"--unavailable-offerings-ttl", unavailableTTL, "--prices", pricesFile, "--cost-interval", "10s"}, o.ControllerArgs...)
	if e.Ballast, err = e.Kube.StartBallast(ctx, e.Cluster, args...); err != nil {
		return e, err
	}
	// The rules' namespaces must exist before the rules are applied; they are opted in.
	if err := e.createNamespaces(ctx); err != nil {
		return e, err
	}
	o.progress("syncing the repository: PolicySource %s/%s", localcluster.BallastNamespace, SourceName)
	if err := e.createSource(ctx); err != nil {
		return e, err
	}
	if err := e.waitRendered(ctx); err != nil {
		return e, err
	}
	if o.NoWorkloads {
		return e, nil
	}
	o.progress("deploying example workloads")
	if err := e.deployWorkloads(ctx); err != nil {
		return e, err
	}
	return e, nil
}

// Dir is where the environment keeps its state.
func (e *Env) Dir() string { return e.dir }

// Stop stops every process and removes the state unless it was given.
func (e *Env) Stop() {
	if e.Ballast != nil {
		e.Ballast.Stop()
	}
	if e.Git != nil {
		e.Git.Stop()
	}
	if e.Gitea != nil {
		e.Gitea.Stop()
	}
	if e.Kube != nil {
		e.Kube.Stop()
	}
	if e.own {
		_ = os.RemoveAll(e.dir)
	}
}

// stage copies the policy tree and picks the cluster; with DemoTimings it rewrites
// the cluster's policy with the demo timings.
func (e *Env) stage(tree string) error {
	repo, err := policies.Load(os.DirFS(tree), ".", tree)
	if err != nil {
		return fmt.Errorf("failed to read the policy tree %s: %w", tree, err)
	}
	if f := repo.Validate(); f.HasErrors() {
		return fmt.Errorf("the policy tree %s does not validate; run ballast validate %s", tree, tree)
	}
	clusters := repo.Clusters()
	if len(clusters) == 0 {
		return fmt.Errorf("the policy tree %s has no ClusterPolicy", tree)
	}
	e.Cluster = e.opts.Cluster
	if e.Cluster == "" {
		e.Cluster = clusters[0]
	} else if !slices.Contains(clusters, e.Cluster) {
		return fmt.Errorf("the policy tree has no ClusterPolicy for cluster %q (it has %s)", e.Cluster, strings.Join(clusters, ", "))
	}
	for _, p := range repo.ClusterPolicies {
		if p.Policy.Spec.Cluster.Name == e.Cluster {
			rel, err := filepath.Rel(tree, p.File)
			if err != nil || strings.HasPrefix(rel, "..") {
				rel = p.File
			}
			e.PolicyFile = path.Join(policyPath, filepath.ToSlash(rel))
		}
	}
	staged := filepath.Join(e.dir, "tree")
	if err := os.RemoveAll(staged); err != nil {
		return err
	}
	if err := copyDir(tree, staged); err != nil {
		return err
	}
	if e.opts.DemoTimings {
		file := filepath.Join(staged, strings.TrimPrefix(filepath.FromSlash(e.PolicyFile), policyPath+string(filepath.Separator)))
		if err := demoTimings(file, e.Cluster); err != nil {
			return err
		}
	}
	return nil
}

// demoTimings rewrites the ClusterPolicy of cluster in file with the demo timings.
func demoTimings(file, cluster string) error {
	data, err := os.ReadFile(file) //nolint:gosec // the staged copy
	if err != nil {
		return err
	}
	var out []string
	for _, doc := range strings.Split(string(data), "\n---") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil || m["kind"] != "ClusterPolicy" || nested(m, "spec", "cluster", "name") != cluster {
			out = append(out, doc)
			continue
		}
		spec, _ := m["spec"].(map[string]any)
		spot, _ := spec["spot"].(map[string]any)
		if spot == nil {
			spot = map[string]any{}
			spec["spot"] = spot
		}
		spot["fallback"] = map[string]any{"after": DemoFallbackAfter, "reverseInterval": DemoReverseInterval}
		bp, _ := spec["binPacking"].(map[string]any)
		if bp == nil {
			bp = map[string]any{}
			spec["binPacking"] = bp
		}
		bp["consolidateAfter"] = DemoConsolidateAfter
		delete(spec, "maintenanceWindows")
		b, err := yaml.Marshal(m)
		if err != nil {
			return err
		}
		out = append(out, "# ballast dev: fallback, return and consolidation timings shortened and\n# maintenance windows dropped, so that the demo happens now.\n"+string(b))
	}
	return os.WriteFile(file, []byte(strings.Join(out, "\n---\n")), 0o600)
}

func nested(m map[string]any, keys ...string) any {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

// createSource creates the credentials Secret and the PolicySource of the repository,
// with the status file written back to the ballast-status branch and, on Gitea, a
// commit status on every synced commit (the Secret's token).
func (e *Env) createSource(ctx context.Context) error {
	c := e.Kube.Client
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: localcluster.BallastNamespace, Name: "policies-git"},
		StringData: e.credentials()}
	if err := c.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	ps := &v1alpha1.PolicySource{
		ObjectMeta: metav1.ObjectMeta{Namespace: localcluster.BallastNamespace, Name: SourceName},
		Spec: v1alpha1.PolicySourceSpec{
			Cluster: e.Cluster, Path: policyPath, Interval: metav1.Duration{Duration: time.Minute}, Prune: true,
			Git: &v1alpha1.GitSource{URL: e.Repo.URL, Ref: &v1alpha1.GitRef{Branch: "main"},
				SecretRef: &v1alpha1.LocalObjectReference{Name: secret.Name}},
			StatusWriteBack: &v1alpha1.StatusWriteBack{StatusFile: &v1alpha1.StatusFileSpec{MinInterval: &metav1.Duration{Duration: statusFileMinInterval}},
				CommitStatus: e.commitStatus(secret.Name)},
		},
	}
	return c.Create(ctx, ps)
}

// statusFileMinInterval is the dev PolicySource's statusFile.minInterval: shorter than
// the default (5m), so that the status file follows what the cluster does after a
// policy change (nodes launched, costs moved) within the scenario's wait rather than
// five minutes after the commit's own status was written.
const statusFileMinInterval = 30 * time.Second

// waitRendered waits until the PolicySource applied the cluster's NodePools and marks
// the KWOKNodeClass ready, as a node class controller would (the kwok provider has
// none).
func (e *Env) waitRendered(ctx context.Context) error {
	c := e.Kube.Client
	name := render.NodeClassName(e.Cluster)
	err := wait.PollUntilContextTimeout(ctx, 300*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		nc := &unstructured.Unstructured{}
		nc.SetAPIVersion("karpenter.kwok.sh/v1alpha1")
		nc.SetKind("KWOKNodeClass")
		if err := c.Get(ctx, client.ObjectKey{Name: name}, nc); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		now := metav1.Now().UTC().Format(time.RFC3339)
		_ = unstructured.SetNestedSlice(nc.Object, []any{map[string]any{
			"type": "Ready", "status": "True", "reason": "Ready", "message": "",
			"lastTransitionTime": now, "observedGeneration": nc.GetGeneration(),
		}}, "status", "conditions")
		return c.Status().Update(ctx, nc) == nil, nil
	})
	if err != nil {
		var ps v1alpha1.PolicySource
		_ = c.Get(ctx, client.ObjectKey{Namespace: localcluster.BallastNamespace, Name: SourceName}, &ps)
		msg := ""
		for _, cond := range ps.Status.Conditions {
			if cond.Type == "Ready" {
				msg = cond.Message
			}
		}
		return fmt.Errorf("the PolicySource did not apply the cluster's NodePools: %w (Ready: %s)\n%s", err, msg, e.Ballast.Log(30))
	}
	return nil
}

// exampleWorkload is an example Deployment: one in each namespace that has a rule for
// the cluster (labelled so that the rule selects it), and one under the cluster
// default.
type exampleWorkload struct {
	ns, name string
	labels   map[string]string
	replicas int32
}

func (e *Env) examples() ([]exampleWorkload, error) {
	repo, err := policies.Load(os.DirFS(filepath.Join(e.dir, "tree")), ".", "tree")
	if err != nil {
		return nil, err
	}
	_, rules, err := repo.ForCluster(e.Cluster)
	if err != nil {
		return nil, err
	}
	out := []exampleWorkload{{ns: "demo", name: "web", labels: map[string]string{}, replicas: 6}}
	for _, r := range rules {
		out = append(out, exampleWorkload{ns: r.Namespace, name: r.Name, labels: selectedBy(r.Spec.WorkloadSelector), replicas: 6})
	}
	return out, nil
}

// createNamespaces creates the examples' namespaces, opted in to distribution.
func (e *Env) createNamespaces(ctx context.Context) error {
	wants, err := e.examples()
	if err != nil {
		return err
	}
	for _, w := range wants {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.ns,
			Labels: map[string]string{v1alpha1.DistributionLabel: v1alpha1.DistributionEnabled}}}
		if err := e.Kube.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		if err := e.Kube.WaitServiceAccount(ctx, w.ns); err != nil {
			return err
		}
	}
	return nil
}

// deployWorkloads creates the example Deployments.
func (e *Env) deployWorkloads(ctx context.Context) error {
	wants, err := e.examples()
	if err != nil {
		return err
	}
	for _, w := range wants {
		labels := map[string]string{"app": w.name}
		for k, v := range w.labels {
			labels[k] = v
		}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: w.name, Labels: labels},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(w.replicas),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": w.name}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](0), Containers: []corev1.Container{{
						Name: "app", Image: "registry.example/" + w.name + ":1",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi"),
						}},
					}}},
				},
			},
		}
		if err := e.Kube.Client.Create(ctx, d); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		e.Workloads = append(e.Workloads, Workload{Namespace: w.ns, Name: w.name, Replicas: w.replicas})
	}
	return nil
}

// selectedBy returns labels a workload needs for the selector to select it.
func selectedBy(sel *metav1.LabelSelector) map[string]string {
	out := map[string]string{}
	if sel == nil {
		return out
	}
	for k, v := range sel.MatchLabels {
		out[k] = v
	}
	for _, r := range sel.MatchExpressions {
		switch r.Operator {
		case metav1.LabelSelectorOpIn:
			if len(r.Values) > 0 {
				out[r.Key] = r.Values[0]
			}
		case metav1.LabelSelectorOpExists:
			out[r.Key] = "demo"
		}
	}
	return out
}

func copyDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	var errs []error
	for _, ent := range entries {
		s, d := filepath.Join(src, ent.Name()), filepath.Join(dst, ent.Name())
		switch {
		case strings.HasPrefix(ent.Name(), "."):
		case ent.IsDir():
			errs = append(errs, copyDir(s, d))
		case ent.Type().IsRegular():
			data, err := os.ReadFile(s) //nolint:gosec // the user's policy tree
			if err != nil {
				errs = append(errs, err)
				continue
			}
			errs = append(errs, os.WriteFile(d, data, 0o600))
		}
	}
	return errors.Join(errs...)
}
