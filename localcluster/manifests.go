package localcluster

import (
	"bytes"
	"fmt"
	"path/filepath"

	ssautils "github.com/fluxcd/pkg/ssa/utils"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// BuildManifests returns the objects of the kustomization in config/<dir> (e.g.
// "default"), built the way `kubectl apply -k` does (with kustomize's own library), so
// a local cluster runs exactly what users install.
func BuildManifests(dir string) ([]*unstructured.Unstructured, error) {
	return BuildKustomization(filepath.Join("config", dir))
}

// BuildKustomization returns the objects of the kustomization in dir, relative to the
// repository's root (e.g. "examples/install/overlay"), built as BuildManifests does.
func BuildKustomization(dir string) ([]*unstructured.Unstructured, error) {
	path := filepath.Join(RepoRoot(), dir)
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), path)
	if err != nil {
		return nil, fmt.Errorf("failed to build %s: %w", path, err)
	}
	data, err := res.AsYaml()
	if err != nil {
		return nil, err
	}
	return ssautils.ReadObjects(bytes.NewReader(data))
}

// FindObject returns the object of the kind and name, or nil.
func FindObject(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}
