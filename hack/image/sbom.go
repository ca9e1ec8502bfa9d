package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"runtime/debug"
	"strings"
	"time"
)

// The SBOM is an SPDX 2.3 JSON document made from the binary's Go build information: the
// binary itself (with its SHA-256), the Go standard library, every module linked into it
// (path, version, go.sum hash) and the module the CA certificates come from. Modules are
// named by package URL (pkg:golang/...), as SBOM scanners expect.

// spdxDocument is the part of SPDX 2.3 the SBOM uses.
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name                  string            `json:"name"`
	SPDXID                string            `json:"SPDXID"`
	VersionInfo           string            `json:"versionInfo,omitempty"`
	PackageFileName       string            `json:"packageFileName,omitempty"`
	PrimaryPackagePurpose string            `json:"primaryPackagePurpose,omitempty"`
	DownloadLocation      string            `json:"downloadLocation"`
	FilesAnalyzed         bool              `json:"filesAnalyzed"`
	SourceInfo            string            `json:"sourceInfo,omitempty"`
	LicenseConcluded      string            `json:"licenseConcluded"`
	LicenseDeclared       string            `json:"licenseDeclared"`
	CopyrightText         string            `json:"copyrightText"`
	Checksums             []spdxChecksum    `json:"checksums,omitempty"`
	ExternalRefs          []spdxExternalRef `json:"externalRefs,omitempty"`
}

type spdxChecksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
}

const noAssertion = "NOASSERTION"

// SBOM returns the SPDX JSON document of one platform's image.
func SBOM(opts Options, b Binary) ([]byte, error) {
	sum := sha256.Sum256(b.Data)
	docName := fmt.Sprintf("ballast-%s-%s", opts.Version, platformName(b.Platform))
	doc := spdxDocument{
		SPDXVersion: "SPDX-2.3",
		DataLicense: "CC0-1.0",
		SPDXID:      "SPDXRef-DOCUMENT",
		Name:        docName,
		// Unique per binary, and the same for the same binary.
		DocumentNamespace: fmt.Sprintf("%s/spdx/%s-%x", opts.Source, docName, sum),
		CreationInfo: spdxCreationInfo{
			Created:  opts.Created.UTC().Format(time.RFC3339),
			Creators: []string{"Organization: Ballast", "Tool: ballast-hack-image"},
		},
	}
	ids := spdxIDs{}
	binaryID := ids.make("Package-ballast")
	doc.Packages = append(doc.Packages, spdxPackage{
		Name:                  "ballast",
		SPDXID:                binaryID,
		VersionInfo:           opts.Version,
		PackageFileName:       Entrypoint,
		PrimaryPackagePurpose: "APPLICATION",
		DownloadLocation:      opts.Source,
		SourceInfo:            fmt.Sprintf("built from %s at commit %s by %s for %s", b.Info.Path, opts.Revision, b.Info.GoVersion, b.Platform),
		LicenseConcluded:      noAssertion,
		LicenseDeclared:       "Apache-2.0",
		CopyrightText:         noAssertion,
		Checksums:             []spdxChecksum{{Algorithm: "SHA256", ChecksumValue: hex.EncodeToString(sum[:])}},
		ExternalRefs:          []spdxExternalRef{purl(b.Info.Main.Path, opts.Version)},
	})
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", binaryID})

	add := func(m debug.Module, purpose, relationship, from string) error {
		pkg, err := modulePackage(ids, m, purpose)
		if err != nil {
			return err
		}
		doc.Packages = append(doc.Packages, pkg)
		doc.Relationships = append(doc.Relationships, spdxRelationship{from, relationship, pkg.SPDXID})
		return nil
	}
	goVersion := strings.TrimPrefix(b.Info.GoVersion, "go")
	if err := add(debug.Module{Path: "stdlib", Version: goVersion}, "LIBRARY", "DEPENDS_ON", binaryID); err != nil {
		return nil, err
	}
	for _, d := range b.Info.Deps {
		m := *d
		if d.Replace != nil {
			m = *d.Replace
		}
		if err := add(m, "LIBRARY", "DEPENDS_ON", binaryID); err != nil {
			return nil, err
		}
	}
	if err := add(caModuleVersion(), "FILE", "DESCRIBES", "SPDXRef-DOCUMENT"); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// modulePackage describes a Go module; its checksum is the go.sum hash (h1:, a SHA-256
// over the module's files) in hex, as SBOM tools write it.
func modulePackage(ids spdxIDs, m debug.Module, purpose string) (spdxPackage, error) {
	pkg := spdxPackage{
		Name:                  m.Path,
		SPDXID:                ids.make(strings.TrimSuffix("Package-"+m.Path+"-"+m.Version, "-")),
		VersionInfo:           m.Version,
		PrimaryPackagePurpose: purpose,
		DownloadLocation:      noAssertion,
		LicenseConcluded:      noAssertion,
		LicenseDeclared:       noAssertion,
		CopyrightText:         noAssertion,
		ExternalRefs:          []spdxExternalRef{purl(m.Path, m.Version)},
	}
	if m.Path != "stdlib" && m.Version != "" {
		pkg.DownloadLocation = "https://proxy.golang.org/" + m.Path + "/@v/" + m.Version + ".zip"
	}
	if h, ok := strings.CutPrefix(m.Sum, "h1:"); ok {
		raw, err := base64.StdEncoding.DecodeString(h)
		if err != nil || len(raw) != sha256.Size {
			return pkg, fmt.Errorf("module %s %s has a malformed hash %q", m.Path, m.Version, m.Sum)
		}
		pkg.Checksums = []spdxChecksum{{Algorithm: "SHA256", ChecksumValue: hex.EncodeToString(raw)}}
	}
	return pkg, nil
}

// purl is the package URL of a Go module (pkg:golang/<path>@<version>).
func purl(path, version string) spdxExternalRef {
	locator := "pkg:golang/" + path
	if version != "" {
		locator += "@" + strings.ReplaceAll(version, "+", "%2B")
	}
	return spdxExternalRef{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: locator}
}

// spdxIDs hands out unique SPDX identifiers (SPDXRef- and letters, digits, '.', '-').
type spdxIDs map[string]bool

var notIDChar = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func (ids spdxIDs) make(name string) string {
	base := "SPDXRef-" + notIDChar.ReplaceAllString(name, "-")
	id := base
	for n := 2; ids[id]; n++ {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	ids[id] = true
	return id
}
