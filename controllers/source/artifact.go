package source

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
	"github.com/ballast-dev/ballast/redact"
)

// Limits of an artifact, well above any policy tree.
const (
	// DefaultMaxArtifactSize bounds the compressed artifact and, separately, the
	// extracted files.
	DefaultMaxArtifactSize = 64 << 20
	// maxArtifactFiles bounds the number of entries extracted.
	maxArtifactFiles = 20000
)

// ArtifactFetcher fetches spec.sourceRef: it reads the artifact a Flux GitRepository or
// OCIRepository advertises in its status, downloads it, verifies its digest and
// extracts it, keeping one extracted tree per PolicySource.
type ArtifactFetcher struct {
	// Client reads the Flux source objects. Ballast's scheme need not know their types:
	// they are read as unstructured objects.
	Client client.Reader
	// HTTP downloads artifacts; http.DefaultClient when nil.
	HTTP *http.Client
	// Dir holds the extracted trees, one per PolicySource.
	Dir string
	// MaxSize bounds the download and the extracted size; DefaultMaxArtifactSize when 0.
	MaxSize int64
}

// ArtifactError says the source has no usable artifact: none yet, a download that
// failed, a digest that does not match, or an archive that is not a safe tar.gz.
type ArtifactError struct {
	// Source is Kind/namespace/name of the Flux source.
	Source string
	Err    error
}

func (e *ArtifactError) Error() string {
	return fmt.Sprintf("artifact of %s: %v", e.Source, e.Err)
}

func (e *ArtifactError) Unwrap() error { return e.Err }

// Fetch implements Fetcher.
func (f *ArtifactFetcher) Fetch(ctx context.Context, src *v1alpha1.PolicySource) (*Snapshot, error) {
	ref := src.Spec.SourceRef
	if ref == nil {
		return nil, errors.New("the PolicySource has no sourceRef")
	}
	obj, err := f.source(ctx, src)
	if err != nil {
		return nil, err
	}
	name := ref.Kind + "/" + obj.GetNamespace() + "/" + obj.GetName()
	fail := func(format string, args ...any) error {
		return &ArtifactError{Source: name, Err: fmt.Errorf(format, args...)}
	}
	raw, found, err := unstructured.NestedMap(obj.Object, "status", "artifact")
	if err != nil || !found {
		return nil, fail("no artifact yet: the source is not ready")
	}
	var art meta.Artifact
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &art); err != nil {
		return nil, fail("unreadable status.artifact: %w", err)
	}
	if art.URL == "" || art.Revision == "" {
		return nil, fail("status.artifact has no url or revision")
	}
	if art.Digest == "" {
		return nil, fail("status.artifact has no digest to verify the download with")
	}

	// One extracted tree per digest, reused only when its stamp names this digest and
	// the files still are those extracted: a directory left by an extraction killed
	// half-way, or by another artifact, is never served under this revision.
	base := f.treeDir(src)
	tree := filepath.Join(base, treeName(art.Digest))
	err = verifyTree(tree, art.Digest)
	if err == nil {
		return &Snapshot{Revision: art.Revision, Files: confined(filepath.Join(tree, "files")), Unchanged: true}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		logf.FromContext(ctx).Info("replaced the extracted artifact", "reason", err.Error(), "revision", art.Revision)
	}
	// What else the directory holds is another artifact or an interrupted download.
	if err := os.RemoveAll(base); err != nil {
		return nil, fmt.Errorf("failed to remove the last artifact: %w", err)
	}
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the artifact directory: %w", err)
	}
	archive, err := f.download(ctx, art, base)
	if err != nil {
		return nil, fail("%w", err)
	}
	defer func() { _ = os.Remove(archive) }()
	next, err := os.MkdirTemp(base, "extract-")
	if err != nil {
		return nil, fmt.Errorf("failed to create the artifact directory: %w", err)
	}
	if err := extract(archive, next, art.Digest, f.maxSize()); err != nil {
		_ = os.RemoveAll(next)
		return nil, fail("%w", err)
	}
	// The tree appears under its digest's name complete, or not at all.
	if err := os.Rename(next, tree); err != nil {
		_ = os.RemoveAll(next)
		return nil, fmt.Errorf("failed to store the artifact: %w", err)
	}
	return &Snapshot{Revision: art.Revision, Files: confined(filepath.Join(tree, "files"))}, nil
}

// treeName is the directory name of the tree extracted from the artifact of digest.
func treeName(digest string) string {
	sum := sha256.Sum256([]byte(digest))
	return "tree-" + hex.EncodeToString(sum[:16])
}

// extract extracts archive into dir/files and stamps dir with the digest and the sum
// of what was extracted (see verifyTree).
func extract(archive, dir, digest string, maxSize int64) error {
	in, err := os.Open(archive) //nolint:gosec // a file this package created
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	files := filepath.Join(dir, "files")
	if err := os.Mkdir(files, 0o700); err != nil {
		return err
	}
	if err := untar(in, files, maxSize); err != nil {
		return err
	}
	sum, err := treeSum(files)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "stamp"), []byte(stamp(digest, sum)), 0o600)
}

func stamp(digest, sum string) string {
	return fmt.Sprintf("digest %s\ntree %s\n", digest, sum)
}

// verifyTree checks that dir holds the complete tree extracted from the artifact of
// digest: its stamp names digest, and its files still hash to the sum taken when they
// were extracted. It returns an error wrapping fs.ErrNotExist when dir holds nothing.
func verifyTree(dir, digest string) error {
	b, err := os.ReadFile(filepath.Join(dir, "stamp")) //nolint:gosec // a file this package wrote
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, derr := os.Lstat(dir); derr == nil {
				return errors.New("the extracted tree has no stamp: its extraction did not finish")
			}
		}
		return err
	}
	sum, err := treeSum(filepath.Join(dir, "files"))
	if err != nil {
		return fmt.Errorf("the extracted tree cannot be read: %w", err)
	}
	if string(b) != stamp(digest, sum) {
		return errors.New("the extracted tree is not the artifact's: its files or its stamp differ")
	}
	return nil
}

// treeSum is a SHA-256 over the names, kinds, sizes and contents of everything under
// dir, in lexical order. Only directories and regular files are extracted: anything
// else is an error.
func treeSum(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			_, _ = fmt.Fprintf(h, "d %q\n", rel)
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%s is neither a file nor a directory", rel)
		}
		f, err := os.Open(p) //nolint:gosec // a regular file under dir
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		fh := sha256.New()
		n, err := io.Copy(fh, f)
		if err != nil {
			return err
		}
		_, _ = fmt.Fprintf(h, "f %q %d %x\n", rel, n, fh.Sum(nil))
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Forget implements Fetcher.
func (f *ArtifactFetcher) Forget(src *v1alpha1.PolicySource) error {
	return os.RemoveAll(f.treeDir(src))
}

func (f *ArtifactFetcher) treeDir(src *v1alpha1.PolicySource) string {
	return filepath.Join(f.Dir, "artifact", src.Namespace, src.Name+"-"+string(src.UID))
}

func (f *ArtifactFetcher) maxSize() int64 {
	if f.MaxSize > 0 {
		return f.MaxSize
	}
	return DefaultMaxArtifactSize
}

// source reads the Flux object spec.sourceRef names.
func (f *ArtifactFetcher) source(ctx context.Context, src *v1alpha1.PolicySource) (*unstructured.Unstructured, error) {
	ref := src.Spec.SourceRef
	gvk := sourceGVK(ref)
	ns := ref.Namespace
	if ns == "" {
		ns = src.Namespace
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	if err := f.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &ArtifactError{Source: ref.Kind + "/" + ns + "/" + ref.Name, Err: errors.New("the source does not exist")}
		}
		return nil, fmt.Errorf("failed to read %s %s/%s: %w", ref.Kind, ns, ref.Name, err)
	}
	return obj, nil
}

// download writes the artifact to a file in dir and checks its digest.
func (f *ArtifactFetcher) download(ctx context.Context, art meta.Artifact, dir string) (string, error) {
	algo, want, ok := strings.Cut(art.Digest, ":")
	if !ok {
		return "", fmt.Errorf("digest %q is not <algorithm>:<hex>", art.Digest)
	}
	var h hash.Hash
	switch algo {
	case "sha256":
		h = sha256.New()
	case "sha384":
		h = sha512.New384()
	case "sha512":
		h = sha512.New()
	default:
		return "", fmt.Errorf("digest algorithm %q is not supported (sha256, sha384, sha512)", algo)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, art.URL, nil)
	if err != nil {
		return "", fmt.Errorf("invalid artifact URL: %w", err)
	}
	hc := f.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("failed to download revision %s: %w", art.Revision, redact.Error(err))
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		// The status line is the server's: show a bounded excerpt of it.
		return "", fmt.Errorf("failed to download revision %s: HTTP %s", art.Revision, redact.Excerpt(resp.Status))
	}
	out, err := os.CreateTemp(dir, "artifact-*.tar.gz")
	if err != nil {
		return "", err
	}
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(resp.Body, f.maxSize()+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		_ = os.Remove(out.Name())
		return "", fmt.Errorf("failed to download revision %s: %w", art.Revision, err)
	case n > f.maxSize():
		_ = os.Remove(out.Name())
		return "", fmt.Errorf("revision %s is larger than %d bytes", art.Revision, f.maxSize())
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(want) {
		_ = os.Remove(out.Name())
		return "", fmt.Errorf("digest mismatch for revision %s: the source advertises %s, the download is %s:%s", art.Revision, art.Digest, algo, got)
	}
	return out.Name(), nil
}

// untar extracts the regular files and directories of the tar.gz stream r into dir,
// which must exist. It refuses absolute paths and paths leaving dir, skips links and
// devices, and stops at maxSize extracted bytes or maxArtifactFiles entries. Every
// write goes through an os.Root of dir, so that nothing is written outside it, even
// through a link someone else placed there.
func untar(r io.Reader, dir string, maxSize int64) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("not a gzip archive: %w", err)
	}
	defer func() { _ = gz.Close() }()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer func() { _ = root.Close() }()
	tr := tar.NewReader(gz)
	var total int64
	for entries := 0; ; entries++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("invalid tar archive: %w", err)
		}
		if entries >= maxArtifactFiles {
			return fmt.Errorf("the archive has more than %d entries", maxArtifactFiles)
		}
		name, err := safePath(hdr.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if total+hdr.Size > maxSize {
				return fmt.Errorf("the archive extracts to more than %d bytes", maxSize)
			}
			if d := path.Dir(name); d != "." {
				if err := root.MkdirAll(d, 0o700); err != nil {
					return err
				}
			}
			n, err := extractFile(root, name, tr, maxSize-total)
			total += n
			if err != nil {
				return err
			}
		default:
			// Symbolic and hard links, devices and FIFOs have no place in a policy tree
			// and could point outside dir.
		}
	}
}

// safePath cleans a tar entry name and refuses one that is absolute or leaves the
// extraction directory; "" means the directory itself.
func safePath(name string) (string, error) {
	if strings.HasPrefix(name, "/") || strings.Contains(name, `\`) || filepath.IsAbs(name) {
		return "", fmt.Errorf("the archive entry %q has an absolute path", name)
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("the archive entry %q leaves the extraction directory", name)
	}
	if clean == "." {
		return "", nil
	}
	return clean, nil
}

// extractFile writes at most limit bytes of r to the new file name under root.
func extractFile(root *os.Root, name string, r io.Reader, limit int64) (int64, error) {
	out, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, io.LimitReader(r, limit+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > limit {
		err = fmt.Errorf("the archive extracts to more than the size limit")
	}
	return n, err
}

// sourceGVK is the group, version and kind of the Flux source ref names.
func sourceGVK(ref *v1alpha1.SourceReference) schema.GroupVersionKind {
	gv := sourcev1.GroupVersion
	if ref.APIVersion != "" {
		if g, v, ok := strings.Cut(ref.APIVersion, "/"); ok {
			gv.Group, gv.Version = g, v
		}
	}
	return gv.WithKind(ref.Kind)
}
