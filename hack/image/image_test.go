package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var testOptions = Options{
	Repository: "example.com/ballast",
	Version:    "v1.2.3",
	Revision:   "0123456789abcdef0123456789abcdef01234567",
	Source:     DefaultSource,
	Created:    time.Unix(1764626400, 0), // 2025-12-01T22:00:00Z
}

// fakeBinary is a small stand-in for ballast with the build information go build would
// write for arch.
func fakeBinary(t *testing.T, arch string) Binary {
	t.Helper()
	info, err := debug.ParseBuildInfo(strings.Join([]string{
		"path\tgithub.com/ballast-dev/ballast/cmd/ballast",
		"mod\tgithub.com/ballast-dev/ballast\tv0.0.0-20251201220000-0123456789ab\t",
		"dep\tgithub.com/spf13/cobra\tv1.10.2\th1:4c0qcwrATaeVKO8zrHG8R1Ik5pYdmuQqeK0sOkXa0b0=",
		"dep\tgithub.com/docker/cli\tv29.7.2+incompatible\th1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
		"dep\texample.com/old\tv1.0.0",
		"=>\texample.com/new\tv1.1.0\th1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
		"build\t-trimpath=true",
		"build\tCGO_ENABLED=0",
		"build\tGOARCH=" + arch,
		"build\tGOOS=linux",
		"build\tvcs.revision=0123456789abcdef0123456789abcdef01234567",
	}, "\n") + "\n")
	if err != nil {
		t.Fatal(err)
	}
	info.GoVersion = "go1.27.4" // read from the binary, not from the text
	return Binary{
		Platform: v1.Platform{OS: "linux", Architecture: arch},
		Data:     []byte("#!/not/really/an/ELF\nballast for " + arch + "\n"),
		Info:     info,
	}
}

func fakeBinaries(t *testing.T) []Binary {
	return []Binary{fakeBinary(t, "amd64"), fakeBinary(t, "arm64")}
}

func assemble(t *testing.T) *Image {
	t.Helper()
	img, err := Assemble(testOptions, fakeBinaries(t))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// digests are the index digest and the manifest, config and layer digests of each platform.
func digests(t *testing.T, img *Image) []string {
	t.Helper()
	d, err := img.Index.Digest()
	if err != nil {
		t.Fatal(err)
	}
	out := []string{"index " + d.String()}
	for _, p := range img.Platforms {
		m, err := p.Image.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		d, err := p.Image.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Platform.String()+" manifest "+d.String(), "config "+m.Config.Digest.String())
		for _, l := range m.Layers {
			out = append(out, "layer "+l.Digest.String())
		}
	}
	return out
}

func TestAssembleIsReproducible(t *testing.T) {
	first, second := assemble(t), assemble(t)
	a, b := digests(t, first), digests(t, second)
	if !slices.Equal(a, b) {
		t.Fatalf("two builds differ:\n%s\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	// The base layer is the same on every platform; the binaries' layers are not.
	if a[3] != a[7] || a[4] == a[8] {
		t.Errorf("want one shared base layer and one binary layer per platform, got\n%s", strings.Join(a, "\n"))
	}

	// Written twice, every output is the same file, byte for byte.
	dirA, dirB := t.TempDir(), t.TempDir()
	outA, err := first.Write(dirA)
	if err != nil {
		t.Fatal(err)
	}
	outB, err := second.Write(dirB)
	if err != nil {
		t.Fatal(err)
	}
	if outA.Digest != outB.Digest || "index "+outA.Digest.String() != a[0] {
		t.Errorf("written digests %s and %s, want %s", outA.Digest, outB.Digest, a[0])
	}
	filesA, filesB := readTree(t, dirA), readTree(t, dirB)
	if len(filesA) != len(filesB) {
		t.Fatalf("the outputs differ: %d files and %d", len(filesA), len(filesB))
	}
	for name, data := range filesA {
		if !bytes.Equal(data, filesB[name]) {
			t.Errorf("%s differs between two writes", name)
		}
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path) //nolint:gosec // the test's own output
		rel, _ := filepath.Rel(dir, path)
		files[rel] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestImageConfig(t *testing.T) {
	img := assemble(t)
	idx, err := img.Index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if idx.MediaType != types.OCIImageIndex || len(idx.Manifests) != 2 ||
		idx.Manifests[0].Platform.String() != "linux/amd64" || idx.Manifests[1].Platform.String() != "linux/arm64" {
		t.Fatalf("index = %+v, want an OCI index of linux/amd64 then linux/arm64", idx)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.source":   DefaultSource,
		"org.opencontainers.image.revision": testOptions.Revision,
		"org.opencontainers.image.version":  "v1.2.3",
		"org.opencontainers.image.created":  "2025-12-01T22:00:00Z",
	}
	for k, v := range wantLabels {
		if idx.Annotations[k] != v {
			t.Errorf("index annotation %s = %q, want %q", k, idx.Annotations[k], v)
		}
	}
	for i, p := range img.Platforms {
		m, err := p.Image.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 2 {
			t.Errorf("%s manifest = %+v, want an OCI manifest of two layers", p.Platform, m)
		}
		for _, l := range m.Layers {
			if l.MediaType != types.OCILayer {
				t.Errorf("%s layer media type %s, want %s", p.Platform, l.MediaType, types.OCILayer)
			}
		}
		if idx.Manifests[i].Digest.String() != mustDigest(t, p.Image) {
			t.Errorf("the index's %s entry is not the %s image", idx.Manifests[i].Platform, p.Platform)
		}
		cf, err := p.Image.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		c := cf.Config
		if cf.OS != "linux" || cf.Architecture != p.Platform.Architecture || !cf.Created.Equal(testOptions.Created) {
			t.Errorf("%s config: os %s, architecture %s, created %s", p.Platform, cf.OS, cf.Architecture, cf.Created)
		}
		if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/ballast"}) || len(c.Cmd) != 0 {
			t.Errorf("%s config: user %q, entrypoint %q, cmd %q; want 65532:65532, [/ballast], none", p.Platform, c.User, c.Entrypoint, c.Cmd)
		}
		for k, v := range wantLabels {
			if c.Labels[k] != v {
				t.Errorf("%s label %s = %q, want %q", p.Platform, k, c.Labels[k], v)
			}
		}
		if len(cf.History) != 2 {
			t.Errorf("%s history has %d entries, want 2", p.Platform, len(cf.History))
		}
		for _, h := range cf.History {
			if !h.Created.Equal(testOptions.Created) {
				t.Errorf("%s history entry created %s, want the commit time", p.Platform, h.Created)
			}
		}
	}
}

func mustDigest(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// file is a layer entry as read back.
type file struct {
	mode     int64
	uid, gid int
	dir      bool
	data     []byte
}

func layerFiles(t *testing.T, l v1.Layer) ([]string, map[string]file) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	var names []string
	files := map[string]file{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(testOptions.Created) || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: time %s, owner %q:%q; want the commit time and numeric owners", h.Name, h.ModTime, h.Uname, h.Gname)
		}
		names = append(names, h.Name)
		files[h.Name] = file{mode: h.Mode, uid: h.Uid, gid: h.Gid, dir: h.Typeflag == tar.TypeDir, data: data}
	}
}

func TestLayers(t *testing.T) {
	img := assemble(t)
	for i, p := range img.Platforms {
		layers, err := p.Image.Layers()
		if err != nil {
			t.Fatal(err)
		}
		names, base := layerFiles(t, layers[0])
		wantBase := []string{"etc/", "etc/group", "etc/passwd", "etc/ssl/", "etc/ssl/certs/",
			"etc/ssl/certs/ca-certificates.crt", "home/", "home/nonroot/", "tmp/"}
		if !slices.Equal(names, wantBase) {
			t.Errorf("base layer = %q, want %q", names, wantBase)
		}
		for name, want := range map[string]file{
			"etc/passwd":                        {mode: 0o644},
			"etc/ssl/certs/ca-certificates.crt": {mode: 0o644},
			"home/nonroot/":                     {mode: 0o700, uid: 65532, gid: 65532, dir: true},
			"tmp/":                              {mode: 0o1777, dir: true},
		} {
			got := base[name]
			if got.mode != want.mode || got.uid != want.uid || got.gid != want.gid || got.dir != want.dir {
				t.Errorf("%s: mode %o, owner %d:%d, dir %v; want %o, %d:%d, %v", name, got.mode, got.uid, got.gid, got.dir, want.mode, want.uid, want.gid, want.dir)
			}
		}
		if !strings.Contains(string(base["etc/passwd"].data), "nonroot:x:65532:65532:") {
			t.Errorf("/etc/passwd has no nonroot user:\n%s", base["etc/passwd"].data)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(base["etc/ssl/certs/ca-certificates.crt"].data) || len(pool.Subjects()) < 100 { //nolint:staticcheck // counting, not verifying
			t.Errorf("the CA bundle holds %d certificates, want the Mozilla roots", len(pool.Subjects())) //nolint:staticcheck // counting
		}

		names, app := layerFiles(t, layers[1])
		if !slices.Equal(names, []string{"ballast", "sbom.spdx.json"}) {
			t.Errorf("binary layer = %q, want ballast and sbom.spdx.json", names)
		}
		bin, sbom := app["ballast"], app["sbom.spdx.json"]
		if bin.mode != 0o755 || bin.uid != 0 || !bytes.Equal(bin.data, fakeBinaries(t)[i].Data) {
			t.Errorf("%s /ballast: mode %o, uid %d, %d bytes; want 755, root, the binary", p.Platform, bin.mode, bin.uid, len(bin.data))
		}
		if sbom.mode != 0o644 || !bytes.Equal(sbom.data, p.SBOM) {
			t.Errorf("%s /sbom.spdx.json: mode %o, want 644 and the platform's SBOM", p.Platform, sbom.mode)
		}
	}
}

func TestSBOM(t *testing.T) {
	img := assemble(t)
	var doc spdxDocument
	dec := json.NewDecoder(bytes.NewReader(img.Platforms[1].SBOM))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("the SBOM does not parse: %v", err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.Name != "ballast-v1.2.3-linux-arm64" || doc.CreationInfo.Created != "2025-12-01T22:00:00Z" {
		t.Errorf("document %s %s created %s", doc.SPDXVersion, doc.Name, doc.CreationInfo.Created)
	}
	purls := map[string]spdxPackage{}
	ids := map[string]bool{"SPDXRef-DOCUMENT": true}
	for _, p := range doc.Packages {
		if ids[p.SPDXID] || !strings.HasPrefix(p.SPDXID, "SPDXRef-") || notIDChar.MatchString(strings.TrimPrefix(p.SPDXID, "SPDXRef-")) {
			t.Errorf("package %s has a bad or repeated SPDXID %q", p.Name, p.SPDXID)
		}
		ids[p.SPDXID] = true
		for _, r := range p.ExternalRefs {
			purls[r.ReferenceLocator] = p
		}
	}
	for _, r := range doc.Relationships {
		if !ids[r.SPDXElementID] || !ids[r.RelatedSPDXElement] {
			t.Errorf("relationship %+v names an unknown element", r)
		}
	}
	for purl, checksum := range map[string]string{
		"pkg:golang/github.com/ballast-dev/ballast@v1.2.3":                               "",
		"pkg:golang/stdlib@1.27.4":                                                       "",
		"pkg:golang/github.com/spf13/cobra@v1.10.2":                                      "e1cd2a730ac04da79528ef33ac71bc475224e6961d9ae42a78ad2c3a45dad1bd",
		"pkg:golang/github.com/docker/cli@v29.7.2%2Bincompatible":                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"pkg:golang/example.com/new@v1.1.0":                                              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"pkg:golang/golang.org/x/crypto/x509roots/fallback@" + caModuleVersion().Version: "",
	} {
		p, ok := purls[purl]
		if !ok {
			t.Errorf("no package %s in the SBOM", purl)
			continue
		}
		if checksum != "" && (len(p.Checksums) != 1 || p.Checksums[0].ChecksumValue != checksum) {
			t.Errorf("%s checksums %+v, want SHA256 %s", purl, p.Checksums, checksum)
		}
	}
	if _, ok := purls["pkg:golang/example.com/old@v1.0.0"]; ok {
		t.Error("the SBOM names a replaced module instead of its replacement")
	}
	bin := purls["pkg:golang/github.com/ballast-dev/ballast@v1.2.3"]
	sum := sha256.Sum256(fakeBinary(t, "arm64").Data)
	if want := []spdxChecksum{{"SHA256", hex.EncodeToString(sum[:])}}; !slices.Equal(bin.Checksums, want) {
		t.Errorf("the binary's checksums are %+v, want %+v", bin.Checksums, want)
	}
}

func TestOutputs(t *testing.T) {
	img := assemble(t)
	dir := t.TempDir()
	out, err := img.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(dir, "oci"),
		filepath.Join(dir, "ballast-v1.2.3-linux-amd64.tar"),
		filepath.Join(dir, "ballast-v1.2.3-linux-arm64.tar"),
		filepath.Join(dir, "ballast-v1.2.3-linux-amd64.spdx.json"),
		filepath.Join(dir, "ballast-v1.2.3-linux-arm64.spdx.json"),
		filepath.Join(dir, "digest"),
	}
	if !slices.Equal(out.Files(), want) {
		t.Errorf("outputs = %q, want %q", out.Files(), want)
	}
	digest, err := os.ReadFile(filepath.Join(dir, "digest"))
	if err != nil || string(digest) != out.Digest.String()+"\n" {
		t.Errorf("digest file = %q, %v; want %s", digest, err, out.Digest)
	}

	// The layout's index.json names the multi-arch index, tagged with the version.
	lp, err := layout.FromPath(out.Layout)
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].Digest != out.Digest ||
		tm.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v1.2.3" ||
		tm.Manifests[0].Annotations["io.containerd.image.name"] != "example.com/ballast:v1.2.3" {
		t.Fatalf("index.json = %+v, want the index %s named v1.2.3", tm, out.Digest)
	}
	idx, err := top.ImageIndex(out.Digest)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range img.Platforms {
		d := mustDigest(t, p.Image)
		h, _ := v1.NewHash(d)
		fromLayout, err := idx.Image(h)
		if err != nil {
			t.Fatalf("the layout lacks the %s image: %v", p.Platform, err)
		}
		if got := mustDigest(t, fromLayout); got != d {
			t.Errorf("layout %s image %s, want %s", p.Platform, got, d)
		}
		layers, err := fromLayout.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			if _, err := l.Compressed(); err != nil {
				t.Errorf("the layout lacks a %s layer blob: %v", p.Platform, err)
			}
		}

		// The tarball holds the same config and layers under the tag (the Docker
		// tarball format keeps no manifest: docker load and crane push write their own).
		tag, err := name.NewTag("example.com/ballast:v1.2.3")
		if err != nil {
			t.Fatal(err)
		}
		tb, err := tarball.ImageFromPath(filepath.Join(dir, "ballast-v1.2.3-"+platformName(p.Platform)+".tar"), &tag)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := configAndLayers(t, tb), configAndLayers(t, p.Image); !slices.Equal(got, want) {
			t.Errorf("tarball %s image holds %q, want %q", p.Platform, got, want)
		}
		sbom, err := os.ReadFile(filepath.Join(dir, "ballast-v1.2.3-"+platformName(p.Platform)+".spdx.json"))
		if err != nil || !bytes.Equal(sbom, p.SBOM) {
			t.Errorf("the %s SBOM file is not the image's SBOM (%v)", p.Platform, err)
		}
	}
}

// configAndLayers are an image's config digest and layer digests.
func configAndLayers(t *testing.T, img v1.Image) []string {
	t.Helper()
	c, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	out := []string{c.String()}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.String())
	}
	return out
}

func TestAssembleRefuses(t *testing.T) {
	cgo := fakeBinary(t, "amd64")
	cgo.Info.Settings = slices.DeleteFunc(slices.Clone(cgo.Info.Settings), func(s debug.BuildSetting) bool { return s.Key == "CGO_ENABLED" })
	cgo.Info.Settings = append(cgo.Info.Settings, debug.BuildSetting{Key: "CGO_ENABLED", Value: "1"})
	wrongArch := fakeBinary(t, "arm64")
	wrongArch.Platform.Architecture = "amd64"
	noVersion := testOptions
	noVersion.Version = ""
	badTag := testOptions
	badTag.Version = "v1.2.3+build"
	for _, tc := range []struct {
		name string
		opts Options
		bins []Binary
		want string
	}{
		{"cgo", testOptions, []Binary{cgo}, "cgo"},
		{"another platform", testOptions, []Binary{wrongArch}, "the binary is for linux/arm64"},
		{"twice the same platform", testOptions, []Binary{fakeBinary(t, "amd64"), fakeBinary(t, "amd64")}, "two binaries for linux/amd64"},
		{"no version", noVersion, fakeBinaries(t), "no version"},
		{"not a tag", badTag, fakeBinaries(t), "not an image reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Assemble(tc.opts, tc.bins); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Assemble() = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestRunNeedsCommitTime(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-version", "v1", "-revision", "abc", "linux/amd64=/nonexistent"}, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "-created is required") {
		t.Errorf("run() = %d, %q; want 2 and a word on -created", code, errOut.String())
	}
}
