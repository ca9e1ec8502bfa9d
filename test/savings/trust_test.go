package savings

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/devenv"
	"github.com/ballast-dev/ballast/localcluster"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/test/gitserver"
)

// The cluster's PolicySource is driven through Git like every other test of this
// package; these tests point it elsewhere for a while and put it back.

func mainSource(t *testing.T) *v1alpha1.PolicySource {
	t.Helper()
	var ps v1alpha1.PolicySource
	if err := env.Kube.Client.Get(context.Background(), client.ObjectKey{Namespace: localcluster.BallastNamespace, Name: devenv.SourceName}, &ps); err != nil {
		t.Fatal(err)
	}
	return &ps
}

// repointSource changes the cluster's PolicySource's spec and puts the spec back at
// cleanup (then waits until it applied the repository's head again).
func repointSource(t *testing.T, mutate func(*v1alpha1.PolicySource)) {
	t.Helper()
	ctx := context.Background()
	ps := mainSource(t)
	original := ps.Spec.DeepCopy()
	policy, err := env.Repo.File(env.PolicyFile)
	if err != nil {
		t.Fatal(err)
	}
	mutate(ps)
	if err := env.Kube.Client.Update(ctx, ps); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ps := mainSource(t)
		ps.Spec = *original
		if err := env.Kube.Client.Update(ctx, ps); err != nil {
			t.Error(err)
			return
		}
		push(t, "back to the repository's own policy", policy, func(*v1alpha1.ClusterPolicy) bool { return true })
	})
}

func waitMainSource(t *testing.T, what string, cond func(*v1alpha1.PolicySource) bool) *v1alpha1.PolicySource {
	t.Helper()
	var ps v1alpha1.PolicySource
	err := env.Kube.Eventually(context.Background(), what, 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		if err := env.Kube.Client.Get(ctx, client.ObjectKey{Namespace: localcluster.BallastNamespace, Name: devenv.SourceName}, &ps); err != nil {
			return false, "", err
		}
		return cond(&ps), fmt.Sprintf("applied %s, %+v", ps.Status.LastAppliedRevision, ps.Status.Conditions), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return &ps
}

func createSecret(t *testing.T, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: localcluster.BallastNamespace, Name: name}, StringData: data}
	if err := env.Kube.Client.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Kube.Client.Delete(context.Background(), s) })
}

// repositoryFiles reads the files of the cluster's repository's work tree.
func repositoryFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	root := env.Repo.Dir
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if d != nil && d.Name() == ".git" {
				return filepath.SkipDir
			}
			return err
		}
		data, err := os.ReadFile(p) //nolint:gosec // the test's work tree
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestSSHSourceUnderTheShippedSecurityContext: the real controller, run as the shipped
// Deployment runs it (a read-only root file system: no home directory, temporary files
// only in its /tmp volume; see localcluster), syncs the cluster's policy from an
// ssh:// address with the identity and known_hosts of a Secret, and applies it.
func TestSSHSourceUnderTheShippedSecurityContext(t *testing.T) {
	root := gitserver.NewRoot(t)
	srv := gitserver.ServeSSH(t, root)
	repo := root.Create(t, "policies")
	head := repo.Commit(t, "main", "the cluster's policy, served over SSH", repositoryFiles(t))
	createSecret(t, "policies-ssh", map[string]string{"identity": string(srv.ClientKey), "known_hosts": string(srv.KnownHosts)})
	repointSource(t, func(ps *v1alpha1.PolicySource) {
		ps.Spec.Git.URL = srv.RepoURL("policies")
		ps.Spec.Git.SecretRef = &v1alpha1.LocalObjectReference{Name: "policies-ssh"}
	})
	if err := env.RequestSync(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitMainSource(t, "the SSH repository's head applied", func(ps *v1alpha1.PolicySource) bool {
		return strings.HasSuffix(ps.Status.LastAppliedRevision, head) && apimeta.IsStatusConditionTrue(ps.Status.Conditions, "Ready")
	})
	if srv.Sessions.Load() == 0 {
		t.Fatal("the SSH server ran no git command")
	}
}

// TestNoCredentialInAnyOutput: syncs that fail with credentials in their Git address
// (a password in the address, a password net/url cannot parse, a token as the user
// name, a password a server's error page echoes) and a forge token a forge's error page
// echoes leave no credential in the PolicySources' conditions, the events, the
// controller's log or the status file committed to Git.
func TestNoCredentialInAnyOutput(t *testing.T) {
	ctx := context.Background()
	const (
		echoed     = "echoedT0ken-e2e-secret"
		unparsable = "p#a/ss%zz-e2e-secret"
		userToken  = "ghp_userT0kenE2eSecret"
		forgeToken = "forgeT0ken-e2e-secret"
	)
	// A server that answers everything with a long error page echoing what it was sent.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "internal error for %s %s (Authorization: %s)\n%s", r.Method, r.URL, r.Header.Get("Authorization"),
			strings.Repeat("stack frame\n", 10_000))
	}))
	t.Cleanup(echo.Close)
	host := strings.TrimPrefix(echo.URL, "http://")

	// The cluster's source with its password in the address (no Secret) and commit
	// statuses sent to the echoing forge; a broken commit fails validation, and the
	// status file, pushed with the address's credentials, reports it.
	createSecret(t, "echo-forge", map[string]string{"token": forgeToken})
	withPassword := strings.Replace(env.Repo.URL, "://", "://"+env.Repo.Username+":"+env.Repo.Password+"@", 1)
	repointSource(t, func(ps *v1alpha1.PolicySource) {
		ps.Spec.Git.URL = withPassword
		ps.Spec.Git.SecretRef = nil
		ps.Spec.StatusWriteBack = &v1alpha1.StatusWriteBack{
			StatusFile: &v1alpha1.StatusFileSpec{MinInterval: &metav1.Duration{Duration: time.Second}},
			CommitStatus: &v1alpha1.CommitStatusSpec{Provider: "gitea", Address: echo.URL, Repository: "platform/policies",
				SecretRef: v1alpha1.LocalObjectReference{Name: "echo-forge"}},
		}
	})
	policy, err := env.Repo.File(env.PolicyFile)
	if err != nil {
		t.Fatal(err)
	}
	broken, err := env.Repo.Commit("a field that does not exist", map[string]string{env.PolicyFile: policy + "  notAField: 1\n"})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.RequestSync(ctx); err != nil {
		t.Fatal(err)
	}
	waitMainSource(t, "the broken commit refused", func(ps *v1alpha1.PolicySource) bool {
		return strings.HasSuffix(ps.Status.LastAttemptedRevision, broken) && apimeta.IsStatusConditionFalse(ps.Status.Conditions, "Ready")
	})

	var sources []*v1alpha1.PolicySource
	for name, url := range map[string]string{
		"echoed":     "http://ballast:" + echoed + "@" + host + "/policies.git",
		"unparsable": "https://ballast:" + unparsable + "@127.0.0.1:1/policies.git",
		"user-token": "https://" + userToken + "@127.0.0.1:1/policies.git",
	} {
		ps := &v1alpha1.PolicySource{
			ObjectMeta: metav1.ObjectMeta{Namespace: localcluster.BallastNamespace, Name: "leaky-" + name},
			Spec:       v1alpha1.PolicySourceSpec{Cluster: cluster, Interval: metav1.Duration{Duration: 10 * time.Second}, Git: &v1alpha1.GitSource{URL: url}},
		}
		if err := env.Kube.Client.Create(ctx, ps); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Kube.Client.Delete(context.Background(), ps) })
		sources = append(sources, ps)
	}
	for _, ps := range sources {
		err := env.Kube.Eventually(ctx, ps.Name+" failing", 2*time.Minute, func(ctx context.Context) (bool, string, error) {
			if err := env.Kube.Client.Get(ctx, client.ObjectKeyFromObject(ps), ps); err != nil {
				return false, "", err
			}
			return ps.Status.ObservedGeneration == ps.Generation && apimeta.IsStatusConditionFalse(ps.Status.Conditions, "Ready"),
				fmt.Sprintf("%+v", ps.Status.Conditions), nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	status := ""
	err = env.Kube.Eventually(ctx, "the status file reports the failure", 2*time.Minute, func(context.Context) (bool, string, error) {
		status = env.Repo.Read("ballast-status", "status/"+cluster+".yaml")
		return strings.Contains(status, "notAField"), status, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Let the failures repeat, with their events and log lines.
	time.Sleep(15 * time.Second)

	shown := map[string]string{"status file": status, "controller log": env.Ballast.Log(1 << 30)}
	for _, ps := range append(sources, mainSource(t)) {
		if err := env.Kube.Client.Get(ctx, client.ObjectKeyFromObject(ps), ps); err != nil {
			t.Fatal(err)
		}
		for _, c := range ps.Status.Conditions {
			shown[ps.Name+" condition "+c.Type] = c.Message
		}
	}
	var events corev1.EventList
	if err := env.Kube.Client.List(ctx, &events, client.InNamespace(localcluster.BallastNamespace)); err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		shown["event "+e.Name] = e.Reason + ": " + e.Message
	}
	echoFailure := false
	for _, text := range shown {
		echoFailure = echoFailure || strings.Contains(text, "500")
	}
	if !echoFailure {
		t.Error("no condition, event or log line says that the echoing server failed with 500")
	}
	for where, text := range shown {
		for _, s := range []string{env.Repo.Password, echoed, unparsable, "p#a/ss", userToken, forgeToken} {
			if i := strings.Index(text, s); i >= 0 {
				t.Errorf("%s shows a credential: …%s…", where, text[max(0, i-200):min(len(text), i+len(s)+50)])
			}
		}
	}
	t.Logf("scanned %d conditions, events and files; the controller's log has %d lines", len(shown), strings.Count(shown["controller log"], "\n"))
}
