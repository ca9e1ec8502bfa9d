package app

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/controlplane"
	"github.com/ballast-dev/ballast/test/gitserver"
)

// tenancyPolicies is a policy tree for cluster test with a rule in namespace team-a.
var tenancyPolicies = map[string]string{
	"policies/clusters/test.yaml": `apiVersion: ballast.dev/v1alpha1
kind: ClusterPolicy
metadata:
  name: test
spec:
  cluster: {name: test, region: eu-central-1}
  nodeClass: {role: KarpenterNodeRole-test}
  instances:
    categories: [c, m]
    cpu: {min: 2, max: 16}
    zones: [eu-central-1a]
  limits: {cpu: "100", memory: 400Gi, nodes: 20}
  spot: {enabled: true}
  distribution: {baseOnDemand: 1, onDemandPercent: 20}
`,
	"policies/rules/web.yaml": `apiVersion: ballast.dev/v1alpha1
kind: WorkloadDistributionRule
metadata:
  name: web
  namespace: team-a
spec:
  clusters: [test]
  onDemandPercent: 50
`,
}

// runningController is a `ballast controller` process started by a test.
type runningController struct {
	t      *testing.T
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

// startController runs `ballast controller --cluster test` with the extra flags as a
// process of its own (see mainEnv), against the API server of the test's KUBECONFIG.
func startController(t *testing.T, extra ...string) *runningController {
	t.Helper()
	args := append([]string{"controller", "--cluster", "test",
		"--metrics-addr", "0", "--health-addr", "0", "--webhook-port", strconv.Itoa(freePort(t)),
		"--cert-dir", t.TempDir(), "--source-dir", t.TempDir(), "--log-level", "error",
		"--allow-insecure-http", // the test's git server is http://127.0.0.1
	}, extra...)
	c := &runningController{t: t, exited: make(chan struct{}), log: filepath.Join(t.TempDir(), "controller.log")}
	logFile, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$") //nolint:gosec // this test binary
	c.cmd.Env = append(os.Environ(), mainEnv+"="+strings.Join(args, "\n"))
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = c.cmd.Wait()
		_ = logFile.Close()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.exited
	})
	return c
}

// output returns what the process wrote.
func (c *runningController) output() string {
	data, _ := os.ReadFile(c.log)
	return string(data)
}

// running fails the test when the controller exited.
func (c *runningController) running() {
	select {
	case <-c.exited:
		c.t.Fatalf("the controller exited with %d:\n%s", c.cmd.ProcessState.ExitCode(), c.output())
	default:
	}
}

// stop asks the controller to stop (SIGTERM) and waits until it did, cleanly.
func (c *runningController) stop() {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatal(err)
	}
	select {
	case <-c.exited:
		if code := c.cmd.ProcessState.ExitCode(); code != ExitOK {
			c.t.Fatalf("the controller stopped with %d:\n%s", code, c.output())
		}
	case <-time.After(time.Minute):
		c.t.Fatal("the controller did not stop")
	}
}

// TestPolicySourceNamespaces: by default `ballast controller` syncs PolicySources only
// from its own namespace. One in another namespace gets Ready=False with reason
// NamespaceNotAllowed and an event naming --policy-source-namespaces, and nothing of it
// is read (its Git server is never asked) or applied, while one in the controller's
// namespace is applied. Restarted with --policy-source-namespaces=team-a, the
// controller applies team-a's PolicySource.
func TestPolicySourceNamespaces(t *testing.T) {
	env, err := controlplane.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	ctx := context.Background()
	kube := env.Client
	installWebhookConfiguration(t, kube)
	t.Setenv("KUBECONFIG", writeKubeconfig(t, env))

	root := gitserver.NewRoot(t)
	platformGit := gitserver.ServeHTTP(t, root, "ballast", "s3cret", "")
	tenantGit := gitserver.ServeHTTP(t, root, "ballast", "s3cret", "")
	commit := root.Create(t, "policies").Commit(t, "main", "policies", tenancyPolicies)
	revision := "main@sha1:" + commit
	source := func(namespace, name, url string) *v1alpha1.PolicySource {
		return &v1alpha1.PolicySource{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			Spec: v1alpha1.PolicySourceSpec{
				Cluster: "test", Path: "./policies", Prune: true, Interval: metav1.Duration{Duration: time.Hour},
				Git: &v1alpha1.GitSource{URL: url, SecretRef: &v1alpha1.LocalObjectReference{Name: "git"}},
			},
		}
	}
	tenant := source("team-a", "tenant", tenantGit.RepoURL("policies"))
	platform := source("ballast-system", "platform", platformGit.RepoURL("policies"))
	for _, ns := range []string{"team-a", "ballast-system"} {
		if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git"},
			Data: map[string][]byte{"username": []byte("ballast"), "password": []byte("s3cret")}}
		if err := kube.Create(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	if err := kube.Create(ctx, tenant); err != nil {
		t.Fatal(err)
	}

	ctrl := startController(t)
	waitFor := func(what string, cond func(ctx context.Context) (bool, string, error)) {
		t.Helper()
		last := ""
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			ctrl.running()
			ok, why, err := cond(ctx)
			last = why
			return ok, err
		})
		if err != nil {
			t.Fatalf("%s: %v (%s)\n%s", what, err, last, ctrl.output())
		}
	}
	condition := func(ps *v1alpha1.PolicySource, typ string) *metav1.Condition {
		got := &v1alpha1.PolicySource{}
		if err := kube.Get(ctx, client.ObjectKeyFromObject(ps), got); err != nil {
			t.Fatal(err)
		}
		for _, c := range got.Status.Conditions {
			if c.Type == typ {
				return &c
			}
		}
		return nil
	}
	waitFor("team-a's PolicySource refused", func(context.Context) (bool, string, error) {
		c := condition(tenant, "Ready")
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == "NamespaceNotAllowed", fmt.Sprintf("Ready %+v", c), nil
	})
	if c := condition(tenant, "Ready"); !strings.Contains(c.Message, "--policy-source-namespaces") {
		t.Errorf("the refusal does not say which flag allows the namespace: %q", c.Message)
	}
	waitFor("an event on team-a's PolicySource", func(ctx context.Context) (bool, string, error) {
		var list corev1.EventList
		if err := kube.List(ctx, &list, client.InNamespace("team-a")); err != nil {
			return false, "", err
		}
		for _, e := range list.Items {
			if e.InvolvedObject.Name == tenant.Name && e.Reason == "NamespaceNotAllowed" && e.Type == corev1.EventTypeWarning &&
				strings.Contains(e.Message, "--policy-source-namespaces") {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("%d events", len(list.Items)), nil
	})

	// The controller's own namespace is allowed: its PolicySource is applied.
	if err := kube.Create(ctx, platform); err != nil {
		t.Fatal(err)
	}
	pool := func(ctx context.Context) (*karpv1.NodePool, error) {
		p := &karpv1.NodePool{}
		err := kube.Get(ctx, client.ObjectKey{Name: "ballast-test-spot"}, p)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return p, err
	}
	waitFor("the platform PolicySource applied", func(ctx context.Context) (bool, string, error) {
		c := condition(platform, "Ready")
		p, err := pool(ctx)
		return c != nil && c.Status == metav1.ConditionTrue && p != nil, fmt.Sprintf("Ready %+v", c), err
	})
	if n := tenantGit.Requests(); n != 0 {
		t.Errorf("the refused PolicySource's Git server got %d requests, want none", n)
	}
	if c := condition(tenant, "Ready"); c == nil || c.Reason != "NamespaceNotAllowed" {
		t.Errorf("team-a's PolicySource: Ready %+v", c)
	}
	// Deleting it (prune) leaves the cluster without its objects for team-a to apply.
	if err := kube.Delete(ctx, platform); err != nil {
		t.Fatal(err)
	}
	waitFor("the platform PolicySource gone with its NodePools", func(ctx context.Context) (bool, string, error) {
		err := kube.Get(ctx, client.ObjectKeyFromObject(platform), &v1alpha1.PolicySource{})
		p, perr := pool(ctx)
		return apierrors.IsNotFound(err) && (p == nil || p.DeletionTimestamp != nil), fmt.Sprintf("PolicySource: %v", err), perr
	})
	ctrl.stop()

	// Allowed by the flag, team-a's PolicySource is applied.
	ctrl = startController(t, "--policy-source-namespaces=team-a")
	waitFor("team-a's PolicySource applied", func(ctx context.Context) (bool, string, error) {
		c := condition(tenant, "Ready")
		p, err := pool(ctx)
		if err != nil || p == nil || p.DeletionTimestamp != nil {
			return false, fmt.Sprintf("Ready %+v, no NodePool", c), err
		}
		return c != nil && c.Status == metav1.ConditionTrue && p.Labels[v1alpha1.SourceLabel] == tenant.Name,
			fmt.Sprintf("Ready %+v, NodePool labels %v", c, p.Labels), nil
	})
	got := &v1alpha1.PolicySource{}
	if err := kube.Get(ctx, client.ObjectKeyFromObject(tenant), got); err != nil || got.Status.LastAppliedRevision != revision {
		t.Errorf("team-a's PolicySource applied %q, want %s (%v)", got.Status.LastAppliedRevision, revision, err)
	}
	ctrl.stop()
}

// TestPolicySourceNamespacesFlag: the flag takes namespace names or *, and * needs
// every namespace watched.
func TestPolicySourceNamespacesFlag(t *testing.T) {
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--policy-source-namespaces=team-a,Team_B"}, `"Team_B" is no namespace name`},
		{[]string{"--policy-source-namespaces=*", "--watch-all-namespaces=false"}, "--policy-source-namespaces=* needs --watch-all-namespaces"},
	} {
		t.Run(strings.Join(tc.flags, " "), func(t *testing.T) {
			t.Setenv("KUBECONFIG", "/nonexistent")
			var out, errOut bytes.Buffer
			args := append([]string{"controller", "--cluster", "test"}, tc.flags...)
			if code := MainContext(context.Background(), args, nil, &out, &errOut); code != ExitError || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut.String(), ExitError, tc.want)
			}
		})
	}
}
