package gogit

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/ballast-dev/ballast/gitsync"
)

// maxLinkHops bounds how many symbolic links one resolution follows, as the kernel's
// ELOOP does.
const maxLinkHops = 40

// checkLinks walks the work tree dir (its .git directory aside) and returns a
// *gitsync.LinkError for the first symbolic link that is absolute, loops, or whose resolution
// leaves dir at any step, following the links it meets on the way one path element
// at a time as the kernel would. Links that stay inside, even dangling ones, are fine.
func checkLinks(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" && filepath.Dir(p) == dir {
			return filepath.SkipDir
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if why := escapes(dir, path.Dir(rel), target); why != "" {
			// go-git writes an absolute target under the work tree (/etc/passwd as
			// <dir>/etc/passwd): show it as the repository holds it.
			if in, ok := strings.CutPrefix(target, dir+string(filepath.Separator)); ok {
				target = "/" + filepath.ToSlash(in)
			}
			return &gitsync.LinkError{Path: rel, Target: target, Why: why}
		}
		return nil
	})
}

// escapes resolves target, a link found in the directory from (slash-separated,
// relative to root, with no link in it), and says why it leaves root; "" when it
// stays inside.
func escapes(root, from, target string) string {
	var cur []string
	if from != "." {
		cur = strings.Split(from, "/")
	}
	pending := []string{target}
	hops := 0
	for len(pending) > 0 {
		t := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		if strings.HasPrefix(t, "/") || filepath.IsAbs(t) {
			return "is absolute"
		}
		elems := strings.Split(t, "/")
		for i, e := range elems {
			switch e {
			case "", ".":
				continue
			case "..":
				if len(cur) == 0 {
					return "leads out of the repository"
				}
				cur = cur[:len(cur)-1]
				continue
			}
			next := append(append([]string{}, cur...), e)
			fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(strings.Join(next, "/"))))
			if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				// A real directory or file, or nothing yet: go on lexically.
				cur = next
				continue
			}
			if hops++; hops > maxLinkHops {
				return "loops"
			}
			link, err := os.Readlink(filepath.Join(root, filepath.FromSlash(strings.Join(next, "/"))))
			if err != nil {
				return "cannot be read"
			}
			// Resolve the link from its directory, then the rest of this target.
			if rest := strings.Join(elems[i+1:], "/"); rest != "" {
				pending = append(pending, rest)
			}
			pending = append(pending, link)
			break
		}
	}
	return ""
}
