package source

import (
	"context"
	"errors"
	gosync "sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// faults makes the suite's controller die after applying, as a process killed
// between the apply and the final status write would: once a sync has applied an
// object of an armed cluster, the namespace's PolicySources are down, and no write to
// them from that sync, or from any sync that starts while they are down, ever reaches
// the API server. Reviving them is a restart: syncs that start afterwards write again.
var faults = &faultInjector{armed: map[string]string{}, down: map[string]bool{}, dead: map[types.UID]bool{}}

// errDead is what every write of a dead sync gets.
var errDead = errors.New("injected fault: the controller died after applying")

type faultInjector struct {
	mu gosync.Mutex
	// armed maps a cluster to the namespace that goes down once an object of the
	// cluster is applied.
	armed map[string]string
	// down holds the namespaces that are down.
	down map[string]bool
	// dead holds the reconciles of the dead process, by reconcile id.
	dead map[types.UID]bool
}

// dieAfterApply arms the fault: the next apply of an object of cluster kills the
// syncs of namespace's PolicySources.
func (f *faultInjector) dieAfterApply(cluster, namespace string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed[cluster] = namespace
}

// isDown reports whether namespace is down.
func (f *faultInjector) isDown(namespace string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down[namespace]
}

// revive restarts the controller for namespace: syncs starting from now on write.
func (f *faultInjector) revive(namespace string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.down, namespace)
	for c, ns := range f.armed {
		if ns == namespace {
			delete(f.armed, c)
		}
	}
}

// started notes a sync reading its PolicySource: one starting while its namespace is
// down belongs to the dead process.
func (f *faultInjector) started(ctx context.Context, obj client.Object) {
	if _, ok := obj.(*v1alpha1.PolicySource); !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if id := controller.ReconcileIDFromContext(ctx); id != "" && f.down[obj.GetNamespace()] {
		f.dead[id] = true
	}
}

// applied notes an apply (not a dry run) of obj by the sync of ctx.
func (f *faultInjector) applied(ctx context.Context, obj client.Object) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ns, ok := f.armed[obj.GetLabels()[v1alpha1.ClusterLabel]]; ok {
		f.down[ns] = true
		if id := controller.ReconcileIDFromContext(ctx); id != "" {
			f.dead[id] = true
		}
	}
}

// refused returns errDead for a write to a PolicySource by a dead sync or to one that
// is down.
func (f *faultInjector) refused(ctx context.Context, obj client.Object) error {
	if _, ok := obj.(*v1alpha1.PolicySource); !ok {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[obj.GetNamespace()] || f.dead[controller.ReconcileIDFromContext(ctx)] {
		return errDead
	}
	return nil
}

func (f *faultInjector) wrap(c client.Client) client.Client { return faultClient{Client: c, f: f} }

// faultClient is a client whose writes go through a faultInjector.
type faultClient struct {
	client.Client
	f *faultInjector
}

func (c faultClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := c.Client.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	c.f.started(ctx, obj)
	return nil
}

func (c faultClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if err := c.f.refused(ctx, obj); err != nil {
		return err
	}
	if err := c.Client.Patch(ctx, obj, patch, opts...); err != nil {
		return err
	}
	po := &client.PatchOptions{}
	po.ApplyOptions(opts)
	if patch.Type() == types.ApplyPatchType && len(po.DryRun) == 0 {
		c.f.applied(ctx, obj)
	}
	return nil
}

func (c faultClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if err := c.f.refused(ctx, obj); err != nil {
		return err
	}
	return c.Client.Update(ctx, obj, opts...)
}

func (c faultClient) Status() client.SubResourceWriter {
	return faultStatus{SubResourceWriter: c.Client.Status(), f: c.f}
}

// faultStatus is the status writer of a faultClient.
type faultStatus struct {
	client.SubResourceWriter
	f *faultInjector
}

func (w faultStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if err := w.f.refused(ctx, obj); err != nil {
		return err
	}
	return w.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

func (w faultStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	if err := w.f.refused(ctx, obj); err != nil {
		return err
	}
	return w.SubResourceWriter.Update(ctx, obj, opts...)
}
