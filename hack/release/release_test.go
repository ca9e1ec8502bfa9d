package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
)

const changelog = `# Changelog

Intro.

## [Unreleased]

### Added
- Next thing.

## [1.2.0] - 2026-11-02

### Added
- A feature.

### Fixed
- A bug.

## [v1.1.0]

- Old.

[Unreleased]: https://github.com/ballast-dev/ballast/compare/v1.2.0...HEAD
[1.2.0]: https://github.com/ballast-dev/ballast/releases/tag/v1.2.0
`

func TestNotes(t *testing.T) {
	for _, tc := range []struct {
		name, changelog, version string
		want                     string
		unreleased               bool
		err                      string
	}{
		{name: "the version's section, heading as written", changelog: changelog, version: "1.2.0",
			want: "## [1.2.0] - 2026-11-02\n\n### Added\n- A feature.\n\n### Fixed\n- A bug.\n"},
		{name: "the last section, without the link definitions", changelog: changelog, version: "1.1.0",
			want: "## [v1.1.0]\n\n- Old.\n"},
		{name: "no section yet: Unreleased, titled as the version", changelog: changelog, version: "1.3.0",
			want: "## [1.3.0]\n\n### Added\n- Next thing.\n", unreleased: true},
		{name: "CRLF", changelog: strings.ReplaceAll(changelog, "\n", "\r\n"), version: "1.1.0",
			want: "## [v1.1.0]\n\n- Old.\n"},
		{name: "neither", changelog: "# Changelog\n\n## [1.0.0]\n- x\n", version: "2.0.0", err: "no [2.0.0] or [Unreleased] section"},
		{name: "empty", changelog: "# Changelog\n\n## [Unreleased]\n\n## [1.0.0]\n- x\n", version: "2.0.0", err: "empty"},
		{name: "a v prefix is not a version", changelog: changelog, version: "v1.2.0", err: "not x.y.z"},
		{name: "a pre-release is not a version", changelog: changelog, version: "1.2.0-rc.1", err: "not x.y.z"},
		{name: "a leading zero is not SemVer", changelog: changelog, version: "1.02.0", err: "not x.y.z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, unreleased, err := Notes([]byte(tc.changelog), tc.version)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want || unreleased != tc.unreleased {
				t.Errorf("got (unreleased %v)\n%s\nwant (unreleased %v)\n%s", unreleased, got, tc.unreleased, tc.want)
			}
		})
	}
}

// TestNotesOfThisChangelog: `make release` finds notes in the repository's changelog.
func TestNotesOfThisChangelog(t *testing.T) {
	data, err := os.ReadFile("../../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	notes, _, err := Notes(data, "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(notes, []byte("## [0.1.0]")) || bytes.Contains(notes, []byte("\n## ")) {
		t.Errorf("the notes are not one section for 0.1.0:\n%s", notes)
	}
}

func TestManifests(t *testing.T) {
	for _, image := range []string{
		"ghcr.io/ballast-dev/ballast:1.2.3",
		"registry.example.com:5000/mirror/ballast:1.2.3",
		"registry.example.com/ballast@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	} {
		t.Run(image, func(t *testing.T) {
			data, err := Manifests("../../config", image)
			if err != nil {
				t.Fatal(err)
			}
			objs := decode(t, data)
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.GetKind()]++
			}
			for kind, n := range map[string]int{"CustomResourceDefinition": 3, "Namespace": 1, "Deployment": 1,
				"MutatingWebhookConfiguration": 1, "ConfigMap": 1, "ServiceAccount": 1, "ClusterRole": 1} {
				if kinds[kind] != n {
					t.Errorf("%d %s, want %d (all: %v)", kinds[kind], kind, n, kinds)
				}
			}
			if first, last := objs[0].GetKind(), objs[len(objs)-1].GetKind(); first != "Namespace" || last != "MutatingWebhookConfiguration" {
				t.Errorf("objects from %s to %s, want the Namespace first and the webhook configuration last", first, last)
			}
			var images []string
			for _, o := range objs {
				containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
				for _, c := range containers {
					images = append(images, c.(map[string]any)["image"].(string))
				}
			}
			if len(images) != 1 || images[0] != image {
				t.Errorf("images %v, want only %s", images, image)
			}
			if bytes.Contains(data, []byte(":latest")) {
				t.Error("install.yaml still names a latest image")
			}
		})
	}
	if _, err := Manifests("../../config", "ghcr.io/ballast-dev/ballast"); err == nil {
		t.Error("an image without a tag was accepted")
	}
	if _, err := Manifests(t.TempDir(), "ghcr.io/ballast-dev/ballast:1.2.3"); err == nil {
		t.Error("a directory without default/ was accepted")
	}
}

func decode(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatal(err)
		}
		if m != nil {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
}
