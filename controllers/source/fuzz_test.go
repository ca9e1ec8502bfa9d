package source

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// fuzzMaxSize is the extraction limit of the untar fuzz targets: small, so that the
// fuzzer reaches it.
const fuzzMaxSize = 4096

// rawEntry is one entry of a tar archive built for the fuzz seeds.
type rawEntry struct {
	name, link, content string
	kind                byte
}

// rawTar is an uncompressed tar archive of entries, written as they are, PAX records
// included where tar.Writer needs them.
func rawTar(t testing.TB, entries ...rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.kind, Mode: 0o644}
		if e.kind == tar.TypeReg {
			hdr.Size = int64(len(e.content))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("seed entry %+v: %v", e, err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write([]byte(e.content)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// untarSeeds are archives of the shapes an attacker would try.
func untarSeeds(t testing.TB) [][]byte {
	reg := func(name, content string) rawEntry { return rawEntry{name: name, content: content, kind: tar.TypeReg} }
	dir := func(name string) rawEntry { return rawEntry{name: name, kind: tar.TypeDir} }
	link := func(name, target string) rawEntry { return rawEntry{name: name, link: target, kind: tar.TypeSymlink} }
	return [][]byte{
		rawTar(t, reg("policies/a.yaml", "a: 1\n"), dir("policies/rules/"), reg("policies/rules/b.yaml", "b")),
		rawTar(t, reg("../evil", "x")),
		rawTar(t, reg("a/../../evil", "x")),
		rawTar(t, reg("/etc/evil", "x")),
		rawTar(t, reg(`..\evil`, "x")),
		rawTar(t, dir("."), dir("./"), reg("./a", "a"), reg("b/./c//d", "d")),
		rawTar(t, link("policies", "/etc"), reg("policies/passwd", "x")),
		rawTar(t, link("l", ".."), reg("l/evil", "x")),
		rawTar(t, rawEntry{name: "h", link: "/etc/passwd", kind: tar.TypeLink}, reg("h", "x")),
		rawTar(t, link("escape", "../outside"), reg("escape/x", "x")),
		rawTar(t, reg("escape/x", "x")),
		rawTar(t, dir("escape"), reg("escape", "x")),
		rawTar(t, reg("a", "1"), reg("a", "2")),
		rawTar(t, reg("a", "1"), dir("a"), reg("a/b", "2")),
		rawTar(t, rawEntry{name: "dev", kind: tar.TypeChar}, rawEntry{name: "fifo", kind: tar.TypeFifo}),
		rawTar(t, reg(strings.Repeat("d/", 60)+"long.yaml", "long name, PAX")),
		rawTar(t, reg("big", strings.Repeat("x", fuzzMaxSize+1))),
		rawTar(t, reg("half1", strings.Repeat("x", fuzzMaxSize/2)), reg("half2", strings.Repeat("y", fuzzMaxSize/2+1))),
		{},
		[]byte("not a tar archive"),
	}
}

// checkUntar extracts the tar stream data (gzipped here) into a fresh directory out
// that holds a link, escape, to a directory beside it, and checks what the controller
// relies on: nothing is written outside out (through escape neither), out holds only
// directories and regular files of at most fuzzMaxSize bytes in all, and a successful
// extraction holds exactly the regular files and directories of the archive under
// their cleaned names.
func checkUntar(t *testing.T, data []byte) {
	parent := t.TempDir()
	out, outside := filepath.Join(parent, "out"), filepath.Join(parent, "outside")
	for _, d := range []string{out, outside} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../outside", filepath.Join(out, "escape")); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(data)
	_ = w.Close()

	uerr := untar(&gz, out, fuzzMaxSize)

	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Fatalf("untar wrote %s outside the extraction directory (err %v)", entries[0].Name(), uerr)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 2 {
		t.Fatalf("untar wrote beside the extraction directory: %d entries (err %v)", len(entries), uerr)
	}
	files := map[string]string{}
	dirs := map[string]bool{}
	var total int64
	werr := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == "." || (rel == "escape" && d.Type()&fs.ModeSymlink != 0):
			return nil
		case d.IsDir():
			dirs[rel] = true
			return nil
		case !d.Type().IsRegular():
			t.Fatalf("untar created %s of type %v (err %v)", rel, d.Type(), uerr)
		}
		b, err := os.ReadFile(p) //nolint:gosec // the test's own directory
		if err != nil {
			return err
		}
		files[rel] = string(b)
		total += int64(len(b))
		return nil
	})
	if werr != nil {
		t.Fatal(werr)
	}
	if total > fuzzMaxSize {
		t.Fatalf("untar extracted %d bytes, more than the %d allowed", total, fuzzMaxSize)
	}
	if uerr != nil {
		return
	}

	// Success: exactly the archive's regular files and directories.
	wantFiles, wantDirs := map[string]string{}, map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("untar accepted an archive tar cannot read: %v", err)
		}
		name, err := safePath(hdr.Name)
		if err != nil {
			t.Fatalf("untar accepted the entry %q: %v", hdr.Name, err)
		}
		if name == "" {
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			wantFiles[name] = string(b)
		case tar.TypeDir:
			wantDirs[name] = true
		default:
			continue
		}
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			wantDirs[d] = true
		}
	}
	if len(files) != len(wantFiles) {
		t.Fatalf("extracted files %v, the archive has %v", keys(files), keys(wantFiles))
	}
	for name, content := range files {
		if want, ok := wantFiles[name]; !ok || want != content {
			t.Fatalf("extracted %s with %q, the archive has %q (present %t)", name, content, want, ok)
		}
	}
	for d := range dirs {
		if !wantDirs[d] {
			t.Fatalf("extracted a directory %s the archive does not have", d)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// FuzzUntar feeds arbitrary tar streams to the artifact extraction.
func FuzzUntar(f *testing.F) {
	for _, s := range untarSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(checkUntar)
}

// FuzzUntarEntries builds well-formed archives of arbitrary entries (names, link
// targets, kinds, sizes), which random bytes rarely are: tar headers carry a checksum.
func FuzzUntarEntries(f *testing.F) {
	f.Add("policies/a.yaml\npolicies/rules/\npolicies/rules/b.yaml", "", []byte{tar.TypeReg, tar.TypeDir, tar.TypeReg}, []byte("a: 1\nb"))
	f.Add("../evil\na/../../evil\n/abs\n..\\evil", "", []byte{tar.TypeReg}, []byte("x"))
	f.Add("escape\nescape/x\nl\nl/y", "../outside\n\n..\n", []byte{tar.TypeSymlink, tar.TypeReg}, []byte("xy"))
	f.Add("h\nh\nd\nd/f\nd", "/etc/passwd", []byte{tar.TypeLink, tar.TypeReg, tar.TypeDir, tar.TypeReg, tar.TypeReg}, []byte("1234"))
	f.Add("c\nb\nf\n.\n./\nx//y/./z", "", []byte{tar.TypeChar, tar.TypeBlock, tar.TypeFifo, tar.TypeDir, tar.TypeReg, tar.TypeReg}, bytes.Repeat([]byte("z"), fuzzMaxSize))
	f.Fuzz(func(t *testing.T, names, links string, kinds, content []byte) {
		nameList, linkList := strings.Split(names, "\n"), strings.Split(links, "\n")
		if len(nameList) > 32 || len(kinds) == 0 {
			return
		}
		var entries []rawEntry
		rest := content
		for i, name := range nameList {
			e := rawEntry{name: name, kind: kinds[i%len(kinds)], link: linkList[i%len(linkList)]}
			if e.kind == tar.TypeReg || e.kind == 0 { // 0: the old regular-file flag
				n := min(len(rest), fuzzMaxSize/2+1)
				if i < len(nameList)-1 {
					n = min(n, len(rest)/2+1)
				}
				e.content, rest = string(rest[:n]), rest[n:]
			}
			entries = append(entries, e)
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range entries {
			hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.kind, Mode: 0o644, Size: int64(len(e.content)), Format: tar.FormatPAX}
			if tw.WriteHeader(hdr) != nil {
				continue
			}
			_, _ = tw.Write([]byte(e.content))
		}
		_ = tw.Close()
		checkUntar(t, buf.Bytes())
	})
}

// FuzzInventory feeds arbitrary inventories, as a status edited by hand or written by
// another version may hold, to the parsing the pruning relies on, and checks that
// what Ballast writes for any valid object is read back as that object.
func FuzzInventory(f *testing.F) {
	f.Add("_ballast-c-spot_karpenter.sh_NodePool\tv1\nteam_web_ballast.dev_WorkloadDistributionRule\tv1alpha1", "", "ballast-c", "karpenter.k8s.aws", "EC2NodeClass", "v1")
	f.Add("\t\n_\t\na_b_c_d_e\tv1\nns__g_K\tv1\n_x__Kind\t", "team-a", "web", "", "ConfigMap", "v1")
	f.Add("a_b_c_d\t\na_b_c_d\tv2\n__\x00_K\tv1", "ns", "name.with.dots", "ballast.dev", "ClusterPolicy", "v1alpha1")
	f.Fuzz(func(t *testing.T, raw, namespace, name, group, kind, version string) {
		// Whatever the status holds: an entry read is written back as it was, and
		// the inventory rebuilt from what was read reads the same.
		inv := &v1alpha1.ResourceInventory{}
		for line := range strings.SplitSeq(raw, "\n") {
			id, v, _ := strings.Cut(line, "\t")
			inv.Entries = append(inv.Entries, v1alpha1.ResourceRef{ID: id, Version: v})
		}
		refs := inventoryRefs(inv)
		for _, r := range refs {
			if r.Name == "" || r.GVK.Kind == "" || r.GVK.Version == "" {
				t.Fatalf("read an entry without a name, kind or version: %+v", r)
			}
			// An entry no object can have would fail every prune: it is skipped.
			if len(content.IsPathSegmentName(r.Name)) > 0 || r.Namespace != "" && len(validation.IsDNS1123Label(r.Namespace)) > 0 {
				t.Fatalf("read an entry no object can have: %+v", r)
			}
			e := r.entry()
			if !slices.Contains(inv.Entries, e) {
				t.Fatalf("read %+v from an inventory that has no entry %+v", r, e)
			}
		}
		rebuilt := inventory(refs)
		if !slices.IsSortedFunc(rebuilt.Entries, func(a, b v1alpha1.ResourceRef) int { return strings.Compare(a.ID, b.ID) }) {
			t.Fatalf("inventory not sorted: %v", rebuilt.Entries)
		}
		again := inventoryRefs(rebuilt)
		if len(again) != len(rebuilt.Entries) {
			t.Fatalf("the rebuilt inventory %v reads as %d refs", rebuilt.Entries, len(again))
		}
		if !slices.Equal(inventory(again).Entries, rebuilt.Entries) {
			t.Fatalf("the inventory changes when read and written again: %v, then %v", rebuilt.Entries, inventory(again).Entries)
		}

		// Any object Kubernetes accepts is read back as itself.
		if !validObject(namespace, name, group, kind, version) {
			return
		}
		r := ref{Namespace: namespace, Name: name, GVK: schema.GroupVersionKind{Group: group, Version: version, Kind: kind}}
		back := inventoryRefs(inventory([]ref{r}))
		if len(back) != 1 || back[0] != r {
			t.Fatalf("%+v is read back from its inventory entry %+v as %+v", r, r.entry(), back)
		}
	})
}

// validObject reports whether the API server would accept an object of this
// namespace, name, group, version and kind.
func validObject(namespace, name, group, kind, version string) bool {
	if namespace != "" && len(validation.IsDNS1123Label(namespace)) > 0 {
		return false
	}
	if group != "" && len(validation.IsDNS1123Subdomain(group)) > 0 {
		return false
	}
	if kind == "" || strings.ContainsFunc(kind, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9')
	}) {
		return false
	}
	return len(validation.IsDNS1123Subdomain(name)) == 0 && len(validation.IsDNS1123Label(version)) == 0
}
