package trim

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Guard returns c refusing every write of a trimmed kind that would erase what the
// cache left out, with an error that says so, before anything reaches the API server:
//
//   - Update (of the object or a subresource): it sends the whole object, and an object
//     read from the cache lacks the fields the trim dropped.
//   - Server-side apply of a typed object, a JSON merge patch of the whole object
//     (client.Merge) and JSON patches (list indexes of a trimmed list are not the
//     server's).
//   - A merge or strategic merge patch (client.MergeFrom, client.StrategicMergeFrom:
//     the difference between two copies of the object) that replaces or deletes a
//     field the trim reduced: a list (containers, volumes, conditions) or an object
//     (the annotations, the status) of which the cache holds only part. Such a patch
//     may set any field, add or delete single labels and annotations, and replace or
//     delete what the trim keeps whole (labels, taints, tolerations, ...).
//
// Creating objects, deleting them, subresources such as evictions, and server-side
// apply of hand-built apply configurations pass. Kinds that are not trimmed pass.
func Guard(c client.Client) client.Client {
	return guard{c}
}

type guard struct{ client.Client }

func (g guard) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if err := checkUpdate(obj, ""); err != nil {
		return err
	}
	return g.Client.Update(ctx, obj, opts...)
}

func (g guard) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if err := checkPatch(obj, patch, ""); err != nil {
		return err
	}
	return g.Client.Patch(ctx, obj, patch, opts...)
}

func (g guard) Status() client.SubResourceWriter { return g.SubResource("status") }

func (g guard) SubResource(name string) client.SubResourceClient {
	return guardedSubResource{g.Client.SubResource(name), name}
}

type guardedSubResource struct {
	client.SubResourceClient
	name string
}

func (g guardedSubResource) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	if err := checkUpdate(obj, g.name); err != nil {
		return err
	}
	return g.SubResourceClient.Update(ctx, obj, opts...)
}

func (g guardedSubResource) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if err := checkPatch(obj, patch, g.name); err != nil {
		return err
	}
	return g.SubResourceClient.Patch(ctx, obj, patch, opts...)
}

// RefusedError is a write the guard refused.
type RefusedError struct {
	Kind, Namespace, Name, Why string
}

func (e *RefusedError) Error() string {
	name := e.Name
	if e.Namespace != "" {
		name = e.Namespace + "/" + name
	}
	return fmt.Sprintf("refusing to write %s %s: %s; the cache holds %ss trimmed to the fields Ballast reads, so the write would erase the rest",
		e.Kind, name, e.Why, e.Kind)
}

// IsRefused reports whether err is a write the guard refused.
func IsRefused(err error) bool {
	_, ok := err.(*RefusedError) //nolint:errorlint // never wrapped by the guard
	return ok
}

func refused(k *kind, obj client.Object, why string) error {
	return &RefusedError{Kind: kindName(k), Namespace: obj.GetNamespace(), Name: obj.GetName(), Why: why}
}

func kindName(k *kind) string {
	name := fmt.Sprintf("%T", k.prototype)
	return name[strings.LastIndex(name, ".")+1:]
}

func checkUpdate(obj client.Object, subresource string) error {
	k := trimmed(obj)
	if k == nil || (subresource != "" && subresource != "status") {
		return nil // scale, ...: the body is not the object
	}
	why := "an update sends the whole object; use a patch of the fields that change"
	if subresource != "" {
		why = "an update of " + subresource + " sends the whole object; use a patch of the fields that change"
	}
	return refused(k, obj, why)
}

func checkPatch(obj client.Object, patch client.Patch, subresource string) error {
	k := trimmed(obj)
	if k == nil || (subresource != "" && subresource != "status") {
		return nil // scale, eviction, ...: not the object's own fields
	}
	switch {
	case patch == client.Merge:
		return refused(k, obj, "client.Merge sends the whole object")
	case patch.Type() == types.ApplyPatchType:
		return refused(k, obj, "server-side apply of a typed object claims only the fields it holds")
	case patch.Type() == types.JSONPatchType:
		return refused(k, obj, "a JSON patch addresses list items by index")
	}
	data, err := patch.Data(obj)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("failed to read the patch of %s %s: %w", kindName(k), obj.GetName(), err)
	}
	if why := k.unsafe(nil, doc); why != "" {
		return refused(k, obj, why)
	}
	return nil
}

// unsafe returns why a merge patch (its part at path) would replace or delete a field
// the trim reduced, or "".
func (k *kind) unsafe(path []string, v any) string {
	switch v := v.(type) {
	case map[string]any:
		for key, val := range v {
			name, directive := strings.CutPrefix(key, "$setElementOrder/")
			if !directive {
				name, directive = strings.CutPrefix(key, "$deleteFromPrimitiveList/")
			}
			switch {
			case directive:
				// An order or deletion directive stands for a change of list name.
				if !k.keepsWhole(append(path, name)) {
					return "it changes the list " + strings.Join(append(path, name), ".") + ", which the cache holds only part of"
				}
			case strings.HasPrefix(key, "$"):
				return "it has the strategic merge directive " + key
			default:
				if why := k.unsafe(append(path, key), val); why != "" {
					return why
				}
			}
		}
	case []any:
		if !k.keepsWhole(path) {
			return "it replaces the list " + strings.Join(path, ".") + ", which the cache holds only part of"
		}
	case nil:
		// Deleting a field: safe when the cache holds all of it, or when it is one
		// entry of the labels or annotations.
		parent := strings.Join(path[:max(len(path)-1, 0)], ".")
		if !k.keepsWhole(path) && parent != "metadata.annotations" && parent != "metadata.labels" {
			return "it deletes " + strings.Join(path, ".") + ", which the cache holds only part of"
		}
	}
	return ""
}

// keepsWhole reports whether the trim keeps the field at path, and all under it.
func (k *kind) keepsWhole(path []string) bool {
	p := strings.Join(path, ".")
	for _, w := range k.whole {
		if p == w || strings.HasPrefix(p, w+".") {
			return true
		}
	}
	return false
}
