package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/pkg/util"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// ImageName is the controller image's name in config/manager/manager.yaml, the name
// kustomize's images transformer matches.
const ImageName = "ghcr.io/ballast-dev/ballast"

// Manifests builds the kustomization configDir/default with the controller image set to
// image (REPOSITORY:TAG or REPOSITORY@DIGEST), as an overlay with an images entry would:
// the files are copied into memory, so the tree is never changed.
func Manifests(configDir, image string) ([]byte, error) {
	name, tag, digest := util.SplitImageName(image)
	if name == "" || (tag == "" && digest == "") {
		return nil, fmt.Errorf("the image %q has no tag or digest: write REPOSITORY:TAG", image)
	}
	mem := filesys.MakeFsInMemory()
	if err := copyTree(mem, configDir, "/config"); err != nil {
		return nil, err
	}
	overlay, err := yaml.Marshal(types.Kustomization{
		TypeMeta:  types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind},
		Resources: []string{"../config/default"},
		Images:    []types.Image{{Name: ImageName, NewName: name, NewTag: tag, Digest: digest}},
	})
	if err != nil {
		return nil, err
	}
	if err := mem.WriteFile("/release/kustomization.yaml", overlay); err != nil {
		return nil, err
	}
	// The order `kubectl apply -f` needs, as `kustomize build` gives by default: the
	// namespace and the CRDs first, the webhook configuration last.
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionLegacy
	res, err := krusty.MakeKustomizer(opts).Run(mem, "/release")
	if err != nil {
		return nil, fmt.Errorf("failed to build %s: %w", filepath.Join(configDir, "default"), err)
	}
	data, err := res.AsYaml()
	if err != nil {
		return nil, err
	}
	header := fmt.Sprintf("# Ballast: everything it needs in a cluster (config/default, image %s).\n"+
		"# kubectl apply --server-side -f install.yaml; docs/install-eks.md says what to set first.\n", image)
	return append([]byte(header), data...), nil
}

// copyTree copies the regular files under dir on disk to the same paths under to in fsys.
func copyTree(fsys filesys.FileSystem, dir, to string) error {
	if st, err := os.Stat(filepath.Join(dir, "default", "kustomization.yaml")); err != nil || st.IsDir() {
		return fmt.Errorf("%s has no default/kustomization.yaml", dir)
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return errors.New(path + " is not a regular file")
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return fsys.WriteFile(filepath.Join(to, filepath.ToSlash(rel)), data)
	})
}
