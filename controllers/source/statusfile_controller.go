package source

import (
	"context"
	"fmt"
	gosync "sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/controllers/internal/status"
	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// StatusFiles reads and writes a file on a branch of a remote repository.
type StatusFiles interface {
	gitsync.FileWriter
	gitsync.FileReader
}

// StatusFileReconciler keeps each PolicySource's status file in Git up to date: the
// applied revision, the last failure and the runtime figures of its cluster. It runs
// apart from the sync, so that runtime changes are written without a sync and a sync
// writes nothing unless something changed enough (see compare and due).
//
// What was last written is remembered per PolicySource; after a restart it is read
// back from the branch (its updatedAt is the time of the last status commit), so a
// restart neither loses the minimum interval nor commits again what is there.
type StatusFileReconciler struct {
	// Client reads PolicySources, Flux GitRepositories and, usually from a cache, the
	// ClusterPolicies and rules with the runtime figures.
	Client client.Client
	// Secrets reads the Git credentials and signing-key Secrets; it must not be a cache.
	Secrets client.Reader
	// Files reads and pushes the status file.
	Files StatusFiles
	// Recorder records events; none when nil.
	Recorder events.EventRecorder
	// Cluster is the cluster this controller serves; PolicySources of other clusters
	// are left alone. Any cluster when empty.
	Cluster string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// AllowInsecureHTTP accepts http:// and file:// repositories (see Reconciler).
	AllowInsecureHTTP bool
	// Namespaces lists the namespaces whose PolicySources get a status file, as
	// Reconciler.Namespaces: the runtime figures of the cluster never go to the
	// repository of a PolicySource the sync refuses. Empty allows none.
	Namespaces []string

	mu   gosync.Mutex
	last map[types.NamespacedName]written
}

// written is what was last written to a PolicySource's status file.
type written struct {
	// target is statusTarget.key of the file.
	target string
	// file is its content; nil when there is none on the branch.
	file *StatusFile
	// at is when it was committed; zero when unknown.
	at time.Time
}

// Reconcile writes one PolicySource's status file when it is due.
func (r *StatusFileReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	src, err := r.source(ctx, req.NamespacedName)
	if src == nil || err != nil {
		return ctrl.Result{}, err
	}
	next := statusFileOf(src)
	if next == nil {
		return ctrl.Result{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout(src))
	defer cancel()
	log := logf.FromContext(ctx)
	t, err := statusTargetOf(ctx, r.Client, src, r.AllowInsecureHTTP)
	if err != nil {
		// The sync reports why in the StatusWriteBack condition; nothing is written.
		log.V(1).Info("no status file", "reason", err.Error())
		return ctrl.Result{}, nil
	}
	next.Runtime = runtimeStatus(ctx, r.Client, src.Spec.Cluster)
	auth := &lazyAuth{secrets: r.Secrets, key: t.Secret}
	last, err := r.lastWritten(ctx, req.NamespacedName, t, auth)
	if err != nil {
		r.event(src, corev1.EventTypeWarning, ReportFailedReason, err.Error())
		return ctrl.Result{}, err
	}

	now := r.now()
	if last.file != nil && last.file.AppliedRevision == next.AppliedRevision {
		next.AppliedAt = last.file.AppliedAt
	} else if next.AppliedRevision != "" {
		next.AppliedAt = now.UTC().Format(time.RFC3339)
	}
	c, why := compare(last.file, next)
	write, after := due(c, last.at, now, minInterval(statusFileSpec(src)))
	if !write {
		if after > 0 {
			log.V(1).Info("status file change held back", "change", why, "after", after)
		}
		return ctrl.Result{RequeueAfter: after}, nil
	}
	next.UpdatedAt = now.UTC().Format(time.RFC3339)
	if err := r.write(ctx, src, t, next, why, auth); err != nil {
		r.event(src, corev1.EventTypeWarning, ReportFailedReason, err.Error())
		return ctrl.Result{}, err
	}
	r.remember(req.NamespacedName, written{target: t.key(), file: next, at: now})
	log.V(1).Info("status file written", "change", why, "branch", t.Branch, "path", t.Path)
	return ctrl.Result{}, nil
}

// source reads the PolicySource; nil when it has no status file to write: gone,
// deleted, suspended, without statusWriteBack.statusFile, of another cluster, in a
// namespace not allowed, or waiting for the cluster another source applies (claimOf).
func (r *StatusFileReconciler) source(ctx context.Context, key types.NamespacedName) (*v1alpha1.PolicySource, error) {
	src := &v1alpha1.PolicySource{}
	if err := r.Client.Get(ctx, key, src); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(key)
		}
		return nil, client.IgnoreNotFound(err)
	}
	if statusFileSpec(src) == nil || !src.DeletionTimestamp.IsZero() || src.Spec.Suspend || (r.Cluster != "" && src.Spec.Cluster != r.Cluster) ||
		!namespaceAllowed(r.Namespaces, src.Namespace) {
		r.forget(key)
		return nil, nil
	}
	// Only the source that applies the cluster describes it: two sources writing
	// status/<cluster>.yaml to one branch would overwrite each other's commits.
	sources, err := servedSources(ctx, r.Client, r.Namespaces)
	if err != nil {
		return nil, err
	}
	if holder := claimOf(src.Spec.Cluster, sources).Holder; holder == nil || keyOf(holder) != key {
		r.forget(key)
		return nil, nil
	}
	return src, nil
}

// lazyAuth reads the credentials Secret once, when Git is first reached: a status file
// that needs no commit reads no Secret.
type lazyAuth struct {
	secrets client.Reader
	key     *client.ObjectKey
	auth    *gitsync.Auth
}

func (a *lazyAuth) get(ctx context.Context) (gitsync.Auth, error) {
	if a.auth == nil {
		auth := gitsync.Auth{}
		if a.key != nil {
			data, err := readSecret(ctx, a.secrets, *a.key)
			if err != nil {
				return auth, err
			}
			auth = gitsync.AuthFromSecret(data)
		}
		a.auth = &auth
	}
	return *a.auth, nil
}

// lastWritten is what this controller last wrote to the file or, when it remembers
// nothing of it (a restart, a new target), what the branch holds.
func (r *StatusFileReconciler) lastWritten(ctx context.Context, key types.NamespacedName, t *statusTarget, auth *lazyAuth) (written, error) {
	if w, ok := r.remembered(key, t); ok {
		return w, nil
	}
	w, err := r.readBack(ctx, t, auth)
	if err == nil {
		r.remember(key, w)
	}
	return w, err
}

// readBack reads what the branch holds: no file, a file Ballast wrote (its updatedAt
// is the time of the last status commit), or one it cannot read as a status file,
// which the next write replaces.
func (r *StatusFileReconciler) readBack(ctx context.Context, t *statusTarget, auth *lazyAuth) (written, error) {
	w := written{target: t.key()}
	a, err := auth.get(ctx)
	if err != nil {
		return w, err
	}
	content, err := r.Files.ReadFile(ctx, gitsync.FileReadOptions{URL: t.URL, Auth: a, Branch: t.Branch, Path: t.Path})
	if gitsync.IsNotFound(err) {
		return w, nil
	}
	if err != nil {
		return w, fmt.Errorf("failed to read the status file %s on %s: %w", t.Path, t.Branch, err)
	}
	f := &StatusFile{}
	if err := yaml.Unmarshal(content, f); err != nil {
		return w, nil //nolint:nilerr // not a status file: the next write replaces it
	}
	w.file = f
	if at, err := time.Parse(time.RFC3339, f.UpdatedAt); err == nil {
		w.at = at
	}
	return w, nil
}

// write pushes the status file.
func (r *StatusFileReconciler) write(ctx context.Context, src *v1alpha1.PolicySource, t *statusTarget, f *StatusFile, why string, a *lazyAuth) error {
	content, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	auth, err := a.get(ctx)
	if err != nil {
		return err
	}
	sf := statusFileSpec(src)
	opts := gitsync.FileWriteOptions{
		URL: t.URL, Auth: auth, Branch: t.Branch, Path: t.Path, Content: content,
		AuthorName: "Ballast", AuthorEmail: "ballast@users.noreply.ballast.dev",
		Message: fmt.Sprintf("ballast: %s %s", src.Spec.Cluster, why),
	}
	if a := sf.Author; a != nil {
		opts.AuthorName, opts.AuthorEmail = a.Name, a.Email
	}
	if ref := sf.SigningKeyRef; ref != nil {
		data, err := readSecret(ctx, r.Secrets, client.ObjectKey{Namespace: src.Namespace, Name: ref.Name})
		if err != nil {
			return err
		}
		opts.SigningKey, opts.SSHSigningKey = data["git.asc"], data["identity"]
	}
	if _, _, err := r.Files.WriteFile(ctx, opts); err != nil {
		return fmt.Errorf("failed to push the status file %s to %s: %w", opts.Path, opts.Branch, err)
	}
	return nil
}

func (r *StatusFileReconciler) remembered(key types.NamespacedName, t *statusTarget) (written, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.last[key]
	if !ok || w.target != t.key() {
		return written{}, false
	}
	return w, true
}

func (r *StatusFileReconciler) remember(key types.NamespacedName, w written) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[types.NamespacedName]written{}
	}
	r.last[key] = w
}

func (r *StatusFileReconciler) forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.last, key)
}

func (r *StatusFileReconciler) event(obj *v1alpha1.PolicySource, eventType, reason, msg string) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(obj, nil, eventType, reason, "StatusFile", "%s", status.Message(msg, status.MaxEventMessage))
}

func (r *StatusFileReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
