package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/pem"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// caModulePath is the Go module the CA certificates come from: the Mozilla (NSS) roots
// that the Go team publishes, pinned in go.mod and checked against go.sum, so that every
// machine writes the same bundle for one commit (a copy of the build machine's
// /etc/ssl/certs would not be).
const caModulePath = "golang.org/x/crypto/x509roots/fallback"

// entry is one file or directory of a layer.
type entry struct {
	path     string // without a leading slash; directories end with a slash
	mode     int64
	uid, gid int
	data     []byte
}

// baseLayer holds what every Ballast image has under the binary: CA certificates, a
// passwd and a group file naming the nonroot user, its home, and /tmp.
func baseLayer(created time.Time) (v1.Layer, error) {
	return layer(created, []entry{
		{path: "etc/", mode: 0o755},
		{path: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{path: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\n" +
			"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{path: "etc/ssl/", mode: 0o755},
		{path: "etc/ssl/certs/", mode: 0o755},
		{path: strings.TrimPrefix(CAPath, "/"), mode: 0o644, data: caBundle()},
		{path: "home/", mode: 0o755},
		{path: "home/nonroot/", mode: 0o700, uid: 65532, gid: 65532},
		{path: "tmp/", mode: 0o1777},
	})
}

// appLayer holds the binary and its SBOM, owned by root: the image needs no writable
// file.
func appLayer(created time.Time, binary, sbom []byte) (v1.Layer, error) {
	return layer(created, []entry{
		{path: strings.TrimPrefix(Entrypoint, "/"), mode: 0o755, data: binary},
		{path: strings.TrimPrefix(SBOMPath, "/"), mode: 0o644, data: sbom},
	})
}

// layer writes entries, in their order, as a gzipped tar with every timestamp at
// created and no user or group names. Go's gzip writes the same bytes for the same
// input (the toolchain is pinned), so the layer digest is reproducible.
func layer(created time.Time, entries []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{
			Name:    e.path,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.gid,
			ModTime: created,
			Format:  tar.FormatUSTAR,
		}
		if strings.HasSuffix(e.path, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("failed to write %s: %w", e.path, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("failed to write %s: %w", e.path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// caBundle returns the roots of caModulePath as PEM, in the module's order. Roots with a
// constraint (Mozilla distrusts certificates they issue after a date) are left out: a
// PEM file cannot carry the constraint, and trusting them without it would trust more
// than Mozilla does.
func caBundle() []byte {
	var buf bytes.Buffer
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate})
	}
	return buf.Bytes()
}

// caModule returns the CA module as it was built into this program (path, version and
// go.sum hash), for the history and the SBOM.
func caModule() string {
	m := caModuleVersion()
	if m.Version == "" {
		return caModulePath
	}
	return m.Path + " " + m.Version
}

func caModuleVersion() debug.Module {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == caModulePath {
				if d.Replace != nil {
					return *d.Replace
				}
				return *d
			}
		}
	}
	return debug.Module{Path: caModulePath}
}
