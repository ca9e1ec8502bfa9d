package main

import (
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		_, _ = fmt.Fprintln(stderr, "usage: image [flags] os/arch=binary...")
		fs.PrintDefaults()
	}
	var opts Options
	var out, created string
	fs.StringVar(&out, "out", "dist/image", "directory to write the outputs to (its oci/ is replaced)")
	fs.StringVar(&opts.Repository, "image", DefaultRepository, "repository the image is tagged in")
	fs.StringVar(&opts.Version, "version", "", "version: the tag, and the org.opencontainers.image.version label")
	fs.StringVar(&opts.Revision, "revision", "", "commit the binaries were built from")
	fs.StringVar(&created, "created", "", "commit time in Unix seconds (SOURCE_DATE_EPOCH): every timestamp in the image")
	fs.StringVar(&opts.Source, "source", DefaultSource, "source repository URL")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := parseCreated(created, &opts); err != nil {
		_, _ = fmt.Fprintln(stderr, "image:", err)
		return 2
	}
	bins, err := readBinaries(fs.Args())
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "image:", err)
		return 2
	}
	img, err := Assemble(opts, bins)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "image:", err)
		return 1
	}
	outputs, err := img.Write(out)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "image:", err)
		return 1
	}
	for _, f := range outputs.Files() {
		_, _ = fmt.Fprintln(stderr, "wrote", f)
	}
	_, _ = fmt.Fprintf(stdout, "%s@%s\n", img.Reference(), outputs.Digest)
	return 0
}

func parseCreated(s string, opts *Options) error {
	if s == "" {
		return errors.New("-created is required: the commit time in Unix seconds")
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("-created %q is not Unix seconds: %w", s, err)
	}
	opts.Created = time.Unix(sec, 0).UTC()
	return nil
}

// readBinaries reads os/arch=path arguments, with each binary's Go build information.
func readBinaries(args []string) ([]Binary, error) {
	if len(args) == 0 {
		return nil, errors.New("no binaries: give os/arch=path for each platform")
	}
	var bins []Binary
	for _, a := range args {
		platform, path, ok := strings.Cut(a, "=")
		goos, arch, ok2 := strings.Cut(platform, "/")
		if !ok || !ok2 || goos == "" || arch == "" || path == "" {
			return nil, fmt.Errorf("%q is not os/arch=path", a)
		}
		data, err := os.ReadFile(path) //nolint:gosec // a binary named on the command line
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", path, err)
		}
		info, err := buildinfo.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("failed to read the Go build information of %s: %w", path, err)
		}
		bins = append(bins, Binary{Platform: v1.Platform{OS: goos, Architecture: arch}, Data: data, Info: info})
	}
	return bins, nil
}
