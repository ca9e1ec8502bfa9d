// Command release builds the parts of a Ballast release that are more than copying
// files (hack/release.sh runs it for `make release`):
//
//	go run ./hack/release manifests --image ghcr.io/ballast-dev/ballast:0.1.0 > install.yaml
//	go run ./hack/release notes --version 0.1.0 > CHANGELOG.md
//
// manifests builds config/default with kustomize's library, as `kubectl apply -k`
// would, with the image set by kustomize's images transformer; the tree stays as it is.
// notes prints CHANGELOG.md's section for the version: `## [x.y.z]`, or `## [Unreleased]`
// titled as the version when the changelog has no section for it yet.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: release manifests --image IMAGE | notes --version VERSION")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	switch args[0] {
	case "manifests":
		image := fs.String("image", "", "the controller image, REPOSITORY:TAG")
		config := fs.String("config", "config", "the config directory holding default/")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		data, err := Manifests(*config, *image)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(data)
		return err
	case "notes":
		version := fs.String("version", "", "the release version, x.y.z")
		changelog := fs.String("changelog", "CHANGELOG.md", "the changelog")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		data, err := os.ReadFile(*changelog)
		if err != nil {
			return err
		}
		notes, unreleased, err := Notes(data, *version)
		if err != nil {
			return fmt.Errorf("%s: %w", *changelog, err)
		}
		if unreleased {
			fmt.Fprintf(os.Stderr, "release: %s has no [%s] section; the notes are its [Unreleased] section\n", *changelog, *version)
		}
		_, err = os.Stdout.Write(notes)
		return err
	}
	return fmt.Errorf("unknown command %q: write manifests or notes", args[0])
}
