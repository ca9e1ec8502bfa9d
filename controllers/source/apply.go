package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fluxcd/pkg/ssa"
	ssautils "github.com/fluxcd/pkg/ssa/utils"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/render"
)

// FieldManager is the server-side apply field manager of everything Ballast applies.
const FieldManager = "ballast"

// nodePoolGK is Karpenter's NodePool, the kind the empty-render guard counts.
var nodePoolGK = schema.GroupKind{Group: "karpenter.sh", Kind: "NodePool"}

// ref is one inventory entry, parsed.
type ref struct {
	Namespace, Name string
	GVK             schema.GroupVersionKind
}

// id is the Flux inventory id: <namespace>_<name>_<group>_<kind>.
func (r ref) id() string {
	return strings.Join([]string{r.Namespace, r.Name, r.GVK.Group, r.GVK.Kind}, "_")
}

func (r ref) entry() v1alpha1.ResourceRef {
	return v1alpha1.ResourceRef{ID: r.id(), Version: r.GVK.Version}
}

func (r ref) String() string {
	kind := r.GVK.Kind
	if r.Namespace == "" {
		return kind + "/" + r.Name
	}
	return kind + "/" + r.Namespace + "/" + r.Name
}

// parseEntry reads an inventory entry; names and namespaces never contain "_", groups
// and kinds neither.
func parseEntry(e v1alpha1.ResourceRef) (ref, error) {
	parts := strings.Split(e.ID, "_")
	if len(parts) != 4 || parts[1] == "" || parts[3] == "" || e.Version == "" {
		return ref{}, fmt.Errorf("invalid inventory id %q", e.ID)
	}
	// An entry no object can have (edited by hand, or corrupted) is skipped rather than
	// kept failing every prune.
	if len(content.IsPathSegmentName(parts[1])) > 0 || parts[0] != "" && len(validation.IsDNS1123Label(parts[0])) > 0 {
		return ref{}, fmt.Errorf("invalid inventory id %q", e.ID)
	}
	return ref{Namespace: parts[0], Name: parts[1], GVK: schema.GroupVersionKind{Group: parts[2], Version: e.Version, Kind: parts[3]}}, nil
}

func refOf(u *unstructured.Unstructured) ref {
	return ref{Namespace: u.GetNamespace(), Name: u.GetName(), GVK: u.GroupVersionKind()}
}

// inventoryRefs parses an inventory, skipping entries it cannot read.
func inventoryRefs(inv *v1alpha1.ResourceInventory) []ref {
	if inv == nil {
		return nil
	}
	out := make([]ref, 0, len(inv.Entries))
	for _, e := range inv.Entries {
		if r, err := parseEntry(e); err == nil {
			out = append(out, r)
		}
	}
	return out
}

// toUnstructured converts rendered objects for the resource manager through the bytes
// `ballast render` prints, which leave out the null values Go's zero values would send
// (and the API server would refuse).
func toUnstructured(objs []client.Object) ([]*unstructured.Unstructured, error) {
	data, err := render.Marshal(objs)
	if err != nil {
		return nil, err
	}
	out, err := ssautils.ReadObjects(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("failed to read the rendered objects: %w", err)
	}
	return out, nil
}

// emptyRender reports whether applying objs instead of what the last inventory lists
// removes every NodePool: the last inventory has one and objs has none.
func emptyRender(last []ref, objs []*unstructured.Unstructured) bool {
	had := slices.ContainsFunc(last, func(r ref) bool { return r.GVK.GroupKind() == nodePoolGK })
	has := slices.ContainsFunc(objs, func(u *unstructured.Unstructured) bool { return u.GroupVersionKind().GroupKind() == nodePoolGK })
	return had && !has
}

// applied is what an apply did.
type applied struct {
	Inventory []ref
	Changes   map[ssa.Action]int
}

// apply applies objs with server-side apply. ApplyAll dry-runs every object before it
// writes any, so an object the API server refuses (a CEL rule of Karpenter's CRDs, a
// namespace that does not exist) applies nothing at all. ApplyAllStaged is not used: it
// waits for every *Class kind to become ready, and an EC2NodeClass is ready only once
// Karpenter has resolved it against AWS.
func apply(ctx context.Context, m *ssa.ResourceManager, objs []*unstructured.Unstructured) (*applied, error) {
	out := &applied{Changes: map[ssa.Action]int{}}
	if len(objs) == 0 {
		return out, nil
	}
	cs, err := m.ApplyAll(ctx, objs, ssa.DefaultApplyOptions())
	if err != nil {
		return nil, err
	}
	for _, e := range cs.Entries {
		out.Changes[e.Action]++
	}
	out.Inventory = refsOf(objs)
	return out, nil
}

// deleteOwned deletes the objects refs names that me owns (see owns; sources are the
// PolicySources this controller serves); an object without me's owner labels was taken
// over by someone else, or belongs to another PolicySource, and is left alone. Each
// delete is conditional on the object being the one read (its UID and resource
// version), so that an object another source applies between the read and the delete
// is never deleted; such a conflict is read and judged again. It returns the refs it
// could not delete, to keep in the inventory, and the number deleted.
func deleteOwned(ctx context.Context, c client.Client, refs []ref, me types.NamespacedName, sources []v1alpha1.PolicySource) ([]ref, int, error) {
	var failed []ref
	var errs []error
	deleted := 0
	for _, r := range refs {
		done, err := deleteIfOwned(ctx, c, r, me, sources)
		if err != nil {
			failed = append(failed, r)
			errs = append(errs, fmt.Errorf("%s: %w", r, err))
			continue
		}
		if done {
			deleted++
		}
	}
	return failed, deleted, errors.Join(errs...)
}

// maxDeleteAttempts bounds the reads of an object whose resource version keeps
// changing (Karpenter writes a NodePool's status often) before its delete is retried
// at the next sync.
const maxDeleteAttempts = 5

// deleteIfOwned deletes the object r names when me owns it, and reports whether it
// deleted it.
func deleteIfOwned(ctx context.Context, c client.Client, r ref, me types.NamespacedName, sources []v1alpha1.PolicySource) (bool, error) {
	var err error
	for range maxDeleteAttempts {
		obj := &unstructured.Unstructured{}
		obj.SetGroupVersionKind(r.GVK)
		err = c.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.Name}, obj)
		switch {
		case apierrors.IsNotFound(err), apimeta.IsNoMatchError(err):
			return false, nil
		case err != nil:
			return false, err
		}
		if !owns(obj.GetLabels(), r, me, sources) || !obj.GetDeletionTimestamp().IsZero() {
			return false, nil
		}
		uid, version := obj.GetUID(), obj.GetResourceVersion()
		err = c.Delete(ctx, obj, client.Preconditions{UID: &uid, ResourceVersion: &version},
			client.PropagationPolicy(metav1.DeletePropagationBackground))
		switch {
		case err == nil:
			return true, nil
		case apierrors.IsNotFound(err):
			return false, nil
		case !apierrors.IsConflict(err):
			return false, err
		}
	}
	return false, err
}

// stale returns the refs of last that are not in next.
func stale(last, next []ref) []ref {
	keep := map[string]bool{}
	for _, r := range next {
		keep[r.id()] = true
	}
	var out []ref
	for _, r := range last {
		if !keep[r.id()] {
			out = append(out, r)
		}
	}
	return out
}

// refsOf returns the inventory refs of objs.
func refsOf(objs []*unstructured.Unstructured) []ref {
	out := make([]ref, 0, len(objs))
	for _, u := range objs {
		out = append(out, refOf(u))
	}
	return out
}

// sameInventory reports whether a and b list the same entries; nil lists none.
func sameInventory(a, b *v1alpha1.ResourceInventory) bool {
	var ea, eb []v1alpha1.ResourceRef
	if a != nil {
		ea = a.Entries
	}
	if b != nil {
		eb = b.Entries
	}
	return slices.Equal(ea, eb)
}

// inventory builds the status inventory from refs, sorted by id.
func inventory(refs []ref) *v1alpha1.ResourceInventory {
	inv := &v1alpha1.ResourceInventory{Entries: []v1alpha1.ResourceRef{}}
	seen := map[string]bool{}
	for _, r := range refs {
		if !seen[r.id()] {
			seen[r.id()] = true
			inv.Entries = append(inv.Entries, r.entry())
		}
	}
	slices.SortFunc(inv.Entries, func(a, b v1alpha1.ResourceRef) int { return strings.Compare(a.ID, b.ID) })
	return inv
}

// windowsValidUntil returns the earliest ballast.dev/windows-valid-until of the rendered
// NodePools: when their UTC budgets must be rendered again; zero when none says.
func windowsValidUntil(objs []*unstructured.Unstructured) time.Time {
	var earliest time.Time
	for _, u := range objs {
		if u.GroupVersionKind().GroupKind() != nodePoolGK {
			continue
		}
		v, ok := u.GetAnnotations()[v1alpha1.WindowsValidUntilAnnotation]
		if !ok {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			continue
		}
		if earliest.IsZero() || t.Before(earliest) {
			earliest = t
		}
	}
	return earliest
}
