package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/fluxcd/pkg/runtime/jitter"
	"github.com/fluxcd/pkg/runtime/metrics"
	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ballast-dev/ballast/controllers/internal/status"
	"github.com/ballast-dev/ballast/gitsync"
	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/redact"
	"github.com/ballast-dev/ballast/render"
)

// Finalizer keeps a PolicySource until what it applied is deleted (spec.prune) or
// orphaned.
const Finalizer = "ballast.dev/finalizer"

// Event reasons besides the condition reasons.
const (
	// AppliedReason: a new revision was applied.
	AppliedReason = "ReconciliationSucceeded"
	// ReportFailedReason: a commit status or the status file could not be written.
	ReportFailedReason = "ReportFailed"
)

// defaultTimeout bounds one sync when spec.timeout is not set.
const defaultTimeout = 60 * time.Second

// staleRetry is how soon a pass that read an out-of-date PolicySource runs again: the
// cache catches up within it.
const staleRetry = time.Second

// defaultInterval is the interval of a PolicySource whose spec.interval is zero.
const defaultInterval = 10 * time.Minute

// PolicySources may live in any watched namespace.
// +kubebuilder:rbac:groups=ballast.dev,resources=policysources,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=ballast.dev,resources=policysources/status;policysources/finalizers,verbs=get;update;patch
// What a sync applies and prunes: the policy CRs (rules in any namespace), and the
// cluster-scoped NodePools and EC2NodeClasses it renders.
// +kubebuilder:rbac:groups=ballast.dev,resources=clusterpolicies;workloaddistributionrules,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=karpenter.sh,resources=nodepools,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=karpenter.k8s.aws,resources=ec2nodeclasses,verbs=get;list;watch;create;update;patch;delete
// The node class of Karpenter's kwok provider, which `ballast dev` renders for (the
// group does not exist in a real cluster).
// +kubebuilder:rbac:groups=karpenter.kwok.sh,resources=kwoknodeclasses,verbs=get;list;watch;create;update;patch;delete
// Flux sources, whose artifacts a PolicySource may consume, in any watched namespace.
// +kubebuilder:rbac:groups=source.toolkit.fluxcd.io,resources=gitrepositories;ocirepositories,verbs=get;list;watch
// A PolicySource with spec.serviceAccountName applies as that ServiceAccount of its
// namespace: allowed here in Ballast's own namespace; another allowed namespace needs a
// Role granting it there (the chart renders one per controller.policySourceNamespaces
// entry).
// +kubebuilder:rbac:groups="",namespace=ballast-system,resources=serviceaccounts,verbs=impersonate
// Credentials are read only in Ballast's own namespace; a PolicySource in another
// allowed namespace that references a Secret needs a Role granting get on it there (the
// chart renders one; see docs/security.md). Flux's event recorder writes core/v1 Events.
// +kubebuilder:rbac:groups="",namespace=ballast-system,resources=secrets,verbs=get
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconciler syncs PolicySources: fetch the source, validate the policy tree, render
// the objects of the PolicySource's cluster, apply them and prune what the last
// revision applied and this one no longer renders.
type Reconciler struct {
	// Client reads PolicySources and applies, reads and deletes what they render.
	Client client.Client
	// Fetcher gets the revisions; usually a Sources.
	Fetcher Fetcher
	// Recorder records events; none when nil.
	Recorder events.EventRecorder
	// Metrics records the Flux reconcile metrics (gotk_reconcile_condition,
	// gotk_suspend_status, gotk_reconcile_duration_seconds); none when nil.
	Metrics *metrics.Recorder
	// Reporter sets commit statuses; none when nil. (The status file is the
	// StatusFileReconciler's.)
	Reporter Reporter
	// Cluster is the cluster this controller serves; a PolicySource for another
	// cluster is refused. Any cluster when empty.
	Cluster string
	// Now is the clock; time.Now when nil. Rendering reads it for maintenance windows.
	Now func() time.Time
	// Target is the cloud the NodePools are rendered for (render.TargetKwok for
	// `ballast dev`); AWS when empty.
	Target render.Target
	// AllowInsecureHTTP accepts http:// and file:// Git addresses (spec.git.url and
	// the status file's repository), for local development and tests; otherwise only
	// https://, ssh:// and user@host:path are synced.
	AllowInsecureHTTP bool
	// Namespaces lists the namespaces whose PolicySources are synced (AllNamespaces:
	// every one). A PolicySource in another namespace is refused (Ready=False,
	// NamespaceNotAllowed) and nothing of it is fetched or applied. Empty allows none.
	Namespaces []string
	// Impersonate returns a client acting as a ServiceAccount (see Impersonator), with
	// which the objects of a PolicySource naming spec.serviceAccountName are applied
	// and pruned. Such a PolicySource applies nothing when it is nil.
	Impersonate func(namespace, name string) (client.Client, error)
}

// step is one stage of a sync; it sets the condition it owns and returns a stepError
// to stop the sync.
type step func(ctx context.Context, s *syncState) error

// syncState is the state one reconcile passes from step to step.
type syncState struct {
	obj      *v1alpha1.PolicySource
	snapshot *Snapshot
	repo     *policies.Repository
	objects  []*unstructured.Unstructured
	applied  *applied
	pruned   int
	// writer applies and prunes: the controller's client or one acting as
	// spec.serviceAccountName.
	writer client.Client
	// sources are the PolicySources this controller serves, as the claim step
	// listed them, with obj as this sync sees it.
	sources []v1alpha1.PolicySource
	// empty says why the render is empty, when it is.
	empty string
	// requeueAt is when the rendered maintenance windows must be rendered again.
	requeueAt time.Time
}

// Reconcile syncs one PolicySource.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	start := time.Now()
	obj := &v1alpha1.PolicySource{}
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !namespaceAllowed(r.Namespaces, obj.Namespace) {
		return r.refuseNamespace(ctx, obj, start)
	}
	if obj.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(obj, Finalizer) {
		// The finalizer goes on before anything is applied, so that nothing applied
		// can outlive a PolicySource deleted in between.
		base := obj.DeepCopy()
		controllerutil.AddFinalizer(obj, Finalizer)
		if err := r.Client.Patch(ctx, obj, client.MergeFrom(base)); err != nil {
			return ctrl.Result{}, fmt.Errorf("failed to add the finalizer: %w", err)
		}
	}
	patch := newStatusPatch(obj)
	var out outcome
	suspended := false
	// stale is set when this pass read an out-of-date copy of the PolicySource: it
	// ends without a verdict and runs again shortly.
	var stale error
	defer func() {
		deleting := !obj.DeletionTimestamp.IsZero()
		if deleting && !controllerutil.ContainsFinalizer(obj, Finalizer) {
			// finalize let the object go; there is no status left to write.
			r.forgetMetrics(obj)
			return
		}
		if !deleting && !suspended && stale == nil {
			r.finish(obj, out)
		}
		// Whatever a step wrote, the status stays writable and shows no credential.
		boundStatus(obj)
		if err := patch.write(ctx, r.Client, obj); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("failed to patch the status: %w", err))
		}
		r.recordMetrics(obj, start)
	}()

	if !obj.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, obj)
	}
	if obj.Spec.Suspend {
		suspended = true
		logf.FromContext(ctx).V(1).Info("suspended; nothing synced")
		return ctrl.Result{}, nil
	}

	// The deferred status patch uses ctx: the steps get their own deadline.
	stepCtx, cancel := context.WithTimeout(ctx, timeout(obj))
	defer cancel()
	s := &syncState{obj: obj}
	steps := []step{
		r.checkCluster, r.checkClaim, r.checkStatusFile, r.checkAddress, r.fetch, r.validate, r.render, r.guard,
		r.recordInventory, r.apply, r.prune,
	}
	for _, st := range steps {
		if err := st(stepCtx, s); err != nil {
			if errors.Is(err, errStale) {
				stale = err
				break
			}
			var se *stepError
			if !errors.As(err, &se) {
				se = &stepError{Condition: AppliedCondition, Reason: ApplyFailedReason, Err: err}
			}
			// The error goes to events, logs and the commit status: never a credential.
			se.Err = redact.Error(se.Err)
			out.Failure = se
			break
		}
	}
	if stale != nil {
		logf.FromContext(ctx).V(1).Info("the PolicySource changed since it was read; syncing again", "reason", stale.Error())
		return ctrl.Result{RequeueAfter: staleRetry}, nil
	}
	out.Revision = obj.Status.LastAttemptedRevision
	if s.applied != nil {
		out.Objects = len(s.applied.Inventory)
	}
	r.report(stepCtx, obj, out)
	return r.result(ctx, obj, s, out), nil
}

// report tells Git how the attempted revision went; a failure to report is logged,
// never a failed sync.
func (r *Reconciler) report(ctx context.Context, obj *v1alpha1.PolicySource, out outcome) {
	if r.Reporter == nil || out.Revision == "" || obj.Spec.StatusWriteBack == nil {
		return
	}
	if f := out.Failure; f != nil && f.Reason == ClusterClaimedByOtherSourceReason {
		// The source that holds the cluster reports on the commits; a waiting one
		// would overwrite its statuses.
		return
	}
	rep := Report{Revision: out.Revision, Succeeded: out.Failure == nil, Objects: out.Objects}
	if f := out.Failure; f != nil {
		rep.Reason, rep.Message = f.Reason, f.Err.Error()
	}
	if err := r.Reporter.Report(ctx, obj, rep); err != nil {
		logf.FromContext(ctx).Error(err, "failed to report the sync to Git", "revision", out.Revision)
		r.event(obj, corev1.EventTypeWarning, ReportFailedReason, err.Error())
	}
}

// finish writes what every completed reconcile writes: Ready, Reconciling, Stalled, the
// handled reconcile request, the observed generation, and an event.
func (r *Reconciler) finish(obj *v1alpha1.PolicySource, out outcome) {
	w := wrap(obj)
	sum := summarize(out)
	conditions.Set(w, &sum.Ready)
	recordSync(obj, sum.Ready.Status == metav1.ConditionTrue, r.now())
	for typ, c := range map[string]*metav1.Condition{meta.ReconcilingCondition: sum.Reconciling, meta.StalledCondition: sum.Stalled} {
		if c == nil {
			conditions.Delete(w, typ)
		} else {
			conditions.Set(w, c)
		}
	}
	if v, ok := meta.ReconcileAnnotationValue(obj.GetAnnotations()); ok {
		obj.Status.LastHandledReconcileAt = v
	}
	obj.Status.ObservedGeneration = obj.Generation
	if out.Failure != nil {
		r.event(obj, corev1.EventTypeWarning, out.Failure.Reason, out.Failure.Err.Error())
	}
}

// result logs a failure and says when to sync again: at the interval (jittered) after
// a success or a failure only a new revision can fix, at the retry interval after a
// failure retrying may fix, and no later than the rendered maintenance windows expire.
func (r *Reconciler) result(ctx context.Context, obj *v1alpha1.PolicySource, s *syncState, out outcome) ctrl.Result {
	interval := obj.Spec.Interval.Duration
	if interval <= 0 {
		interval = defaultInterval
	}
	after := jitter.JitteredIntervalDuration(interval)
	if f := out.Failure; f != nil {
		logf.FromContext(ctx).Error(f.Err, "sync failed", "reason", f.Reason, "revision", out.Revision)
		if !f.Stalled {
			after = retryInterval(obj)
		}
	}
	if !s.requeueAt.IsZero() {
		// A second past the boundary, so that the render sees the new offsets.
		if until := s.requeueAt.Sub(r.now()) + time.Second; until < after {
			after = max(until, time.Second)
		}
	}
	return ctrl.Result{RequeueAfter: after}
}

// checkCluster refuses a PolicySource for a cluster this controller does not serve.
func (r *Reconciler) checkCluster(_ context.Context, s *syncState) error {
	if r.Cluster != "" && s.obj.Spec.Cluster != r.Cluster {
		err := fmt.Errorf("spec.cluster is %q but this controller serves cluster %q", s.obj.Spec.Cluster, r.Cluster)
		conditions.MarkFalse(wrap(s.obj), SourceReadyCondition, WrongClusterReason, "%s", err)
		// A source of another cluster claims nothing here.
		conditions.Delete(wrap(s.obj), ClusterClaimCondition)
		return &stepError{Condition: SourceReadyCondition, Reason: WrongClusterReason, Err: err, Stalled: true}
	}
	return nil
}

// checkClaim lets the sync go on only while this source holds its cluster's claim
// (claimOf): two PolicySources applying one cluster under the same field manager would
// silently overwrite each other, and each would prune what the other applies. Both
// say so in their ClusterClaim condition; the one waiting is not Ready and applies
// nothing until the holder is deleted or serves another cluster (the holder's
// deletion or change enqueues it, see SetupWithManager).
func (r *Reconciler) checkClaim(ctx context.Context, s *syncState) error {
	w := wrap(s.obj)
	sources, err := servedSources(ctx, r.Client, r.Namespaces)
	if err != nil {
		conditions.MarkUnknown(w, ClusterClaimCondition, ReconciliationFailedReason, "%s", err)
		return &stepError{Condition: ClusterClaimCondition, Reason: ReconciliationFailedReason, Err: err}
	}
	// The cache may hold an older copy of this source, or none yet.
	me := keyOf(s.obj)
	sources = slices.DeleteFunc(sources, func(ps v1alpha1.PolicySource) bool { return keyOf(&ps) == me })
	s.sources = append(sources, *s.obj)
	c := claimOf(s.obj.Spec.Cluster, s.sources)
	if keyOf(c.Holder) != me {
		holder := keyOf(c.Holder).String()
		if !c.Holder.DeletionTimestamp.IsZero() {
			holder += " (being deleted)"
		}
		err := fmt.Errorf("cluster %q is applied by PolicySource %s, which claimed it first; "+
			"this source applies nothing until that one is deleted or serves another cluster", s.obj.Spec.Cluster, holder)
		conditions.MarkFalse(w, ClusterClaimCondition, ClusterClaimedByOtherSourceReason, "%s", err)
		conditions.MarkFalse(w, AppliedCondition, ClusterClaimedByOtherSourceReason, "%s", err)
		return &stepError{Condition: ClusterClaimCondition, Reason: ClusterClaimedByOtherSourceReason, Err: err}
	}
	if len(c.Waiting) == 0 {
		conditions.MarkTrue(w, ClusterClaimCondition, SucceededReason, "This source applies cluster %q", s.obj.Spec.Cluster)
		return nil
	}
	names := make([]string, 0, len(c.Waiting))
	for _, k := range c.Waiting {
		names = append(names, k.String())
	}
	others := "PolicySource " + names[0] + " renders it too and applies"
	if len(names) > 1 {
		others = "PolicySources " + strings.Join(names, ", ") + " render it too and apply"
	}
	msg := fmt.Sprintf("This source applies cluster %q; %s nothing while this one does", s.obj.Spec.Cluster, others)
	if conditions.GetMessage(w, ClusterClaimCondition) != msg {
		r.event(s.obj, corev1.EventTypeWarning, OtherSourcesWaitingReason, msg)
	}
	conditions.MarkTrue(w, ClusterClaimCondition, OtherSourcesWaitingReason, "%s", msg)
	return nil
}

// checkStatusFile says in the StatusWriteBack condition where the status file goes, or
// why it cannot be written (the StatusFileReconciler then writes nothing). It never
// stops the sync: the policies apply whether or not the status file can be written.
func (r *Reconciler) checkStatusFile(ctx context.Context, s *syncState) error {
	w := wrap(s.obj)
	if statusFileSpec(s.obj) == nil {
		conditions.Delete(w, StatusWriteBackCondition)
		return nil
	}
	t, err := statusTargetOf(ctx, r.Client, s.obj, r.AllowInsecureHTTP)
	var refused *writeBackError
	switch {
	case errors.As(err, &refused):
		if !conditions.IsFalse(w, StatusWriteBackCondition) || conditions.GetReason(w, StatusWriteBackCondition) != refused.Reason {
			r.event(s.obj, corev1.EventTypeWarning, refused.Reason, refused.Message)
		}
		conditions.MarkFalse(w, StatusWriteBackCondition, refused.Reason, "%s", refused.Message)
	case err != nil:
		conditions.MarkUnknown(w, StatusWriteBackCondition, ArtifactFailedReason, "cannot tell where the status file goes: %s", err)
	default:
		conditions.MarkTrue(w, StatusWriteBackCondition, SucceededReason, "The status file goes to %s on branch %s", t.Path, t.Branch)
	}
	return nil
}

// checkAddress refuses a Git address whose scheme does not protect what is sent and
// read (see gitsync.CheckGitAddress): only a change to spec.git.url helps.
func (r *Reconciler) checkAddress(_ context.Context, s *syncState) error {
	g := s.obj.Spec.Git
	if g == nil {
		return nil
	}
	if err := gitsync.CheckGitAddress(g.URL, r.AllowInsecureHTTP); err != nil {
		conditions.MarkFalse(wrap(s.obj), SourceReadyCondition, InsecureAddressReason, "%s", err)
		return &stepError{Condition: SourceReadyCondition, Reason: InsecureAddressReason, Err: err, Stalled: true}
	}
	return nil
}

// fetch gets the source's current revision. A failure keeps the last revision's
// objects: nothing after it runs.
func (r *Reconciler) fetch(ctx context.Context, s *syncState) error {
	w := wrap(s.obj)
	// The revision comes from what the fetcher verified it holds, never from the
	// status: another replica may have written the status from its own checkout.
	snap, err := r.Fetcher.Fetch(ctx, s.obj)
	if err != nil {
		reason, stalled := ArtifactFailedReason, false
		switch {
		case gitsync.IsAuth(err):
			reason = AuthenticationFailedReason
		case gitsync.IsLink(err):
			// Only a new revision without the link helps.
			reason, stalled = UnsafeLinkReason, true
		}
		err = fmt.Errorf("failed to fetch the source: %w", err)
		conditions.MarkFalse(w, SourceReadyCondition, reason, "%s", err)
		return &stepError{Condition: SourceReadyCondition, Reason: reason, Err: err, Stalled: stalled}
	}
	s.snapshot = snap
	s.obj.Status.LastAttemptedRevision = snap.Revision
	conditions.MarkTrue(w, SourceReadyCondition, SucceededReason, "Fetched revision: %s", snap.Revision)
	return nil
}

// validate loads spec.path and validates every policy in it, for every cluster: a
// repository with an error anywhere applies nothing.
func (r *Reconciler) validate(_ context.Context, s *syncState) error {
	w := wrap(s.obj)
	root := policyRoot(s.obj.Spec.Path)
	if _, err := fs.Stat(s.snapshot.Files, root); err != nil {
		err := fmt.Errorf("path %q does not exist in revision %s", s.obj.Spec.Path, s.snapshot.Revision)
		s.obj.Status.Findings = nil
		conditions.MarkFalse(w, ValidatedCondition, PathNotFoundReason, "%s", err)
		return &stepError{Condition: ValidatedCondition, Reason: PathNotFoundReason, Err: err, Stalled: true}
	}
	repo, err := policies.Load(s.snapshot.Files, root, root)
	if err != nil {
		err = fmt.Errorf("failed to read revision %s: %w", s.snapshot.Revision, err)
		conditions.MarkFalse(w, ValidatedCondition, ArtifactFailedReason, "%s", err)
		return &stepError{Condition: ValidatedCondition, Reason: ArtifactFailedReason, Err: err}
	}
	findings := repo.Validate()
	s.obj.Status.Findings = findingsStatus(findings)
	if findings.HasErrors() {
		err := fmt.Errorf("revision %s: %s", s.snapshot.Revision, findingsMessage(findings))
		conditions.MarkFalse(w, ValidatedCondition, ValidationFailedReason, "%s", err)
		return &stepError{Condition: ValidatedCondition, Reason: ValidationFailedReason, Err: err, Stalled: true}
	}
	s.repo = repo
	conditions.MarkTrue(w, ValidatedCondition, SucceededReason, "Validated revision %s: %s", s.snapshot.Revision, policies.Summary(findings))
	return nil
}

// render renders the objects of spec.cluster; a revision without a ClusterPolicy for
// it renders nothing (see guard).
func (r *Reconciler) render(ctx context.Context, s *syncState) error {
	policy, rules, err := s.repo.ForCluster(s.obj.Spec.Cluster)
	if err != nil {
		// No ClusterPolicy for the cluster: an empty render, which guard judges.
		s.empty = err.Error()
		return nil
	}
	steering, err := r.steering(ctx, policy.Name)
	if err != nil {
		return err
	}
	objs, err := render.Render(render.Input{
		Policy: policy, Rules: rules, Source: s.obj.Name, SourceNamespace: s.obj.Namespace, Now: r.now(), Target: r.Target,
		Steering: steering,
	})
	if err == nil {
		s.objects, err = toUnstructured(objs)
	}
	if err != nil {
		conditions.MarkFalse(wrap(s.obj), AppliedCondition, RenderFailedReason, "%s", err)
		return &stepError{Condition: AppliedCondition, Reason: RenderFailedReason, Err: err, Stalled: true}
	}
	s.requeueAt = windowsValidUntil(s.objects)
	return nil
}

// steering is the runtime steering state of the Spot NodePool (the live ClusterPolicy's
// status.interruptions, which the interruption controller writes), so that the
// NodePool applied is the one that controller keeps: neither undoes the other.
func (r *Reconciler) steering(ctx context.Context, name string) (*v1alpha1.InterruptionsStatus, error) {
	var live v1alpha1.ClusterPolicy
	if err := r.Client.Get(ctx, client.ObjectKey{Name: name}, &live); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("failed to read the steering state of ClusterPolicy %s: %w", name, err)
	}
	return live.Status.Interruptions, nil
}

// guard refuses a render that removes every NodePool the last revision applied, unless
// spec.allowEmpty says that is meant: a wrong path or a deleted ClusterPolicy must not
// take the cluster's capacity away.
func (r *Reconciler) guard(_ context.Context, s *syncState) error {
	if s.obj.Spec.AllowEmpty || !emptyRender(inventoryRefs(s.obj.Status.Inventory), s.objects) {
		return nil
	}
	err := fmt.Errorf("revision %s renders no NodePool for cluster %q under path %q, which would remove every NodePool this source applied; "+
		"set spec.allowEmpty to allow it", s.snapshot.Revision, s.obj.Spec.Cluster, s.obj.Spec.Path)
	conditions.MarkFalse(wrap(s.obj), AppliedCondition, EmptyRenderRefusedReason, "%s", err)
	return &stepError{Condition: AppliedCondition, Reason: EmptyRenderRefusedReason, Err: err, Stalled: true}
}

// errStale says that the PolicySource this pass read was not the API server's latest
// (the cache lags behind the last status write): the pass is run again.
var errStale = errors.New("the PolicySource changed since it was read")

// recordInventory records, before anything is applied, the union of the last
// inventory and the objects about to be applied: a sync that stops after applying (the
// process killed, the leadership lost, the final status write refused) leaves every
// object it may have created listed, for the next sync to prune. prune narrows the
// inventory to what this revision applied. Nothing is applied when it cannot be
// recorded.
//
// The write is conditional on the resource version read, even when the union adds
// nothing: a cached copy older than the last sync's status write would miss what that
// sync listed, and narrowing from it would orphan those objects.
func (r *Reconciler) recordInventory(ctx context.Context, s *syncState) error {
	union := inventory(append(inventoryRefs(s.obj.Status.Inventory), refsOf(s.objects)...))
	data, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": s.obj.ResourceVersion},
		"status":   map[string]any{"inventory": union},
	})
	if err == nil {
		target := &v1alpha1.PolicySource{ObjectMeta: metav1.ObjectMeta{Namespace: s.obj.Namespace, Name: s.obj.Name}}
		err = r.Client.Status().Patch(ctx, target, client.RawPatch(types.MergePatchType, data), client.FieldOwner(FieldManager))
	}
	switch {
	case apierrors.IsConflict(err):
		return fmt.Errorf("%w: %w", errStale, err)
	case err != nil:
		err = fmt.Errorf("failed to record the inventory before applying revision %s: %w", s.snapshot.Revision, err)
		conditions.MarkFalse(wrap(s.obj), AppliedCondition, ApplyFailedReason, "%s", err)
		return &stepError{Condition: AppliedCondition, Reason: ApplyFailedReason, Err: err}
	}
	s.obj.Status.Inventory = union
	return nil
}

// apply applies the rendered objects with server-side apply, as spec.serviceAccountName
// when it is set.
func (r *Reconciler) apply(ctx context.Context, s *syncState) error {
	writer, err := r.writer(s.obj)
	if err != nil {
		conditions.MarkFalse(wrap(s.obj), AppliedCondition, ApplyFailedReason, "%s", err)
		return &stepError{Condition: AppliedCondition, Reason: ApplyFailedReason, Err: err}
	}
	s.writer = writer
	m := ssa.NewResourceManager(writer, nil, ssa.Owner{Field: FieldManager, Group: v1alpha1.GroupVersion.Group})
	res, err := apply(ctx, m, s.objects)
	if err != nil {
		reason, failure := writeFailure(s.obj, ApplyFailedReason, fmt.Errorf("failed to apply revision %s: %w", s.snapshot.Revision, err))
		conditions.MarkFalse(wrap(s.obj), AppliedCondition, reason, "%s", failure)
		return &stepError{Condition: AppliedCondition, Reason: reason, Err: failure, Stalled: apierrors.IsInvalid(failure)}
	}
	s.applied = res
	return nil
}

// prune deletes what the last inventory lists and this revision no longer renders,
// when spec.prune is set and only where the owner labels are still this source's; then
// it records the new inventory and the applied revision.
func (r *Reconciler) prune(ctx context.Context, s *syncState) error {
	obj := s.obj
	last := inventoryRefs(obj.Status.Inventory)
	next := s.applied.Inventory
	if obj.Spec.Prune {
		failed, n, err := deleteOwned(ctx, s.writer, stale(last, next), keyOf(obj), s.sources)
		s.pruned = n
		if err != nil {
			// What could not be deleted stays in the inventory, to be pruned next time.
			obj.Status.Inventory = inventory(append(append([]ref{}, next...), failed...))
			reason, failure := writeFailure(obj, PruneFailedReason, fmt.Errorf("failed to prune: %w", err))
			conditions.MarkFalse(wrap(obj), AppliedCondition, reason, "%s", failure)
			return &stepError{Condition: AppliedCondition, Reason: reason, Err: failure}
		}
	}
	obj.Status.Inventory = inventory(next)
	previous := obj.Status.LastAppliedRevision
	obj.Status.LastAppliedRevision = s.snapshot.Revision
	msg := fmt.Sprintf("Applied revision %s: %d objects (%d created, %d configured, %d unchanged), %d pruned",
		s.snapshot.Revision, len(next), s.applied.Changes[ssa.CreatedAction], s.applied.Changes[ssa.ConfiguredAction],
		s.applied.Changes[ssa.UnchangedAction], s.pruned)
	if s.empty != "" {
		msg += "; " + s.empty
	}
	conditions.MarkTrue(wrap(obj), AppliedCondition, SucceededReason, "%s", msg)
	if previous != s.snapshot.Revision {
		r.event(obj, corev1.EventTypeNormal, AppliedReason, msg)
	}
	return nil
}

// finalize deletes what the inventory lists and this source owns when spec.prune is
// set (as spec.serviceAccountName when it is set), and orphans it otherwise; then it
// lets the PolicySource go.
func (r *Reconciler) finalize(ctx context.Context, obj *v1alpha1.PolicySource) (ctrl.Result, error) {
	if obj.Spec.Prune && !obj.Spec.Suspend {
		writer, err := r.writer(obj)
		if err != nil {
			r.event(obj, corev1.EventTypeWarning, PruneFailedReason, fmt.Sprintf("failed to delete what the source applied: %v", err))
			return ctrl.Result{}, err
		}
		sources, err := servedSources(ctx, r.Client, r.Namespaces)
		if err != nil {
			return ctrl.Result{}, err
		}
		failed, _, err := deleteOwned(ctx, writer, inventoryRefs(obj.Status.Inventory), keyOf(obj), sources)
		if err != nil {
			obj.Status.Inventory = inventory(failed)
			r.event(obj, corev1.EventTypeWarning, PruneFailedReason, fmt.Sprintf("failed to delete what the source applied: %v", err))
			return ctrl.Result{}, fmt.Errorf("failed to delete what %s/%s applied: %w", obj.Namespace, obj.Name, err)
		}
	}
	if err := r.Fetcher.Forget(obj); err != nil {
		logf.FromContext(ctx).Error(err, "failed to remove the fetched files")
	}
	forgetSync(obj)
	base := obj.DeepCopy()
	controllerutil.RemoveFinalizer(obj, Finalizer)
	if err := r.Client.Patch(ctx, obj, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
		controllerutil.AddFinalizer(obj, Finalizer)
		return ctrl.Result{}, fmt.Errorf("failed to remove the finalizer: %w", err)
	}
	return ctrl.Result{}, nil
}

func (r *Reconciler) event(obj *v1alpha1.PolicySource, eventType, reason, msg string) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(obj, nil, eventType, reason, "Sync", "%s", status.Message(msg, status.MaxEventMessage))
}

func (r *Reconciler) recordMetrics(obj *v1alpha1.PolicySource, start time.Time) {
	if r.Metrics == nil {
		return
	}
	ref := objectRef(obj)
	for _, typ := range []string{meta.ReadyCondition, meta.ReconcilingCondition, meta.StalledCondition} {
		c := conditions.Get(wrap(obj), typ)
		if c == nil {
			c = conditions.UnknownCondition(typ, "", "")
		}
		r.Metrics.RecordCondition(ref, *c)
	}
	r.Metrics.RecordSuspend(ref, obj.Spec.Suspend)
	r.Metrics.RecordDuration(ref, start)
}

func (r *Reconciler) forgetMetrics(obj *v1alpha1.PolicySource) {
	if r.Metrics == nil || controllerutil.ContainsFinalizer(obj, Finalizer) {
		return
	}
	ref := objectRef(obj)
	for _, typ := range []string{meta.ReadyCondition, meta.ReconcilingCondition, meta.StalledCondition} {
		r.Metrics.DeleteCondition(ref, typ)
	}
	r.Metrics.DeleteSuspend(ref)
	r.Metrics.DeleteDuration(ref)
}

func objectRef(obj *v1alpha1.PolicySource) corev1.ObjectReference {
	return corev1.ObjectReference{
		Kind: v1alpha1.PolicySourceKind, APIVersion: v1alpha1.GroupVersion.String(),
		Namespace: obj.Namespace, Name: obj.Name, UID: obj.UID,
	}
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// policyRoot turns spec.path ("", "./policies", "policies/") into an fs.FS path.
func policyRoot(p string) string {
	p = strings.TrimPrefix(p, "./")
	if p == "" {
		return "."
	}
	return path.Clean(p)
}

func timeout(obj *v1alpha1.PolicySource) time.Duration {
	if t := obj.Spec.Timeout; t != nil && t.Duration > 0 {
		return t.Duration
	}
	return defaultTimeout
}

func retryInterval(obj *v1alpha1.PolicySource) time.Duration {
	if t := obj.Spec.RetryInterval; t != nil && t.Duration > 0 {
		return t.Duration
	}
	return obj.Spec.Interval.Duration
}

// object gives a PolicySource the conditions.Setter methods fluxcd/pkg/runtime needs.
type object struct{ *v1alpha1.PolicySource }

func wrap(obj *v1alpha1.PolicySource) object { return object{obj} }

// GetConditions implements conditions.Getter.
func (o object) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions implements conditions.Setter.
func (o object) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }
