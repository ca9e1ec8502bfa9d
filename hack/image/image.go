package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// DefaultRepository is where releases are pushed.
	DefaultRepository = "ghcr.io/ballast-dev/ballast"
	// DefaultSource is the org.opencontainers.image.source label.
	DefaultSource = "https://github.com/ballast-dev/ballast"

	// User is the user and group the image runs as: not root, numeric so that the
	// kubelet can check runAsNonRoot, and the nonroot user of distroless images.
	User = "65532:65532"
	// Entrypoint is the binary's path in the image.
	Entrypoint = "/ballast"
	// SBOMPath is the SBOM's path in the image.
	SBOMPath = "/sbom.spdx.json"
	// CAPath is where Go (and most other TLS stacks) look for CA certificates on Linux.
	CAPath = "/etc/ssl/certs/ca-certificates.crt"
)

// Options describe the image beyond its binaries.
type Options struct {
	// Repository is the repository the image is tagged in, e.g. ghcr.io/ballast-dev/ballast.
	Repository string
	// Version is the tag and the version label.
	Version string
	// Revision is the commit the binaries were built from.
	Revision string
	// Source is the source repository's URL.
	Source string
	// Created is the commit time: every timestamp in the image (labels, config, history,
	// files, SBOM).
	Created time.Time
}

// Binary is one platform's static ballast binary.
type Binary struct {
	// Platform is where the binary runs (os and architecture).
	Platform v1.Platform
	// Data is the executable.
	Data []byte
	// Info is its Go build information (debug/buildinfo), for the SBOM.
	Info *debug.BuildInfo
}

// Image is the assembled multi-arch image.
type Image struct {
	// Index is the multi-arch image index, one manifest per platform in the order given.
	Index v1.ImageIndex
	// Platforms are the per-platform images, in the same order.
	Platforms []PlatformImage

	opts Options
}

// PlatformImage is the image of one platform, with its SBOM.
type PlatformImage struct {
	Platform v1.Platform
	Image    v1.Image
	SBOM     []byte
}

// Assemble builds the image of each binary and the index of them all. It only computes:
// nothing is written.
func Assemble(opts Options, bins []Binary) (*Image, error) {
	switch {
	case opts.Version == "":
		return nil, fmt.Errorf("no version")
	case opts.Revision == "":
		return nil, fmt.Errorf("no revision")
	case opts.Created.IsZero():
		return nil, fmt.Errorf("no creation time")
	case len(bins) == 0:
		return nil, fmt.Errorf("no binaries")
	}
	if opts.Repository == "" {
		opts.Repository = DefaultRepository
	}
	if opts.Source == "" {
		opts.Source = DefaultSource
	}
	opts.Created = opts.Created.UTC()
	if _, err := name.NewTag(opts.Repository+":"+opts.Version, name.StrictValidation); err != nil {
		return nil, fmt.Errorf("%s:%s is not an image reference: %w", opts.Repository, opts.Version, err)
	}
	base, err := baseLayer(opts.Created)
	if err != nil {
		return nil, err
	}
	out := &Image{opts: opts}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	seen := map[string]bool{}
	for _, b := range bins {
		p := b.Platform.String()
		if seen[p] {
			return nil, fmt.Errorf("two binaries for %s", p)
		}
		seen[p] = true
		pi, err := platformImage(opts, base, b)
		if err != nil {
			return nil, fmt.Errorf("failed to build the %s image: %w", p, err)
		}
		out.Platforms = append(out.Platforms, pi)
		platform := b.Platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        pi.Image,
			Descriptor: v1.Descriptor{Platform: &platform},
		})
	}
	out.Index = mutate.Annotations(idx, labels(opts)).(v1.ImageIndex)
	return out, nil
}

// Reference is the image's tag, e.g. ghcr.io/ballast-dev/ballast:v1.2.3.
func (i *Image) Reference() string { return i.opts.Repository + ":" + i.opts.Version }

// labels are the OCI labels of every config and the annotations of the index.
func labels(opts Options) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "ballast",
		"org.opencontainers.image.description": "GitOps cost orchestration for Kubernetes on AWS with Karpenter",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.source":      opts.Source,
		"org.opencontainers.image.url":         opts.Source,
		"org.opencontainers.image.revision":    opts.Revision,
		"org.opencontainers.image.version":     opts.Version,
		"org.opencontainers.image.created":     opts.Created.Format(time.RFC3339),
	}
}

func platformImage(opts Options, base v1.Layer, b Binary) (PlatformImage, error) {
	if err := checkBinary(b); err != nil {
		return PlatformImage{}, err
	}
	sbom, err := SBOM(opts, b)
	if err != nil {
		return PlatformImage{}, err
	}
	app, err := appLayer(opts.Created, b.Data, sbom)
	if err != nil {
		return PlatformImage{}, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: b.Platform.Architecture,
		OS:           b.Platform.OS,
		Variant:      b.Platform.Variant,
		Created:      v1.Time{Time: opts.Created},
		Config: v1.Config{
			User:       User,
			Entrypoint: []string{Entrypoint},
			Labels:     labels(opts),
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return PlatformImage{}, err
	}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{
			Created:   v1.Time{Time: opts.Created},
			CreatedBy: "ballast hack/image: " + CAPath + " (" + caModule() + "), /etc/passwd, /etc/group, /home/nonroot, /tmp",
		}},
		mutate.Addendum{Layer: app, History: v1.History{
			Created:   v1.Time{Time: opts.Created},
			CreatedBy: "ballast hack/image: " + Entrypoint + " " + opts.Version + ", " + SBOMPath,
		}},
	)
	if err != nil {
		return PlatformImage{}, err
	}
	return PlatformImage{Platform: b.Platform, Image: img, SBOM: sbom}, nil
}

// checkBinary refuses a binary built for another platform or with cgo: the image has no
// C library.
func checkBinary(b Binary) error {
	if b.Info == nil {
		return fmt.Errorf("no Go build information")
	}
	settings := map[string]string{}
	for _, s := range b.Info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["GOOS"] != b.Platform.OS || settings["GOARCH"] != b.Platform.Architecture {
		return fmt.Errorf("the binary is for %s/%s", settings["GOOS"], settings["GOARCH"])
	}
	if settings["CGO_ENABLED"] != "0" {
		return fmt.Errorf("the binary was built with cgo; the image has no C library: build with CGO_ENABLED=0")
	}
	return nil
}

// Outputs are the files Write wrote.
type Outputs struct {
	// Digest is the index's digest.
	Digest v1.Hash
	// Layout is the OCI image layout directory (<out>/oci) holding the index.
	Layout string
	// Tarballs are, per platform, the image as a tarball that `docker load` and
	// `crane push` take (<out>/ballast-<version>-<os>-<arch>.tar).
	Tarballs []string
	// SBOMs are, per platform, the SBOM also in the image
	// (<out>/ballast-<version>-<os>-<arch>.spdx.json).
	SBOMs []string
	// DigestFile holds Digest (<out>/digest).
	DigestFile string
}

// Files lists every output.
func (o Outputs) Files() []string {
	files := append([]string{o.Layout}, o.Tarballs...)
	return append(append(files, o.SBOMs...), o.DigestFile)
}

// Write writes the outputs under dir, replacing dir/oci.
func (i *Image) Write(dir string) (Outputs, error) {
	var o Outputs
	digest, err := i.Index.Digest()
	if err != nil {
		return o, err
	}
	o.Digest = digest
	o.Layout = filepath.Join(dir, "oci")
	if err := os.RemoveAll(o.Layout); err != nil {
		return o, err
	}
	if err := os.MkdirAll(o.Layout, 0o755); err != nil {
		return o, err
	}
	lp, err := layout.Write(o.Layout, empty.Index)
	if err != nil {
		return o, fmt.Errorf("failed to write the OCI layout %s: %w", o.Layout, err)
	}
	if err := lp.AppendIndex(i.Index, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": i.opts.Version,
		"io.containerd.image.name":          i.Reference(),
	})); err != nil {
		return o, fmt.Errorf("failed to write the OCI layout %s: %w", o.Layout, err)
	}
	tag, err := name.NewTag(i.Reference(), name.StrictValidation)
	if err != nil {
		return o, err
	}
	for _, p := range i.Platforms {
		stem := filepath.Join(dir, fmt.Sprintf("ballast-%s-%s", i.opts.Version, platformName(p.Platform)))
		if err := writeTarball(stem+".tar", tag, p.Image); err != nil {
			return o, err
		}
		o.Tarballs = append(o.Tarballs, stem+".tar")
		if err := os.WriteFile(stem+".spdx.json", p.SBOM, 0o644); err != nil { //nolint:gosec // a public SBOM
			return o, err
		}
		o.SBOMs = append(o.SBOMs, stem+".spdx.json")
	}
	o.DigestFile = filepath.Join(dir, "digest")
	if err := os.WriteFile(o.DigestFile, []byte(digest.String()+"\n"), 0o644); err != nil { //nolint:gosec // a public digest
		return o, err
	}
	return o, nil
}

// platformName is os-arch(-variant), for file names.
func platformName(p v1.Platform) string {
	s := p.OS + "-" + p.Architecture
	if p.Variant != "" {
		s += "-" + p.Variant
	}
	return s
}

func writeTarball(path string, tag name.Tag, img v1.Image) error {
	f, err := os.Create(path) //nolint:gosec // under the output directory
	if err != nil {
		return err
	}
	if err := tarball.Write(tag, img, f); err != nil {
		_ = f.Close()
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return f.Close()
}
